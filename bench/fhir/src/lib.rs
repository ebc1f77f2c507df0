//! `hale-bench-fhir`: deterministic Synthea-shaped FHIR R4 test data
//! ([`generate`]), used by the FHIR benchmark (`bench/fhir/run`, this crate's
//! binary) and by the FHIR client interop tests.

pub mod generate;
