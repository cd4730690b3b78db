//! Money: integer minor units and an ISO 4217 currency. TikTok sends amounts as decimal strings
//! ("115.28"); they are parsed exactly with `rust_decimal`, never through a float, and refused
//! if they carry more decimals than the currency has.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

use super::Invalid;

/// An ISO 4217 code: three ASCII capital letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let bytes = raw.trim().as_bytes();
        match bytes {
            [a, b, c] if bytes.iter().all(u8::is_ascii_uppercase) => Ok(Self([*a, *b, *c])),
            _ => Err(Invalid::new(
                "currency",
                format!("{raw:?} is not an ISO 4217 code"),
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII capitals are ever stored.
        std::str::from_utf8(&self.0).expect("currency codes are ASCII")
    }

    /// Digits after the decimal point in this currency's minor unit.
    /// Digits after the decimal point (ISO 4217): 0, 2 or 3.
    pub fn minor_digits(&self) -> u32 {
        let code = self.as_str();
        if Self::ZERO_DIGITS.contains(&code) {
            0
        } else if Self::THREE_DIGITS.contains(&code) {
            3
        } else {
            2
        }
    }

    /// The currencies without minor units.
    pub const ZERO_DIGITS: [&'static str; 17] = [
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
        "VUV", "XAF", "XOF", "XPF",
    ];
    /// The currencies with three digits of minor units; every other has two.
    pub const THREE_DIGITS: [&'static str; 7] = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount in a currency's minor units (cents for USD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    pub fn from_minor(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    /// Parses a decimal string exactly: `"12.30"` USD is 1230 minor units; `"12.345"` USD is an
    /// error, as is anything that is not a plain decimal number or does not fit in i64 minor units.
    pub fn parse(amount: &str, currency: Currency) -> Result<Self, Invalid> {
        let bad = |why: &str| Invalid::new("amount", format!("{amount:?} {currency}: {why}"));
        let trimmed = amount.trim();
        if trimmed.is_empty()
            || !trimmed
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.' || c == '-')
        {
            return Err(bad("not a decimal number"));
        }
        let value = Decimal::from_str(trimmed).map_err(|_| bad("not a decimal number"))?;
        let digits = currency.minor_digits();
        let scaled = value
            .checked_mul(Decimal::from(10_i64.pow(digits)))
            .ok_or_else(|| bad("too large"))?;
        if !scaled.fract().is_zero() {
            return Err(bad(&format!(
                "more than {digits} decimal places for this currency"
            )));
        }
        let minor = i64::try_from(scaled).map_err(|_| bad("too large"))?;
        Ok(Self { minor, currency })
    }

    pub fn minor(&self) -> i64 {
        self.minor
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    pub fn checked_add(self, other: Money) -> Result<Money, Invalid> {
        self.same_currency(other)?;
        self.minor
            .checked_add(other.minor)
            .map(|minor| Money::from_minor(minor, self.currency))
            .ok_or_else(|| Invalid::new("amount", "overflow"))
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, Invalid> {
        self.same_currency(other)?;
        self.minor
            .checked_sub(other.minor)
            .map(|minor| Money::from_minor(minor, self.currency))
            .ok_or_else(|| Invalid::new("amount", "overflow"))
    }

    fn same_currency(self, other: Money) -> Result<(), Invalid> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(Invalid::new(
                "currency",
                format!("cannot mix {} and {}", self.currency, other.currency),
            ))
        }
    }
}

impl fmt::Display for Money {
    /// The decimal string TikTok would send: `1230` USD minor units is `12.30`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = Decimal::new(self.minor, self.currency.minor_digits());
        write!(f, "{value}")
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    #[test]
    fn decimal_strings_become_exact_minor_units() {
        assert_eq!(Money::parse("115.28", usd()).unwrap().minor(), 11528);
        assert_eq!(Money::parse("0", usd()).unwrap().minor(), 0);
        assert_eq!(Money::parse("0.1", usd()).unwrap().minor(), 10);
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(Money::parse("1500", jpy).unwrap().minor(), 1500);
        let kwd = Currency::parse("KWD").unwrap();
        assert_eq!(Money::parse("1.005", kwd).unwrap().minor(), 1005);
    }

    #[test]
    fn amounts_finer_than_the_currency_or_not_numbers_are_refused() {
        assert!(Money::parse("1.005", usd()).is_err());
        assert!(Money::parse("1.5", Currency::parse("JPY").unwrap()).is_err());
        assert!(Money::parse("1e3", usd()).is_err());
        assert!(Money::parse("NaN", usd()).is_err());
        assert!(Money::parse("", usd()).is_err());
        assert!(Money::parse("99999999999999999999", usd()).is_err());
    }

    #[test]
    fn currencies_are_three_capitals_and_do_not_mix() {
        assert!(Currency::parse("usd").is_err());
        assert!(Currency::parse("US").is_err());
        let eur = Money::parse("1", Currency::parse("EUR").unwrap()).unwrap();
        assert!(Money::parse("1", usd()).unwrap().checked_add(eur).is_err());
    }

    #[test]
    fn display_gives_back_the_decimal_string() {
        assert_eq!(Money::parse("12.3", usd()).unwrap().to_string(), "12.30");
        assert_eq!(Money::from_minor(-5, usd()).to_string(), "-0.05");
    }

    proptest! {
        #[test]
        fn formatting_then_parsing_never_loses_a_cent(minor in -1_000_000_000_000_i64..1_000_000_000_000) {
            let m = Money::from_minor(minor, usd());
            prop_assert_eq!(Money::parse(&m.to_string(), usd()).unwrap(), m);
        }

        #[test]
        fn adding_then_subtracting_is_exact(a in -1_000_000_000_000_i64..1_000_000_000_000, b in -1_000_000_000_000_i64..1_000_000_000_000) {
            let (a, b) = (Money::from_minor(a, usd()), Money::from_minor(b, usd()));
            prop_assert_eq!(a.checked_add(b).unwrap().checked_sub(b).unwrap(), a);
        }

        #[test]
        fn any_two_decimal_string_parses_to_its_cents(units in 0_u64..10_000_000_000, cents in 0_u32..100) {
            let text = format!("{units}.{cents:02}");
            prop_assert_eq!(Money::parse(&text, usd()).unwrap().minor(), (units * 100 + u64::from(cents)) as i64);
        }
    }
}

super::serde_text::serde_as_text!(Currency, Currency::parse);

/// On the wire (API bodies, audit payloads) money is TikTok's shape: a decimal string and a code.
#[derive(serde::Serialize, serde::Deserialize)]
struct MoneyText<'a> {
    amount: std::borrow::Cow<'a, str>,
    currency: Currency,
}

impl serde::Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        MoneyText {
            amount: self.to_string().into(),
            currency: self.currency,
        }
        .serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Money {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = MoneyText::deserialize(d)?;
        Money::parse(&text.amount, text.currency).map_err(serde::de::Error::custom)
    }
}
