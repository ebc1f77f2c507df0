//! QIDO-RS: query parsing per resource, the matcher that defines the
//! semantics, and result rendering.
//!
//! The store translates a [`QidoQuery`] to SQL; [`matches`] is the reference
//! it is tested against.

mod matcher;
mod parse;
mod result;

pub use matcher::matches;
pub use parse::{
    Condition, ExtendedFilter, Filter, IncludeFields, QidoQuery, QueryResource, QueryableTag,
    parse_query, parse_query_with,
};
pub use result::{ResultExtras, result_json};

/// Azure's default `limit`.
pub const DEFAULT_LIMIT: u32 = 100;
/// Azure's largest `limit`.
pub const MAX_LIMIT: u32 = 200;
