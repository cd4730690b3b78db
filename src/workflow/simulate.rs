//! Dry run: which stored orders a template would take, and which of its steps would run for each.
//! Pure: evaluates the rules and conditions against facts, touches nothing.

use serde::Serialize;

use super::{Catalog, Facts};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Match {
    pub order_id: String,
    pub status: String,
    pub stage: String,
    pub steps: Vec<PlannedStep>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlannedStep {
    pub step: String,
    pub action: &'static str,
    /// Whether the step would run (its condition holds, or it has none).
    pub runs: bool,
    /// Why not, or why it could not be decided.
    pub note: Option<String>,
}

/// The orders among `facts` that the rules would give to `template`, with their plans.
pub fn simulate<'a>(
    catalog: &Catalog,
    flag_on: &dyn Fn(&str, &str) -> bool,
    template: &str,
    facts: impl IntoIterator<Item = &'a Facts>,
) -> Vec<Match> {
    let Some(chosen) = catalog.template(template) else {
        return Vec::new();
    };
    facts
        .into_iter()
        .filter(|f| matches!(catalog.choose(f, flag_on), Ok(Some(t)) if t.name == chosen.name))
        .map(|f| Match {
            order_id: f.id.clone(),
            status: f.status.clone(),
            stage: f.stage.clone(),
            steps: chosen
                .steps
                .iter()
                .map(|step| {
                    let (runs, note) = match &step.when {
                        None => (true, None),
                        Some(when) => match when.holds(f, catalog.vars()) {
                            Ok(true) => (true, None),
                            Ok(false) => (false, Some(format!("`{}` is false", when.source()))),
                            Err(e) => (false, Some(e.to_string())),
                        },
                    };
                    PlannedStep {
                        step: step.name.clone(),
                        action: step.action.kind(),
                        runs,
                        note,
                    }
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_orders_the_rules_give_the_template_are_listed_with_their_plan() {
        let catalog = Catalog::built_in().unwrap();
        let order = |id: &str, total_minor: i64, stage: &str| Facts {
            id: id.into(),
            total_minor,
            stage: stage.into(),
            order_type: "NORMAL".into(),
            ..Facts::default()
        };
        let orders = [
            order("small", 2_000, "validated"),
            order("big", 90_000, "validated"),
            order("odd", 1_000, "exception"),
        ];
        let matched = simulate(&catalog, &|_, _| false, "standard", &orders);
        let ids: Vec<&str> = matched.iter().map(|m| m.order_id.as_str()).collect();
        assert_eq!(ids, ["small", "odd"]);
        assert!(!matched[0].steps[0].runs, "no hold for a sound order");
        assert!(
            matched[1].steps[0].runs,
            "an exception is held for a person"
        );
        assert_eq!(matched[0].steps.iter().filter(|s| s.runs).count(), 4);
        assert!(simulate(&catalog, &|_, _| false, "nope", &orders).is_empty());
    }
}
