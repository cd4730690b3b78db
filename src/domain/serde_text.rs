//! Serde for domain types that travel as text (ids, statuses, currencies): serialised with their
//! canonical spelling, and re-validated when read back.

macro_rules! serde_as_text {
    ($ty:ty, $parse:expr) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                #[allow(clippy::redundant_closure_call)]
                ($parse)(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use serde_as_text;
