//! The buyer's requests after a sale: cancellations and returns (or replacements) as TikTok
//! reports them, which of them wait for the seller, and what each says in words.

use serde::{Deserialize, Serialize};

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

    /// Why the order's parcel must not leave while this request waits for the seller (a
    /// packer's hold reason, a shipping step's refusal); none once it is answered or withdrawn.
    pub fn stops_shipping(&self) -> Option<String> {
        self.awaits_seller().then(|| {
            format!(
                "{} ({}): answer it before shipping",
                self.summary(),
                self.status
            )
        })
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

/// The seller's answer to a request that waits for them, as TikTok's Approve/Reject
/// Cancellation and Approve/Reject Return take it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub kind: AfterSaleKind,
    /// `cancel_id` or `return_id`.
    pub request: String,
    pub approve: bool,
    /// TikTok's decision, for a return: `APPROVE_REFUND`, `REJECT_RECEIVED_PACKAGE`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    /// TikTok's reject reason code; every rejection gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Answer {
    /// The key TikTok dedupes the call by: the same answer to the same request at the same
    /// step, however often it is sent (after a timeout, or by a second click).
    pub fn idempotency_key(&self) -> String {
        let verb = if self.approve { "APPROVE" } else { "REJECT" };
        let decision = self.decision.as_deref().unwrap_or(verb);
        format!(
            "creatorflow-{}-{}-{decision}",
            self.kind.as_str(),
            self.request
        )
    }

    /// What the seller did, in words.
    pub fn summary(&self) -> String {
        let verb = if self.approve { "Approved" } else { "Rejected" };
        let what = match (self.kind, self.decision.as_deref()) {
            (AfterSaleKind::Cancellation, _) => "cancellation request",
            (_, Some(d)) if d.ends_with("RECEIVED_PACKAGE") => "returned parcel",
            (_, Some(d)) if d.ends_with("REFUND") => "refund request",
            (_, Some(d)) if d.ends_with("REPLACEMENT") => "replacement request",
            _ => "return request",
        };
        match &self.reason {
            Some(reason) => format!("{verb} the buyer's {what} {} ({reason})", self.request),
            None => format!("{verb} the buyer's {what} {}", self.request),
        }
    }
}

impl AfterSale {
    /// The seller's answer to this request: approve, or reject for `reason` (TikTok's code,
    /// which a rejection needs). Refused, saying why, unless TikTok waits for the seller.
    pub fn answer(&self, approve: bool, reason: Option<String>) -> Result<Answer, String> {
        if !self.awaits_seller() {
            return Err(format!(
                "request {} is {}: TikTok waits for no answer to it",
                self.id, self.status
            ));
        }
        let reason = if approve { None } else { reason };
        if !approve && reason.is_none() {
            return Err("a rejection needs TikTok's reject reason".into());
        }
        let decision = match self.kind {
            AfterSaleKind::Cancellation => None,
            AfterSaleKind::Return => {
                let what = match (self.status.as_str(), self.return_type.as_deref()) {
                    ("BUYER_SHIPPED_ITEM", _) => "RECEIVED_PACKAGE",
                    ("REPLACEMENT_REQUEST_PENDING", _) | (_, Some("REPLACEMENT")) => "REPLACEMENT",
                    (_, Some("REFUND")) => "REFUND",
                    _ => "RETURN",
                };
                let verb = if approve { "APPROVE" } else { "REJECT" };
                Some(format!("{verb}_{what}"))
            }
        };
        Ok(Answer {
            kind: self.kind,
            request: self.id.clone(),
            approve,
            decision,
            reason,
        })
    }
}

/// A reason TikTok lets the seller reject a request for, as Get Reject Reasons lists it for the
/// request where it stands: the code an answer gives, and its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectReason {
    pub name: String,
    pub text: String,
}

impl Answer {
    /// Whether this answer's reason is one of `offered` (TikTok's reasons for the request); an
    /// approval, or a request TikTok listed no reason for, passes. Else what is wrong, with the
    /// reasons to choose from.
    pub fn check_reason(&self, offered: &[RejectReason]) -> Result<(), String> {
        let Some(reason) = self.reason.as_deref() else {
            return Ok(());
        };
        if offered.is_empty() || offered.iter().any(|r| r.name == reason) {
            return Ok(());
        }
        let choices: Vec<String> = offered
            .iter()
            .map(|r| format!("{} ({})", r.name, r.text))
            .collect();
        Err(format!(
            "TikTok takes no reject reason {reason} for request {}; it offers {}",
            self.request,
            choices.join(", ")
        ))
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

    #[test]
    fn an_answer_names_the_decision_that_fits_the_request_and_where_it_stands() {
        let cancel = update(
            AfterSaleKind::Cancellation,
            "c1",
            "CANCELLATION_REQUEST_PENDING",
            10,
        );
        let approved = cancel.answer(true, Some("ignored".into())).unwrap();
        assert_eq!((approved.decision, approved.reason), (None, None));
        assert_eq!(
            cancel.answer(false, None).unwrap_err(),
            "a rejection needs TikTok's reject reason"
        );
        let rejected = cancel.answer(false, Some("packed".into())).unwrap();
        assert_eq!(
            rejected.summary(),
            "Rejected the buyer's cancellation request c1 (packed)"
        );
        assert_eq!(
            rejected.idempotency_key(),
            "creatorflow-cancellation-c1-REJECT"
        );

        let refund = update(
            AfterSaleKind::Return,
            "r1",
            "RETURN_OR_REFUND_REQUEST_PENDING",
            10,
        );
        let decision =
            |r: &AfterSale, approve| r.answer(approve, Some("x".into())).unwrap().decision;
        assert_eq!(decision(&refund, true).as_deref(), Some("APPROVE_REFUND"));
        let goods = AfterSale {
            return_type: Some("RETURN_AND_REFUND".into()),
            ..refund.clone()
        };
        assert_eq!(decision(&goods, false).as_deref(), Some("REJECT_RETURN"));
        let back = AfterSale {
            status: "BUYER_SHIPPED_ITEM".into(),
            ..goods.clone()
        };
        assert_eq!(
            decision(&back, true).as_deref(),
            Some("APPROVE_RECEIVED_PACKAGE")
        );
        assert_eq!(
            back.answer(true, None).unwrap().summary(),
            "Approved the buyer's returned parcel r1"
        );
        let swap = update(
            AfterSaleKind::Return,
            "r2",
            "REPLACEMENT_REQUEST_PENDING",
            10,
        );
        assert_eq!(
            decision(&swap, true).as_deref(),
            Some("APPROVE_REPLACEMENT")
        );
        // Answered already (or withdrawn): nothing to answer.
        let done = AfterSale {
            status: "AWAITING_BUYER_SHIP".into(),
            ..goods
        };
        assert!(
            done.answer(true, None)
                .unwrap_err()
                .contains("AWAITING_BUYER_SHIP")
        );
    }

    #[test]
    fn a_rejection_gives_one_of_the_reasons_tiktok_offers_for_the_request() {
        let asked = update(
            AfterSaleKind::Cancellation,
            "c1",
            "CANCELLATION_REQUEST_PENDING",
            10,
        );
        let offered = [
            RejectReason {
                name: "packed".into(),
                text: "The parcel is packed".into(),
            },
            RejectReason {
                name: "kept".into(),
                text: "The buyer keeps it".into(),
            },
        ];
        let reject = |reason: &str| asked.answer(false, Some(reason.into())).unwrap();
        assert_eq!(reject("kept").check_reason(&offered), Ok(()));
        assert_eq!(
            reject("whim").check_reason(&offered),
            Err(
                "TikTok takes no reject reason whim for request c1; it offers packed (The parcel \
                 is packed), kept (The buyer keeps it)"
                    .into()
            )
        );
        // Nothing to check against, or nothing to check: TikTok judges.
        assert_eq!(reject("whim").check_reason(&[]), Ok(()));
        assert_eq!(
            asked.answer(true, None).unwrap().check_reason(&offered),
            Ok(())
        );
    }
}
