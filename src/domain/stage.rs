//! Our own fulfilment stage: what we are doing about an order, as opposed to what TikTok says.

use std::fmt;

use super::Invalid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    Received,
    Validated,
    StockReserved,
    LabelPurchased,
    Shipped,
    InTransit,
    Delivered,
    Completed,
    /// Held by a person or a rule; the reason is on the order.
    OnHold,
    Cancelled,
    /// Something is wrong (validation, exhausted retries); the reason is on the order.
    Exception,
}

impl Stage {
    pub const ALL: [Stage; 11] = [
        Stage::Received,
        Stage::Validated,
        Stage::StockReserved,
        Stage::LabelPurchased,
        Stage::Shipped,
        Stage::InTransit,
        Stage::Delivered,
        Stage::Completed,
        Stage::OnHold,
        Stage::Cancelled,
        Stage::Exception,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Stage::Received => "received",
            Stage::Validated => "validated",
            Stage::StockReserved => "stock_reserved",
            Stage::LabelPurchased => "label_purchased",
            Stage::Shipped => "shipped",
            Stage::InTransit => "in_transit",
            Stage::Delivered => "delivered",
            Stage::Completed => "completed",
            Stage::OnHold => "on_hold",
            Stage::Cancelled => "cancelled",
            Stage::Exception => "exception",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| Invalid::new("stage", format!("unknown stage {raw:?}")))
    }

    pub fn is_terminal(&self) -> bool {
        matches!(self, Stage::Completed | Stage::Cancelled)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_round_trips_through_its_name() {
        for stage in Stage::ALL {
            assert_eq!(Stage::parse(stage.as_str()).unwrap(), stage);
        }
        assert!(Stage::parse("shipping").is_err());
    }
}
