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
