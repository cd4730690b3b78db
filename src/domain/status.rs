//! TikTok's order status: an open enum (TikTok adds values and spells `CANCEL` and `CANCELLED`
//! both), with the documented forward order and the rule that decides whether a status TikTok
//! reports may replace the one we hold.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    Unpaid,
    OnHold,
    AwaitingShipment,
    PartiallyShipping,
    AwaitingCollection,
    InTransit,
    Delivered,
    Completed,
    Cancelled,
    /// A value this build does not know; kept verbatim, never acted on.
    Unknown(Box<str>),
}

/// What replacing one status with another means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A documented forward move (possibly skipping statuses we never saw).
    Forward,
    /// The same status again.
    Same,
    /// Backwards: never applied.
    Regression,
    /// Out of COMPLETED or CANCELLED: never applied.
    FromTerminal,
    /// To or from a status this build does not know: never applied.
    Unknown,
}

impl OrderStatus {
    /// Every status this build knows: TikTok's forward path, then CANCELLED.
    pub const KNOWN: [OrderStatus; 9] = [
        Self::Unpaid,
        Self::OnHold,
        Self::AwaitingShipment,
        Self::PartiallyShipping,
        Self::AwaitingCollection,
        Self::InTransit,
        Self::Delivered,
        Self::Completed,
        Self::Cancelled,
    ];

    pub fn parse(raw: &str) -> Self {
        match raw.trim() {
            "UNPAID" => Self::Unpaid,
            "ON_HOLD" => Self::OnHold,
            "AWAITING_SHIPMENT" => Self::AwaitingShipment,
            "PARTIALLY_SHIPPING" => Self::PartiallyShipping,
            "AWAITING_COLLECTION" => Self::AwaitingCollection,
            "IN_TRANSIT" => Self::InTransit,
            "DELIVERED" => Self::Delivered,
            "COMPLETED" => Self::Completed,
            "CANCELLED" | "CANCEL" => Self::Cancelled,
            other => Self::Unknown(other.into()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Unpaid => "UNPAID",
            Self::OnHold => "ON_HOLD",
            Self::AwaitingShipment => "AWAITING_SHIPMENT",
            Self::PartiallyShipping => "PARTIALLY_SHIPPING",
            Self::AwaitingCollection => "AWAITING_COLLECTION",
            Self::InTransit => "IN_TRANSIT",
            Self::Delivered => "DELIVERED",
            Self::Completed => "COMPLETED",
            Self::Cancelled => "CANCELLED",
            Self::Unknown(raw) => raw,
        }
    }

    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled)
    }

    /// Whether a seller may ask TikTok to cancel: before the parcel is handed over (TikTok
    /// allows AWAITING_COLLECTION in the US only, and says so when it refuses).
    pub fn seller_may_cancel(&self) -> bool {
        matches!(
            self,
            Self::Unpaid
                | Self::OnHold
                | Self::AwaitingShipment
                | Self::PartiallyShipping
                | Self::AwaitingCollection
        )
    }

    /// Whether fulfilment may start: never for UNPAID or ON_HOLD.
    pub fn may_fulfil(&self) -> bool {
        matches!(self, Self::AwaitingShipment | Self::PartiallyShipping)
    }

    /// Whether a fulfilment under way may go on: paid and released (AWAITING_SHIPMENT) or
    /// further along (shipping, shipped, delivered, completed); not UNPAID, ON_HOLD, CANCELLED
    /// or a status we do not know.
    pub fn lets_fulfilment_go_on(&self) -> bool {
        !matches!(self, Self::Cancelled) && self.rank().is_some_and(|r| r >= 2)
    }

    /// Position on the forward path; CANCELLED and unknown values have none.
    pub(super) fn rank(&self) -> Option<u8> {
        Some(match self {
            Self::Unpaid => 0,
            Self::OnHold => 1,
            Self::AwaitingShipment => 2,
            Self::PartiallyShipping => 3,
            Self::AwaitingCollection => 4,
            Self::InTransit => 5,
            Self::Delivered => 6,
            Self::Completed => 7,
            Self::Cancelled | Self::Unknown(_) => return None,
        })
    }

    /// The transition table. Forward along UNPAID → … → COMPLETED (skips allowed: webhooks get
    /// lost); CANCELLED from anything up to IN_TRANSIT; nothing out of a terminal status.
    pub fn change_to(&self, next: &OrderStatus) -> Change {
        if self == next {
            return Change::Same;
        }
        if self.is_terminal() {
            return Change::FromTerminal;
        }
        match (self.rank(), next) {
            (None, _) | (_, Self::Unknown(_)) => Change::Unknown,
            (Some(from), Self::Cancelled) if from <= 5 => Change::Forward,
            (Some(_), Self::Cancelled) => Change::Regression,
            (Some(from), next) => match next.rank() {
                Some(to) if to > from => Change::Forward,
                _ => Change::Regression,
            },
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use proptest::prelude::*;

    use super::*;

    pub fn any_status() -> impl Strategy<Value = OrderStatus> {
        prop_oneof![
            Just(OrderStatus::Unpaid),
            Just(OrderStatus::OnHold),
            Just(OrderStatus::AwaitingShipment),
            Just(OrderStatus::PartiallyShipping),
            Just(OrderStatus::AwaitingCollection),
            Just(OrderStatus::InTransit),
            Just(OrderStatus::Delivered),
            Just(OrderStatus::Completed),
            Just(OrderStatus::Cancelled),
            Just(OrderStatus::Unknown("REFUNDED_SOMEHOW".into())),
        ]
    }

    #[test]
    fn cancel_and_cancelled_are_the_same_status() {
        assert_eq!(OrderStatus::parse("CANCEL"), OrderStatus::Cancelled);
        assert_eq!(OrderStatus::parse("CANCELLED"), OrderStatus::Cancelled);
        assert_eq!(OrderStatus::Cancelled.as_str(), "CANCELLED");
    }

    #[test]
    fn unknown_statuses_are_kept_verbatim() {
        let s = OrderStatus::parse("SOMETHING_NEW");
        assert_eq!(s.as_str(), "SOMETHING_NEW");
        assert_eq!(OrderStatus::Unpaid.change_to(&s), Change::Unknown);
    }

    #[test]
    fn the_documented_edges_are_forward() {
        use OrderStatus::*;
        for (from, to) in [
            (Unpaid, OnHold),
            (OnHold, AwaitingShipment),
            (Unpaid, AwaitingShipment),
            (AwaitingShipment, PartiallyShipping),
            (AwaitingShipment, AwaitingCollection),
            (AwaitingCollection, InTransit),
            (InTransit, Delivered),
            (Delivered, Completed),
            (AwaitingCollection, Completed),
            (Unpaid, Cancelled),
            (InTransit, Cancelled),
        ] {
            assert_eq!(from.change_to(&to), Change::Forward, "{from} -> {to}");
        }
        assert_eq!(Delivered.change_to(&Cancelled), Change::Regression);
        assert_eq!(InTransit.change_to(&AwaitingShipment), Change::Regression);
        assert_eq!(Cancelled.change_to(&AwaitingShipment), Change::FromTerminal);
        assert_eq!(Completed.change_to(&Cancelled), Change::FromTerminal);
    }

    #[test]
    fn unpaid_and_on_hold_orders_are_never_fulfilled() {
        assert!(!OrderStatus::Unpaid.may_fulfil());
        assert!(!OrderStatus::OnHold.may_fulfil());
        assert!(OrderStatus::AwaitingShipment.may_fulfil());
    }
}
