//! Wire types shared by the server and the `hale` CLI: the JSON bodies of Hale's
//! own endpoints. Protocol shapes owned by others (OAuth, Graph, ARM, FHIR,
//! DICOM) join here as the CLI starts to speak them.
//!
//! Invariant: plain serde types; depends on nothing of Hale's.

use serde::{Deserialize, Serialize};

/// `GET /healthz`: the process is alive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub version: String,
}

/// `GET /readyz`: whether each dependency answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    /// `ready` or `not ready`.
    pub status: String,
    pub checks: ReadinessChecks,
}

/// One entry per dependency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadinessChecks {
    pub database: Check,
    pub blobs: Check,
}

/// The result of checking one dependency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub ok: bool,
    /// What failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
