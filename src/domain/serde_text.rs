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

/// A closed set of states stored and shown as text: the enum, `as_str`, `parse` (an unknown
/// text is [`Invalid`](crate::domain::Invalid), naming `$what`), `Display` and serde as text.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident ($what:literal) {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value's text, in declaration order.
            pub const TEXTS: &'static [&'static str] = &[$($text,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            pub fn parse(raw: &str) -> Result<Self, $crate::domain::Invalid> {
                match raw {
                    $($text => Ok($name::$variant),)+
                    other => Err($crate::domain::Invalid::new(
                        $what,
                        format!("unknown {} `{other}`", $what),
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        $crate::domain::serde_text::serde_as_text!($name, $name::parse);
    };
}

pub(crate) use text_enum;
