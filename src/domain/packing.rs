//! What goes in a parcel. A packing slip lists an order's items one line per SKU with its units
//! (TikTok sends a line item per unit) and no prices: the slip travels in the parcel, and a
//! parcel may be a gift. A pick list sums the lines of many slips per SKU, for whoever gathers
//! the stock before the parcels are packed. And an order that must not leave yet says why.

use super::{AfterSale, LineItem, OrderStatus, Sku, Stage};

/// Why an order whose detail TikTok has not sent cannot be packed.
pub const NO_DETAIL: &str = "TikTok has not sent this order's detail yet (the address and the items): fetch it before packing";

/// One line of a slip or a pick list: a SKU and how many units of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackLine {
    pub sku: Sku,
    /// The seller's own code for the SKU, when TikTok has one.
    pub seller_sku: Option<String>,
    /// The product and its variant ("Hoodie · Black, M").
    pub product: String,
    pub units: u32,
}

impl PackLine {
    fn of(item: &LineItem) -> Self {
        Self {
            sku: item.sku.clone(),
            seller_sku: item.seller_sku.clone().filter(|s| !s.trim().is_empty()),
            product: item.product_label(),
            units: 1,
        }
    }

    /// The code a picker looks for on the shelf: the seller's own, else TikTok's SKU id.
    pub fn code(&self) -> &str {
        self.seller_sku.as_deref().unwrap_or(self.sku.as_str())
    }
}

/// An order's items as the lines of its slip: one per SKU, in the order TikTok listed them.
pub fn slip_lines(items: &[LineItem]) -> Vec<PackLine> {
    let mut lines: Vec<PackLine> = Vec::new();
    for item in items {
        match lines.iter_mut().find(|line| line.sku == item.sku) {
            Some(line) => line.units += 1,
            None => lines.push(PackLine::of(item)),
        }
    }
    lines
}

/// The units of every SKU over many slips, sorted by the code a picker looks for.
pub fn pick_list<'a>(slips: impl IntoIterator<Item = &'a [PackLine]>) -> Vec<PackLine> {
    let mut picks: Vec<PackLine> = Vec::new();
    for line in slips.into_iter().flatten() {
        match picks.iter_mut().find(|pick| pick.sku == line.sku) {
            Some(pick) => pick.units += line.units,
            None => picks.push(line.clone()),
        }
    }
    picks.sort_by(|a, b| (a.code(), &a.sku).cmp(&(b.code(), &b.sku)));
    picks
}

/// Why an order's parcel must not leave now, if it must not: cancelled, unpaid, in TikTok's
/// cancellation window, a buyer's `request` TikTok waits for the seller to answer (a
/// cancellation asked for, say), held (with the hold's reason), needing attention, already
/// shipped, or not known yet (TikTok has not sent its detail: no address, no items).
pub fn hold_back(
    status: &OrderStatus,
    stage: Stage,
    reason: Option<&str>,
    detail_known: bool,
    request: Option<&AfterSale>,
) -> Option<String> {
    let because = |what: &str| match reason.map(str::trim).filter(|r| !r.is_empty()) {
        Some(reason) => format!("{what} ({reason})"),
        None => what.to_owned(),
    };
    Some(match (status, stage) {
        (OrderStatus::Cancelled, _) | (_, Stage::Cancelled) => "Cancelled: do not ship".into(),
        (OrderStatus::Unpaid, _) => "Not paid yet: do not ship".into(),
        (OrderStatus::OnHold, _) => {
            "In TikTok's cancellation window (ON_HOLD): do not ship yet".into()
        }
        _ if let Some(stop) = request.and_then(AfterSale::stops_shipping) => stop,
        (_, Stage::OnHold) => because("On hold: do not ship yet"),
        (_, Stage::Exception) => because("Needs attention: check the order before shipping"),
        (OrderStatus::InTransit | OrderStatus::Delivered | OrderStatus::Completed, _) => {
            format!("Already shipped ({status})")
        }
        _ if !detail_known => NO_DETAIL.into(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, sku: &str, seller_sku: Option<&str>, variant: &str) -> LineItem {
        LineItem {
            id: id.into(),
            sku: Sku::parse(sku).unwrap(),
            product_id: None,
            product_name: Some("Hoodie".into()),
            sku_name: Some(variant.into()),
            seller_sku: seller_sku.map(Into::into),
            sale_price: None,
            original_price: None,
            display_status: None,
            package_id: None,
        }
    }

    #[test]
    fn a_slip_has_a_line_per_sku_with_its_units_in_tiktoks_order() {
        let items = [
            item("1", "B-1", Some("HOOD-BLK-M"), "Black, M"),
            item("2", "A-1", None, "Grey, S"),
            item("3", "B-1", Some("HOOD-BLK-M"), "Black, M"),
        ];
        let lines = slip_lines(&items);
        let got: Vec<_> = lines
            .iter()
            .map(|l| (l.code(), l.product.as_str(), l.units))
            .collect();
        assert_eq!(
            got,
            [
                ("HOOD-BLK-M", "Hoodie · Black, M", 2),
                ("A-1", "Hoodie · Grey, S", 1)
            ]
        );
    }

    #[test]
    fn a_pick_list_sums_each_sku_over_the_slips_sorted_by_the_code_on_the_shelf() {
        let one = slip_lines(&[
            item("1", "B-1", Some("HOOD-BLK-M"), "Black, M"),
            item("2", "A-1", None, "Grey, S"),
        ]);
        let two = slip_lines(&[
            item("1", "B-1", Some("HOOD-BLK-M"), "Black, M"),
            item("2", "B-1", Some("HOOD-BLK-M"), "Black, M"),
            item("3", "C-1", Some(" "), "White, L"),
        ]);
        let picks = pick_list([one.as_slice(), two.as_slice()]);
        let got: Vec<_> = picks.iter().map(|l| (l.code(), l.units)).collect();
        assert_eq!(got, [("A-1", 1), ("C-1", 1), ("HOOD-BLK-M", 3)]);
    }

    #[test]
    fn an_order_that_must_not_leave_says_why() {
        let ready = OrderStatus::AwaitingShipment;
        assert_eq!(
            hold_back(&ready, Stage::StockReserved, None, true, None),
            None
        );
        assert_eq!(
            hold_back(
                &OrderStatus::AwaitingCollection,
                Stage::LabelPurchased,
                None,
                true,
                None
            ),
            None
        );
        assert_eq!(
            hold_back(&ready, Stage::OnHold, Some("address check"), true, None).as_deref(),
            Some("On hold: do not ship yet (address check)")
        );
        assert_eq!(
            hold_back(&OrderStatus::Cancelled, Stage::Cancelled, None, false, None).as_deref(),
            Some("Cancelled: do not ship")
        );
        assert!(
            hold_back(&OrderStatus::OnHold, Stage::Validated, None, true, None)
                .unwrap()
                .contains("cancellation window")
        );
        assert!(
            hold_back(&OrderStatus::Unpaid, Stage::Received, None, false, None)
                .unwrap()
                .contains("Not paid")
        );
        assert_eq!(
            hold_back(&OrderStatus::InTransit, Stage::InTransit, None, true, None).as_deref(),
            Some("Already shipped (IN_TRANSIT)")
        );
        assert!(
            hold_back(&ready, Stage::Exception, Some("no stock"), true, None)
                .unwrap()
                .ends_with("(no stock)")
        );
        assert_eq!(
            hold_back(&ready, Stage::Received, None, false, None).as_deref(),
            Some(NO_DETAIL),
            "nothing to pack from yet"
        );
        let mut asked = AfterSale {
            kind: crate::domain::AfterSaleKind::Cancellation,
            id: "c-1".into(),
            status: "CANCELLATION_REQUEST_PENDING".into(),
            role: Some("BUYER".into()),
            return_type: None,
            time: 1,
        };
        assert_eq!(
            hold_back(&ready, Stage::StockReserved, None, true, Some(&asked)).as_deref(),
            Some(
                "The buyer asked to cancel (CANCELLATION_REQUEST_PENDING): answer it before shipping"
            )
        );
        asked.status = "CANCELLATION_REQUEST_CANCELLED".into();
        assert_eq!(
            hold_back(&ready, Stage::StockReserved, None, true, Some(&asked)),
            None,
            "a withdrawn request holds nothing back"
        );
    }
}
