//! Bounds on a request, checked before anything runs, and the codes of requests refused as
//! malformed. The cost of a document is computed at validation: each field costs 1, and a
//! connection costs its page size times what each of its nodes asks for, so
//! `orders(first: 100) { nodes { id } }` costs about 200. The cost is reported in every
//! response's `extensions.cost` (as Shopify reports its own).

use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Response, ServerError, ServerResult, ValidationResult, Variables, value};

/// The most a document may cost.
pub const MAX_COST: usize = 10_000;

/// Code of a document that cannot be parsed.
const PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
/// Code of a document that does not fit the schema, or asks too much.
const VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
/// Code of an error no other code was given: a bad argument.
const BAD_REQUEST: &str = "BAD_REQUEST";

/// What a connection field costs: its page size (`first` or `last`, 10 by default) times what
/// each node asks for, plus itself.
pub fn page(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    let size = first.or(last).unwrap_or(10).clamp(0, super::MAX_PAGE);
    usize::try_from(size).unwrap_or(0) * child_complexity + 1
}

pub struct Limits;

impl ExtensionFactory for Limits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Cost::default())
    }
}

/// One request's cost, once validation has computed it.
#[derive(Default)]
struct Cost(Mutex<Option<usize>>);

fn coded(mut errors: Vec<ServerError>, code: &str) -> Vec<ServerError> {
    for error in &mut errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", code);
        }
    }
    errors
}

#[async_trait::async_trait]
impl Extension for Cost {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        response.errors = coded(std::mem::take(&mut response.errors), BAD_REQUEST);
        let requested = self.0.lock().map(|cost| *cost).unwrap_or_default();
        response.extension(
            "cost",
            value!({
                "requestedQueryCost": requested,
                "maximumAvailable": MAX_COST,
            }),
        )
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables).await.map_err(|error| {
            coded(vec![error], PARSE_FAILED)
                .pop()
                .expect("one error in, one out")
        })
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next
            .run(ctx)
            .await
            .map_err(|errors| coded(errors, VALIDATION_FAILED))?;
        if let Ok(mut cost) = self.0.lock() {
            *cost = Some(result.complexity);
        }
        if result.complexity > MAX_COST {
            let error = ServerError::new(
                format!(
                    "this query costs {}, more than the {MAX_COST} one query may; ask for \
                     smaller pages (first/last) or fewer nested connections",
                    result.complexity
                ),
                None,
            );
            return Err(coded(vec![error], "MAX_COST_EXCEEDED"));
        }
        Ok(result)
    }
}
