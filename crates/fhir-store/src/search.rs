//! Search, compiled to SQL over the index tables (issue 7: being written).

use hale_fhir_model::{Issue, SearchQuery};
use hale_store::{StoreError, Tx};

use crate::StoredResource;

/// Where a search looks.
#[derive(Debug, Clone, Default)]
pub struct SearchScope {
    /// The resource types searched: one for `[type]?…`, empty for a system
    /// search (`[base]?…`, narrowed by `_type`).
    pub resource_types: Vec<String>,
    /// A compartment search `Patient/{id}/{type}`: (compartment type, id).
    pub compartment: Option<(String, String)>,
}

/// One page of results.
#[derive(Debug, Clone, Default)]
pub struct SearchPage {
    /// The matches on this page, in order (`search.mode = match`).
    pub matches: Vec<StoredResource>,
    /// `_include`/`_revinclude` results (`search.mode = include`).
    pub included: Vec<StoredResource>,
    /// `Bundle.total` when `_total=accurate` or `_summary=count` asked for it.
    pub total: Option<u64>,
    /// The continuation token of the next page (the `ct` parameter), if any.
    pub next: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The query cannot be run (a bad continuation token, an unsupported
    /// combination): answered 400 with these issues.
    #[error("invalid search")]
    Invalid(Vec<Issue>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs a search on the current, not deleted resources of partition `svc`.
pub fn search(
    tx: &mut dyn Tx,
    svc: i64,
    scope: &SearchScope,
    query: &SearchQuery,
    own_base: &str,
) -> Result<SearchPage, SearchError> {
    let _ = (tx, svc, scope, query, own_base);
    Ok(SearchPage::default())
}
