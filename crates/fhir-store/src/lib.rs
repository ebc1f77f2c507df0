//! The FHIR service's storage, on [`hale_store::Tx`]: every version of every
//! resource ([`resources`]), the search index rows of each current version
//! ([`index`]) and search compiled to SQL ([`search`]).
//!
//! Everything here runs inside a transaction the caller opened, so a resource,
//! its history and its index rows change together or not at all; a transaction
//! bundle is one call chain inside one `Store::write`.
//!
//! Invariant: knows SQL and FHIR's storage semantics (versions, index values,
//! search matching); knows nothing of HTTP, headers or authorization. Data is
//! always scoped by a service's partition number (`svc`).

mod codec;
pub mod export;
pub mod index;
pub mod resources;
pub mod search;

pub use codec::encode as encode_body;
pub use resources::{NewVersion, StoredResource};
pub use search::{SearchError, SearchPage, SearchScope};

/// Appends `rows` tuples of `width` numbered placeholders (`($1,$2),($3,$4)`)
/// to a multi-row `INSERT … VALUES`.
pub(crate) fn push_value_rows(sql: &mut String, rows: usize, width: usize) {
    for i in 0..rows {
        sql.push_str(if i > 0 { ",(" } else { "(" });
        for j in 0..width {
            if j > 0 {
                sql.push(',');
            }
            sql.push('$');
            sql.push_str(&(i * width + j + 1).to_string());
        }
        sql.push(')');
    }
}

/// How many rows the next multi-row statement takes out of `n` waiting: 64,
/// else the largest power of two, so that few distinct statements are
/// prepared per connection.
pub(crate) fn chunk_size(n: usize) -> usize {
    if n >= 64 {
        64
    } else {
        1 << (usize::BITS - 1 - n.leading_zeros())
    }
}
