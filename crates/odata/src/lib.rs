//! OData query options for Hale's Microsoft Graph v1.0 directory collections.
//!
//! Hale serves `applications`, `servicePrincipals`, `users` and `groups` the way
//! Microsoft Graph does. This crate turns the query string of a collection
//! request into a [`Query`] and evaluates it over JSON objects shaped like
//! Graph resources (camelCase properties, `serde_json::Value`):
//!
//! * [`parse_query`] reads the URL-decoded `(name, value)` pairs and returns a
//!   [`Query`] or the [`ODataError`] (Graph error code + message) for the 400
//!   response.
//! * [`Filter::matches`] evaluates a `$filter` against one object.
//! * [`apply_select`] projects an object onto a `$select` list.
//! * [`sort`] orders a page by `$orderby`.
//!
//! What is checked here is the *syntax* and the resource limits; which
//! properties a collection lets callers filter or sort on is the caller's
//! decision (see [`Filter::properties`], [`Filter::advanced_features`] and
//! [`Query::validate_advanced`]). `NOTES.md` in the crate records which Graph
//! behaviours were verified against Microsoft's documentation.
//!
//! ```
//! use hale_odata::{parse_query, Limits};
//! use serde_json::json;
//!
//! let query = parse_query(
//!     [("$filter", "identifierUris/any(x:x eq 'API://Foo')"), ("$top", "5")],
//!     &Limits::default(),
//! )
//! .unwrap();
//! let app = json!({"id": "1", "identifierUris": ["api://foo"]});
//! assert!(query.filter.as_ref().unwrap().matches(&app));
//! assert_eq!(query.top, 5);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod ast;
mod error;
mod eval;
mod lexer;
mod parser;
mod query;
mod select;
mod sort;
mod text;

pub use ast::{CmpOp, Filter, Literal};
pub use error::{ODataError, codes};
pub use query::{OrderBy, Query, parse_query};
pub use select::{apply_select, validate_select};
pub use sort::sort;
pub use text::fold_case;

/// Upper bound applied to [`Limits::max_depth`] whatever the caller configures.
///
/// The parser is recursive descent; this cap keeps its stack use bounded
/// (well under a megabyte even in unoptimised builds) when a caller sets
/// `max_depth` to something like `usize::MAX`. Real Graph filters nest a
/// handful of levels.
pub const MAX_DEPTH_CAP: usize = 64;

/// Upper bound on the height of a parsed [`Filter`] tree.
///
/// `and`/`or` chains nest to the left, one level per operator; evaluating,
/// printing, comparing and dropping a tree recurse over its height, so it is
/// capped (a chain of up to 256 clauses is accepted). Beyond it the parser
/// answers `BadRequest` instead of risking the stack.
pub const MAX_TREE_HEIGHT: usize = 256;

/// Resource limits applied while parsing query options.
///
/// The defaults follow Graph where Graph documents a number (`$top` 1..=999,
/// default page size 100, 15 expressions in an `in`/`or` clause) and are
/// conservative elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted `$top` (Graph: 999 for directory collections).
    pub max_top: u32,
    /// Page size used when `$top` is absent (Graph: 100).
    pub default_top: u32,
    /// Longest accepted `$filter` value, in bytes.
    pub max_filter_len: usize,
    /// Most values accepted in one `in (...)` list (Graph: 15).
    pub max_in_values: usize,
    /// Most child clauses accepted in one chain of `or` operators, counting
    /// every value of an `in` list as one clause (Graph: 15).
    pub max_or_clauses: usize,
    /// Deepest accepted nesting of parentheses, `not` and lambda bodies.
    /// Values above [`MAX_DEPTH_CAP`] are treated as [`MAX_DEPTH_CAP`].
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_top: 999,
            default_top: 100,
            max_filter_len: 4096,
            max_in_values: 15,
            max_or_clauses: 15,
            max_depth: 32,
        }
    }
}
