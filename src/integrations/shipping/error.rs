/// Why a shipping step did not happen.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Something the order or its shipment lacks for this step yet (a detail, a label).
    #[error("{0}")]
    Missing(&'static str),
    /// The configuration cannot carry this order (no label API, no provider id for a carrier).
    #[error("{0}")]
    NotConfigured(String),
    #[error("the TikTok call failed")]
    TikTok(#[from] crate::integrations::tiktok::client::Error),
    /// The batch this package went in could not be sent.
    #[error("the TikTok batch ship call failed")]
    Batch(#[source] std::sync::Arc<crate::integrations::tiktok::client::Error>),
    /// TikTok refused this package of a batch (the order has not left: not shippable now).
    #[error("TikTok refused to ship package {package}: {message} (code {code})")]
    Refused {
        package: String,
        code: i64,
        message: String,
    },
    #[error(transparent)]
    LabelApi(#[from] super::label_api::Error),
    #[error("cannot read or record the shipment")]
    Storage(#[from] crate::persistence::Error),
    /// A buyer's request waits for the seller's answer: the parcel does not leave before it.
    #[error("{0}")]
    AwaitingSeller(String),
}

impl Error {
    /// A failure no retry can mend: the step is dead-lettered at once.
    pub fn is_permanent(&self) -> bool {
        match self {
            // Dead-lettered at once, so the order needs attention and the seller answers; a
            // retry of the workflow then ships it if the answer was a rejection.
            Error::NotConfigured(_) | Error::AwaitingSeller(_) => true,
            Error::Missing(_) | Error::Storage(_) => false,
            Error::TikTok(e) => e.is_permanent(),
            Error::Batch(e) => e.is_permanent(),
            Error::Refused { .. } => false,
            Error::LabelApi(e) => e.is_permanent(),
        }
    }
}
