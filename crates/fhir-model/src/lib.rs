//! FHIR R4 model for Hale: the specification's definitions, a FHIRPath subset,
//! search index extraction, search query parsing and structural validation.
//!
//! Everything works on `serde_json::Value` resources; nothing here speaks HTTP
//! or SQL. The HTTP layer turns [`Issue`]s into OperationOutcomes and the
//! store writes [`IndexEntry`]s in the same transaction as the resource.
//!
//! - [`definitions`]: generated R4 tables (types, elements, SearchParameters,
//!   the five compartments), loaded once.
//! - [`fhirpath`]: parse and evaluate the SearchParameter expressions.
//! - [`primitives`]: primitive formats and date/number ranges.
//! - [`index()`]: resource → search index entries.
//! - [`parse_search`]: query string → typed [`SearchQuery`].
//! - [`validate`]: resource → structural issues.
//!
//! Architecture invariant: no I/O, no HTTP, no SQL; the only state is the
//! immutable definitions.

pub mod definitions;
pub mod fhirpath;
pub mod index;
pub mod issue;
pub mod json;
pub mod primitives;
pub mod search;
pub mod validate;

pub use definitions::{Definitions, SearchParamDef, SearchParamType, r4};
pub use index::{IndexEntry, IndexValue, index};
pub use issue::{Issue, IssueCode, Severity, operation_outcome};
pub use search::{SearchQuery, parse_search};
pub use validate::validate;
