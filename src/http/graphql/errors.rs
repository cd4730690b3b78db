//! GraphQL's side of the one error table: a failure becomes an error whose `extensions.code`
//! is the REST problem's code in capitals (`NOT_FOUND`, `BAD_REQUEST`, `VERSION_CONFLICT`…),
//! and a mutation's refusal becomes a `userErrors` entry with the same code.

use async_graphql::{ErrorExtensions, SimpleObject};

use super::super::Error;

/// A failure as GraphQL reports it: the message, and the code in `extensions.code`.
pub fn fail(error: impl Into<Error>) -> async_graphql::Error {
    let error = error.into();
    if let Error::Internal(cause) = &error {
        tracing::error!(error = ?cause, "GraphQL request failed");
    }
    async_graphql::Error::new(error.to_string()).extend_with(|_, e| e.set("code", code(&error)))
}

/// A bad argument, named.
pub fn bad_input(message: impl Into<String>) -> async_graphql::Error {
    fail(Error::BadRequest(message.into()))
}

fn code(error: &Error) -> String {
    error.code().to_ascii_uppercase()
}

/// Why a mutation did not do what it was asked, for the person who asked: which argument
/// (`field`, as a path), what is wrong, and the code.
#[derive(SimpleObject, Debug, Clone)]
pub struct UserError {
    pub field: Option<Vec<String>>,
    pub message: String,
    pub code: String,
}

impl UserError {
    /// The refusal `error` is, about argument `field` (if it is about one).
    pub fn of(field: Option<&str>, error: impl Into<Error>) -> Self {
        let error = error.into();
        if let Error::Internal(cause) = &error {
            tracing::error!(error = ?cause, "GraphQL mutation failed");
        }
        Self {
            field: field.map(|f| vec![f.to_owned()]),
            message: error.to_string(),
            code: code(&error),
        }
    }
}
