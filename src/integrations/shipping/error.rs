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
    #[error(transparent)]
    LabelApi(#[from] super::label_api::Error),
    #[error("cannot read or record the shipment")]
    Storage(#[from] crate::persistence::Error),
}

impl Error {
    /// A failure no retry can mend: the step is dead-lettered at once.
    pub fn is_permanent(&self) -> bool {
        match self {
            Error::NotConfigured(_) => true,
            Error::Missing(_) | Error::Storage(_) => false,
            Error::TikTok(e) => e.is_permanent(),
            Error::LabelApi(e) => e.is_permanent(),
        }
    }
}
