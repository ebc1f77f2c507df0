//! OperationOutcome issues produced by validation and search parsing.
//!
//! The shapes follow the Microsoft FHIR server (the code behind Azure Health
//! Data Services): unknown search parameters are `warning`/`not-supported`,
//! malformed values are `error`/`invalid`, and the `_count` clamp is
//! `information`/`informational`.

use serde::Serialize;
use serde_json::{Value, json};

/// `OperationOutcome.issue.severity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The request cannot be processed.
    Fatal,
    /// The request is in error.
    Error,
    /// Processed, with a caveat worth telling the client.
    Warning,
    /// Purely informational.
    Information,
}

/// `OperationOutcome.issue.code` (the subset of the R4 IssueType value set Hale emits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IssueCode {
    /// Content invalid against the specification or a profile.
    Invalid,
    /// A structural issue in the content (unknown element, wrong JSON type).
    Structure,
    /// A required element is missing.
    Required,
    /// An element value is invalid (format, range).
    Value,
    /// A code is not in the value set its element requires.
    CodeInvalid,
    /// The content or request is not supported.
    NotSupported,
    /// Informational note.
    Informational,
    /// A referenced resource could not be found.
    NotFound,
}

impl IssueCode {
    /// The wire code, e.g. `not-supported`.
    pub fn as_str(self) -> &'static str {
        match self {
            IssueCode::Invalid => "invalid",
            IssueCode::Structure => "structure",
            IssueCode::Required => "required",
            IssueCode::Value => "value",
            IssueCode::CodeInvalid => "code-invalid",
            IssueCode::NotSupported => "not-supported",
            IssueCode::Informational => "informational",
            IssueCode::NotFound => "not-found",
        }
    }
}

/// One `OperationOutcome.issue`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    /// How bad it is.
    pub severity: Severity,
    /// What kind of problem it is.
    pub code: IssueCode,
    /// Human-readable text (`OperationOutcome.issue.diagnostics`).
    pub diagnostics: String,
    /// FHIRPath-like locations of the problem (`OperationOutcome.issue.expression`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expression: Vec<String>,
}

impl Issue {
    /// An issue without a location.
    pub fn new(severity: Severity, code: IssueCode, diagnostics: impl Into<String>) -> Self {
        Issue {
            severity,
            code,
            diagnostics: diagnostics.into(),
            expression: Vec::new(),
        }
    }

    /// An `error` issue located at `expression`.
    pub fn error_at(
        code: IssueCode,
        expression: impl Into<String>,
        diagnostics: impl Into<String>,
    ) -> Self {
        Issue {
            severity: Severity::Error,
            code,
            diagnostics: diagnostics.into(),
            expression: vec![expression.into()],
        }
    }

    /// Whether the issue stops processing (`error` or `fatal`).
    pub fn is_error(&self) -> bool {
        matches!(self.severity, Severity::Error | Severity::Fatal)
    }

    /// The issue as an `OperationOutcome.issue` JSON object.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_else(|_| json!({}))
    }
}

/// Wraps issues into an `OperationOutcome` resource (without `id`/`meta`, which
/// the HTTP layer adds from the request context).
pub fn operation_outcome(issues: &[Issue]) -> Value {
    json!({
        "resourceType": "OperationOutcome",
        "issue": issues.iter().map(Issue::to_json).collect::<Vec<_>>(),
    })
}
