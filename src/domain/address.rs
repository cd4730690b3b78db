//! A recipient's address as a person reads it on a packing slip, from TikTok's
//! `recipient_address` (kept whole in the order's detail, as TikTok sent it).
//!
//! TikTok sends `full_address`, its own one-line rendering, beside the parts: `address_line1`
//! to `address_line4` (or `address_detail`), the administrative areas in `district_info` (level
//! `L0` the country to `L4` the most local; there is no `city` field), `post_town` (UK),
//! `postal_code` and `region_code`. The parts, when there are any, give the address in lines;
//! `full_address` stands in when they are missing. Masked values (platform-shipped orders:
//! `A***r`, `(+1)213*****53`) are shown as they are: they are what the seller may see.

use serde_json::Value;

/// The recipient, in the lines a label would print.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    pub name: Option<String>,
    pub phone: Option<String>,
    /// Street lines, then the locality line (areas from the most local, then the postal code).
    pub lines: Vec<String>,
    /// The country or region, as TikTok's ISO code (`US`, `GB`).
    pub region: Option<String>,
}

impl Address {
    /// The address in `recipient` (TikTok's `recipient_address`); fields it lacks stay empty.
    pub fn of(recipient: &Value) -> Self {
        let text = |key: &str| {
            recipient
                .get(key)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let name = text("name").or_else(|| {
            let parts: Vec<String> = ["first_name", "last_name"]
                .into_iter()
                .filter_map(text)
                .collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        });
        let mut lines: Vec<String> = [
            "address_line1",
            "address_line2",
            "address_line3",
            "address_line4",
        ]
        .into_iter()
        .filter_map(text)
        .collect();
        if lines.is_empty() {
            lines.extend(text("address_detail"));
        }
        let locality = locality(recipient, text("post_town"), text("postal_code"));
        if lines.is_empty() {
            // No street parts: TikTok's own one-line rendering says it all (it has the
            // locality), or the locality is all there is.
            match text("full_address") {
                Some(full) => lines.push(full),
                None => lines.extend(locality),
            }
        } else {
            lines.extend(locality);
        }
        Self {
            name,
            phone: text("phone_number"),
            lines,
            region: text("region_code"),
        }
    }

    /// True when nothing of the address is known (an order on hold has none yet).
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.phone.is_none()
            && self.lines.is_empty()
            && self.region.is_none()
    }
}

/// The locality line: the areas below the country, the most local first, then the post town
/// and the postal code ("Mission District, San Francisco, California 94107").
fn locality(
    recipient: &Value,
    post_town: Option<String>,
    postal_code: Option<String>,
) -> Option<String> {
    let mut areas: Vec<(u8, &str)> = recipient
        .get("district_info")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|area| {
            let level = area
                .get("address_level")
                .and_then(Value::as_str)
                .and_then(|l| l.strip_prefix('L'))
                .and_then(|l| l.parse::<u8>().ok())?;
            let name = area.get("address_name").and_then(Value::as_str)?.trim();
            (level > 0 && !name.is_empty()).then_some((level, name))
        })
        .collect();
    areas.sort_by_key(|area| std::cmp::Reverse(area.0));
    let mut names: Vec<&str> = Vec::with_capacity(areas.len() + 1);
    for (_, name) in areas {
        // A county often repeats its city's name ("San Francisco", "San Francisco County").
        if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            names.push(name);
        }
    }
    names.extend(post_town.as_deref());
    let line = match (names.is_empty(), postal_code) {
        (true, None) => return None,
        (true, Some(code)) => code,
        (false, None) => names.join(", "),
        (false, Some(code)) => format!("{} {code}", names.join(", ")),
    };
    Some(line)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_parts_give_street_lines_then_the_locality_from_the_most_local_area() {
        let address = Address::of(&json!({
            "name": "Ada Buyer",
            "phone_number": "(+1)415*****53",
            "address_line1": "1 Market St",
            "address_line2": "Apt 4",
            "address_line3": "",
            "full_address": "1 Market St, Apt 4, San Francisco, California 94107, United States",
            "postal_code": "94107",
            "region_code": "US",
            "district_info": [
                {"address_level": "L0", "address_level_name": "Country", "address_name": "United States"},
                {"address_level": "L1", "address_level_name": "State", "address_name": "California"},
                {"address_level": "L3", "address_level_name": "City", "address_name": "San Francisco"},
                {"address_level": "L2", "address_level_name": "County", "address_name": "San Francisco"},
            ],
        }));
        assert_eq!(
            address,
            Address {
                name: Some("Ada Buyer".into()),
                phone: Some("(+1)415*****53".into()),
                lines: vec![
                    "1 Market St".into(),
                    "Apt 4".into(),
                    "San Francisco, California 94107".into()
                ],
                region: Some("US".into()),
            }
        );
    }

    #[test]
    fn tiktoks_one_line_address_stands_in_for_missing_parts() {
        let address = Address::of(&json!({
            "name": "A. Buyer", "region_code": "US", "postal_code": "94107",
            "full_address": "1 Market St, San Francisco, CA 94107",
        }));
        assert_eq!(address.lines, ["1 Market St, San Francisco, CA 94107"]);
        assert_eq!(address.region.as_deref(), Some("US"));
    }

    #[test]
    fn a_uk_address_ends_with_its_post_town_and_postcode_and_names_come_in_parts() {
        let address = Address::of(&json!({
            "first_name": "Ada", "last_name": "Lovelace",
            "address_detail": "10 Downing Street",
            "post_town": "LONDON", "postal_code": "SW1A 2AA", "region_code": "GB",
        }));
        assert_eq!(address.name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(address.lines, ["10 Downing Street", "LONDON SW1A 2AA"]);
    }

    #[test]
    fn a_masked_or_missing_address_is_shown_as_it_is_or_not_at_all() {
        let masked = Address::of(&json!({"name": "A***r", "phone_number": "(+1)213*****53"}));
        assert_eq!(masked.name.as_deref(), Some("A***r"));
        assert!(masked.lines.is_empty());
        assert!(!masked.is_empty());
        assert!(Address::of(&json!({})).is_empty());
        assert!(Address::of(&json!({"name": "  ", "district_info": "not a list"})).is_empty());
    }
}
