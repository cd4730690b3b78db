//! TikTok's deadlines for an order (its SLA times in the detail) and whether each is missed: a
//! deadline is missed once it has passed and TikTok's status has not reached its milestone.

use super::{Detail, OrderStatus};

/// What a deadline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Milestone {
    /// `rts_sla_time`: the seller marks the order ready to ship (TikTok: AWAITING_COLLECTION).
    ReadyToShip,
    /// `tts_sla_time`: the carrier has the parcel (IN_TRANSIT).
    Collected,
    /// `delivery_sla_time`: the buyer has it (DELIVERED).
    Delivered,
}

impl Milestone {
    pub fn label(&self) -> &'static str {
        match self {
            Milestone::ReadyToShip => "Ready to ship by",
            Milestone::Collected => "Collected by",
            Milestone::Delivered => "Delivered by",
        }
    }

    /// The first status on TikTok's forward path that reaches this milestone.
    fn status(&self) -> OrderStatus {
        match self {
            Milestone::ReadyToShip => OrderStatus::AwaitingCollection,
            Milestone::Collected => OrderStatus::InTransit,
            Milestone::Delivered => OrderStatus::Delivered,
        }
    }

    /// Whether an order at `status` has reached this milestone. A cancelled order owes nothing,
    /// and one at a status this build does not know is not judged.
    pub fn reached(&self, status: &OrderStatus) -> bool {
        match (status.rank(), self.status().rank()) {
            (Some(at), Some(needed)) => at >= needed,
            _ => true,
        }
    }

    /// The statuses this build knows at which the milestone is not reached yet: where a
    /// passed deadline is missed (what a store's query for missed deadlines asks for).
    pub fn short_of(&self) -> impl Iterator<Item = OrderStatus> + '_ {
        OrderStatus::KNOWN
            .into_iter()
            .filter(|status| !self.reached(status))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    pub milestone: Milestone,
    /// Unix seconds.
    pub at: i64,
}

impl Deadline {
    /// Passed at `now` (unix seconds) with its milestone not reached at `status`.
    pub fn missed(&self, status: &OrderStatus, now: i64) -> bool {
        now > self.at && !self.milestone.reached(status)
    }
}

impl Detail {
    /// The deadlines TikTok set, in the order they fall due.
    pub fn deadlines(&self) -> Vec<Deadline> {
        [
            (Milestone::ReadyToShip, self.rts_sla_time),
            (Milestone::Collected, self.tts_sla_time),
            (Milestone::Delivered, self.delivery_sla_time),
        ]
        .into_iter()
        .filter_map(|(milestone, at)| Some(Deadline { milestone, at: at? }))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUE: i64 = 1_700_000_000;

    fn ship_by() -> Deadline {
        Deadline {
            milestone: Milestone::ReadyToShip,
            at: DUE,
        }
    }

    #[test]
    fn a_deadline_is_missed_once_passed_short_of_its_milestone() {
        let waiting = OrderStatus::AwaitingShipment;
        assert!(!ship_by().missed(&waiting, DUE - 1), "not yet due");
        assert!(!ship_by().missed(&waiting, DUE), "due this second");
        assert!(ship_by().missed(&waiting, DUE + 1));
        assert!(ship_by().missed(&OrderStatus::PartiallyShipping, DUE + 1));
        for done in [
            OrderStatus::AwaitingCollection,
            OrderStatus::InTransit,
            OrderStatus::Completed,
        ] {
            assert!(!ship_by().missed(&done, DUE + 1), "{done}");
        }
    }

    #[test]
    fn a_detail_has_the_deadlines_tiktok_set_in_the_order_they_fall_due() {
        let mut detail =
            crate::domain::detail::tests::sound_detail(OrderStatus::AwaitingShipment, DUE);
        detail.delivery_sla_time = Some(DUE + 5 * 86_400);
        let due: Vec<(Milestone, i64)> = detail
            .deadlines()
            .into_iter()
            .map(|d| (d.milestone, d.at))
            .collect();
        assert_eq!(
            due,
            [
                (Milestone::ReadyToShip, DUE + 86_400),
                (Milestone::Delivered, DUE + 5 * 86_400)
            ],
            "no collection deadline was set"
        );
    }

    #[test]
    fn a_cancelled_order_or_an_unknown_status_misses_nothing() {
        let deliver_by = Deadline {
            milestone: Milestone::Delivered,
            at: DUE,
        };
        assert!(deliver_by.missed(&OrderStatus::InTransit, DUE + 1));
        assert!(!deliver_by.missed(&OrderStatus::Cancelled, DUE + 1));
        assert!(!deliver_by.missed(&OrderStatus::parse("LOST_AT_SEA"), DUE + 1));
    }
}
