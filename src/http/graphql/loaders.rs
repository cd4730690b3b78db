//! Batch loaders: what each order of a page asks for (its tags, a page of its history) is read
//! for the whole page in one statement. Each request has its own loaders, so nothing read for
//! one caller is served to another.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use futures_util::future::BoxFuture;

use crate::domain::AfterSale;
use crate::persistence::statements::Tally;
use crate::persistence::{self, Database, HistoryEntry};

/// A failed batch, shared by every field that waited on it.
pub type Failed = Arc<persistence::Error>;

/// Runs a batch load on its own task, counted with the request that asked for it.
pub fn spawn(load: BoxFuture<'static, ()>) {
    match Tally::current() {
        Some(tally) => tokio::spawn(tally.scope(load)),
        None => tokio::spawn(load),
    };
}

/// Orders' tags, by order id.
pub struct TagsLoader(pub Database);

impl Loader<String> for TagsLoader {
    type Value = Vec<String>;
    type Error = Failed;

    async fn load(&self, ids: &[String]) -> Result<HashMap<String, Vec<String>>, Failed> {
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        self.0.orders().tags_of(&ids).await.map_err(Arc::new)
    }
}

/// Orders' buyer requests, by order id.
pub struct RequestsLoader(pub Database);

impl Loader<String> for RequestsLoader {
    type Value = Vec<AfterSale>;
    type Error = Failed;

    async fn load(&self, ids: &[String]) -> Result<HashMap<String, Vec<AfterSale>>, Failed> {
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        self.0.requests().of(&ids).await.map_err(Arc::new)
    }
}

/// A page of one order's history: events `after + 1 ..= after + first`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HistoryPage {
    pub order_id: String,
    pub after: i64,
    pub first: i64,
}

/// Pages of orders' histories; the pages asked for with the same bounds are one statement.
pub struct HistoryLoader(pub Database);

impl Loader<HistoryPage> for HistoryLoader {
    type Value = Vec<HistoryEntry>;
    type Error = Failed;

    async fn load(
        &self,
        pages: &[HistoryPage],
    ) -> Result<HashMap<HistoryPage, Vec<HistoryEntry>>, Failed> {
        let mut bounds: HashMap<(i64, i64), Vec<&str>> = HashMap::new();
        for page in pages {
            bounds
                .entry((page.after, page.first))
                .or_default()
                .push(&page.order_id);
        }
        let mut found = HashMap::with_capacity(pages.len());
        for ((after, first), ids) in bounds {
            let events = self
                .0
                .orders()
                .histories(&ids, after, first)
                .await
                .map_err(Arc::new)?;
            for (order_id, entries) in events {
                let page = HistoryPage {
                    order_id,
                    after,
                    first,
                };
                found.insert(page, entries);
            }
        }
        Ok(found)
    }
}
