//! Whole numbers as JSON Schema counts them: `7` and `7.0` are both the integer 7, so a body
//! field declared `integer` takes either; `7.5` or a number out of range is refused, named.

use serde::de::{Deserialize, Deserializer, Error};

fn whole<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let number = serde_json::Number::deserialize(d)?;
    if let Some(n) = number.as_i64() {
        return Ok(n);
    }
    match number.as_f64() {
        // Past ±2^63 a float cannot say which integer it was.
        Some(f) if f.fract() == 0.0 && f > i64::MIN as f64 && f < i64::MAX as f64 => Ok(f as i64),
        _ => Err(D::Error::custom(format!(
            "{number} is not a whole number in range"
        ))),
    }
}

pub fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    whole(d)
}

pub fn i32<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    let n = whole(d)?;
    std::primitive::i32::try_from(n).map_err(|_| D::Error::custom(format!("{n} is out of range")))
}

pub fn option_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(serde::Deserialize)]
    struct Whole(#[serde(deserialize_with = "whole")] i64);
    Ok(Option::<Whole>::deserialize(d)?.map(|w| w.0))
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(deserialize_with = "super::i64")]
        n: i64,
        #[serde(default, deserialize_with = "super::option_i64")]
        v: Option<i64>,
    }

    #[test]
    fn whole_floats_are_integers_and_fractions_are_not() {
        let b: Body = serde_json::from_str(r#"{"n": -7.0, "v": 3}"#).unwrap();
        assert_eq!((b.n, b.v), (-7, Some(3)));
        let b: Body = serde_json::from_str(r#"{"n": 1, "v": null}"#).unwrap();
        assert_eq!(b.v, None);
        let e = serde_json::from_str::<Body>(r#"{"n": 7.5}"#).err().unwrap();
        assert!(e.to_string().contains("not a whole number"), "{e}");
    }
}
