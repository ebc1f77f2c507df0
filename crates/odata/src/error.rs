//! The one error type of the crate: a Graph error code and message.

use serde_json::{Value, json};

/// Error codes Microsoft Graph puts in `error.code` for rejected queries.
pub mod codes {
    /// Generic OData parse failure (syntax errors, malformed option values).
    pub const BAD_REQUEST: &str = "BadRequest";
    /// Directory-specific rejection of a query option the service does not offer.
    pub const REQUEST_BAD_REQUEST: &str = "Request_BadRequest";
    /// A well-formed query the directory cannot run (limits, unsupported
    /// operators or properties, missing advanced-query parameters).
    pub const REQUEST_UNSUPPORTED_QUERY: &str = "Request_UnsupportedQuery";
}

use codes::{BAD_REQUEST, REQUEST_BAD_REQUEST, REQUEST_UNSUPPORTED_QUERY};

/// A rejected query: the Graph error code and message for a `400 Bad Request`.
///
/// Serialise it with [`ODataError::to_json`]; the caller adds `innerError`
/// (request id, date) when it builds the response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ODataError {
    /// Graph's `error.code`, one of [`codes`].
    pub code: &'static str,
    /// Graph's `error.message`.
    pub message: String,
}

impl ODataError {
    /// Builds an error from a code and a message.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        ODataError {
            code,
            message: message.into(),
        }
    }

    /// The HTTP status Graph answers with for every error of this crate: 400.
    pub fn status(&self) -> u16 {
        400
    }

    /// The response body: `{"error": {"code": …, "message": …}}`.
    pub fn to_json(&self) -> Value {
        json!({"error": {"code": self.code, "message": self.message}})
    }

    /// `Request_UnsupportedQuery` for a `$filter` on a property the
    /// collection does not index, worded as Graph documents it.
    ///
    /// `resource` is Graph's capitalised type name, e.g. `"Application"`.
    pub fn unsupported_filter_property(property: &str, resource: &str) -> Self {
        Self::new(
            REQUEST_UNSUPPORTED_QUERY,
            format!(
                "Unsupported or invalid query filter clause specified for property '{property}' of resource '{resource}'."
            ),
        )
    }

    /// `Request_UnsupportedQuery` for an `$orderby` on a property the
    /// collection cannot sort by, e.g. `("createdDateTime", "User")`.
    pub fn unsupported_sort_property(property: &str, resource: &str) -> Self {
        Self::new(
            REQUEST_UNSUPPORTED_QUERY,
            format!("Unsupported sort property '{property}' for '{resource}'."),
        )
    }

    /// `Request_UnsupportedQuery` Graph returns for `$orderby` combined with
    /// `$filter` outside an advanced query.
    pub fn sorting_not_supported() -> Self {
        Self::new(
            REQUEST_UNSUPPORTED_QUERY,
            "Sorting not supported for current query.",
        )
    }

    /// `Request_UnsupportedQuery` for an operator that needs the advanced
    /// query parameters (`ConsistencyLevel: eventual` and `$count=true`).
    ///
    /// `operator` is one of the names returned by
    /// [`crate::Filter::advanced_features`]. For `ne` Graph answers with its
    /// internal operator name; for the others with the documented hint.
    pub fn advanced_query_required(operator: &str) -> Self {
        if operator == "ne" {
            return Self::new(
                REQUEST_UNSUPPORTED_QUERY,
                "Unsupported property filter clause operator 'NotEqualsMatch'.",
            );
        }
        Self::new(
            REQUEST_UNSUPPORTED_QUERY,
            format!(
                "Operator '{operator}' is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information"
            ),
        )
    }

    /// `Request_UnsupportedQuery` for `$search` without `ConsistencyLevel: eventual`.
    pub fn search_requires_consistency_level() -> Self {
        Self::new(
            REQUEST_UNSUPPORTED_QUERY,
            "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
        )
    }

    /// `Request_BadRequest` for the `/$count` URL segment without
    /// `ConsistencyLevel: eventual`.
    pub fn count_segment_not_supported() -> Self {
        Self::new(REQUEST_BAD_REQUEST, "$count is not currently supported.")
    }

    /// `BadRequest` for a `$select` naming a property the type does not have.
    ///
    /// `type_name` is the qualified name, e.g. `"microsoft.graph.application"`.
    pub fn select_property_not_found(property: &str, type_name: &str) -> Self {
        Self::new(
            BAD_REQUEST,
            format!(
                "Parsing OData Select and Expand failed: Could not find a property named '{property}' on type '{type_name}'."
            ),
        )
    }

    /// `Request_UnsupportedQuery` with Graph's terse "Unsupported query."
    /// message, used for OData functions and operators the directory does not
    /// implement (`contains`, `has`, `tolower`, …).
    pub fn unsupported_query() -> Self {
        Self::new(REQUEST_UNSUPPORTED_QUERY, "Unsupported query.")
    }

    // ---- errors raised by this crate's parsers ----

    pub(crate) fn filter_syntax(text: &str, pos: usize) -> Self {
        Self::new(
            BAD_REQUEST,
            format!("Invalid filter clause: Syntax error at position {pos} in '{text}'."),
        )
    }

    pub(crate) fn filter_invalid_char(text: &str, ch: char, pos: usize) -> Self {
        Self::new(
            BAD_REQUEST,
            format!(
                "Invalid filter clause: Syntax error: character '{ch}' is not valid at position {pos} in '{text}'."
            ),
        )
    }

    pub(crate) fn filter_unterminated_string(text: &str, pos: usize) -> Self {
        Self::new(
            BAD_REQUEST,
            format!(
                "Invalid filter clause: There is an unterminated string literal at position {pos} in '{text}'."
            ),
        )
    }

    pub(crate) fn filter_unknown_function(name: &str) -> Self {
        Self::new(
            BAD_REQUEST,
            format!("Invalid filter clause: An unknown function with name '{name}' was found."),
        )
    }

    pub(crate) fn filter_too_long(max: usize) -> Self {
        Self::new(
            BAD_REQUEST,
            format!(
                "Invalid filter clause: The filter expression exceeds the maximum length of {max} characters."
            ),
        )
    }

    pub(crate) fn filter_too_deep(max: usize) -> Self {
        Self::new(
            BAD_REQUEST,
            format!(
                "Invalid filter clause: The filter expression exceeds the maximum nesting depth of {max}."
            ),
        )
    }

    pub(crate) fn filter_too_complex(max: usize) -> Self {
        Self::new(
            BAD_REQUEST,
            format!(
                "Invalid filter clause: The filter expression is too complex; it exceeds {max} nested clauses."
            ),
        )
    }

    pub(crate) fn too_many_or_clauses(count: usize, max: usize) -> Self {
        Self::new(
            REQUEST_UNSUPPORTED_QUERY,
            format!(
                "Too many child clauses specified in search filter expression containing 'OR' operators: {count}. Max allowed: {max}."
            ),
        )
    }

    pub(crate) fn invalid_page_size(raw: &str, max: u32) -> Self {
        Self::new(
            REQUEST_UNSUPPORTED_QUERY,
            format!("Invalid page size specified: '{raw}'. Must be between 1 and {max} inclusive."),
        )
    }

    pub(crate) fn invalid_top_value(raw: &str) -> Self {
        Self::new(
            BAD_REQUEST,
            format!(
                "Invalid value '{raw}' for $top query option found. The $top query option requires a non-negative integer value."
            ),
        )
    }

    pub(crate) fn invalid_count_value(raw: &str) -> Self {
        Self::new(BAD_REQUEST, format!("'{raw}' is not a valid count option."))
    }

    pub(crate) fn duplicate_option(name: &str) -> Self {
        Self::new(
            BAD_REQUEST,
            format!(
                "Query option '{name}' was specified more than once, but it must be specified at most once."
            ),
        )
    }

    pub(crate) fn unknown_option(name: &str) -> Self {
        Self::new(
            BAD_REQUEST,
            format!("The query parameter '{name}' is not supported."),
        )
    }

    pub(crate) fn skip_not_supported() -> Self {
        Self::new(
            REQUEST_BAD_REQUEST,
            "'$skip' is not supported by the service.",
        )
    }

    pub(crate) fn select_syntax(text: &str, pos: usize) -> Self {
        Self::new(
            BAD_REQUEST,
            format!(
                "Parsing OData Select and Expand failed: Syntax error at position {pos} in '{text}'."
            ),
        )
    }

    pub(crate) fn orderby_syntax(text: &str, pos: usize) -> Self {
        Self::new(
            BAD_REQUEST,
            format!("Syntax error at position {pos} in '{text}'."),
        )
    }

    pub(crate) fn unsupported_format(value: &str) -> Self {
        Self::new(
            BAD_REQUEST,
            format!("The requested $format '{value}' is not supported."),
        )
    }
}
