//! The buyer's requests after a sale: cancellations and returns (or replacements) as TikTok
//! reports them, which of them wait for the seller, and what each says in words.

use super::{AfterSale, AfterSaleKind};

/// The request statuses in which TikTok waits for the seller: a cancellation, a return or a
/// replacement asked for and not yet answered, and a returned parcel on its way back, which the
/// seller receives and then refunds or disputes (`../shared/reference/tiktok-shop.md`, topics 11
/// and 12). An order with one is not to be packed as if nothing had happened.
pub const AWAITING_SELLER: [&str; 4] = [
    "CANCELLATION_REQUEST_PENDING",
    "RETURN_OR_REFUND_REQUEST_PENDING",
    "REPLACEMENT_REQUEST_PENDING",
    "BUYER_SHIPPED_ITEM",
];

impl AfterSale {
    /// Whether TikTok waits for the seller to answer this request.
    pub fn awaits_seller(&self) -> bool {
        AWAITING_SELLER.contains(&self.status.as_str())
    }

    /// What the request asks of the seller, in words.
    pub fn summary(&self) -> String {
        let who = match self.role.as_deref() {
            Some("SELLER") => "The seller",
            Some("SYSTEM") | Some("PLATFORM") => "TikTok",
            _ => "The buyer",
        };
        match (self.kind, self.status.as_str()) {
            (AfterSaleKind::Return, "BUYER_SHIPPED_ITEM") => {
                "The buyer shipped the item back: receive it, then refund or dispute".to_owned()
            }
            (AfterSaleKind::Cancellation, _) => format!("{who} asked to cancel"),
            (AfterSaleKind::Return, _) => match self.return_type.as_deref() {
                Some("REFUND") => format!("{who} asked for a refund"),
                Some("REPLACEMENT") => format!("{who} asked for a replacement"),
                _ => format!("{who} asked to return the item for a refund"),
            },
        }
    }
}

/// Each request's newest report among `updates` (by TikTok's time; of two with the same time,
/// the later one), in the order the requests were first reported.
pub fn latest(updates: impl IntoIterator<Item = AfterSale>) -> Vec<AfterSale> {
    let mut latest: Vec<AfterSale> = Vec::new();
    for update in updates {
        match latest
            .iter_mut()
            .find(|r| r.kind == update.kind && r.id == update.id)
        {
            Some(kept) if kept.time <= update.time => *kept = update,
            Some(_) => {}
            None => latest.push(update),
        }
    }
    latest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(kind: AfterSaleKind, id: &str, status: &str, time: i64) -> AfterSale {
        AfterSale {
            kind,
            id: id.into(),
            status: status.into(),
            role: Some("BUYER".into()),
            return_type: (kind == AfterSaleKind::Return).then(|| "REFUND".into()),
            time,
        }
    }

    #[test]
    fn the_newest_report_of_each_request_decides_whether_it_waits_for_the_seller() {
        let requests = latest([
            update(
                AfterSaleKind::Cancellation,
                "c1",
                "CANCELLATION_REQUEST_PENDING",
                10,
            ),
            update(
                AfterSaleKind::Return,
                "r1",
                "RETURN_OR_REFUND_REQUEST_PENDING",
                20,
            ),
            update(
                AfterSaleKind::Cancellation,
                "c1",
                "CANCELLATION_REQUEST_CANCELLED",
                30,
            ),
            // Late, older than the report kept: ignored.
            update(AfterSaleKind::Return, "r1", "AWAITING_BUYER_SHIP", 15),
        ]);
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].status, "CANCELLATION_REQUEST_CANCELLED");
        assert!(!requests[0].awaits_seller());
        assert_eq!(requests[1].status, "RETURN_OR_REFUND_REQUEST_PENDING");
        assert!(requests[1].awaits_seller());
        assert_eq!(requests[1].summary(), "The buyer asked for a refund");
        assert_eq!(requests[0].summary(), "The buyer asked to cancel");
        let back = update(AfterSaleKind::Return, "r2", "BUYER_SHIPPED_ITEM", 40);
        assert!(back.awaits_seller());
        assert!(
            back.summary()
                .starts_with("The buyer shipped the item back")
        );
    }
}
