//! DICOMweb domain logic for Hale's DICOM service, shaped after Azure Health
//! Data Services' DICOM service (its v1 and v2 conformance statements).
//!
//! No HTTP server, no storage: the HTTP layer feeds request bytes in and
//! writes what comes out; the store persists [`Ingested`] records and answers
//! QIDO queries with the semantics of [`qido::matches`].
//!
//! - [`ingest`]: one Part-10 instance → [`Ingested`] (UIDs, index values,
//!   QIDO attributes per level, metadata JSON, original bytes) or a
//!   [`Rejection`] with Azure's FailureReason.
//! - [`store_response`]: per-instance outcomes → STOW-RS status and DICOM JSON.
//! - [`multipart`]: streaming `multipart/related` parser (sans I/O) and writer.
//! - [`qido`]: query parsing per level, the in-memory matcher, result JSON.
//! - [`retrieve`]: `/metadata` JSON and `/frames/{list}` extraction.
//! - [`eqt`]: extended query tags: validation, values, QIDO conditions.
//! - [`render`]: `/rendered` frames as JPEG or PNG (dicom-pixeldata).
//! - [`transcode`]: WADO-RS instances and frames in another transfer syntax
//!   (Explicit VR Little Endian, JPEG 2000 lossless).
//!
//! DICOM parsing and the DICOM JSON model come from dicom-rs.

/// The allocator of Hale's binary (see the dev-dependency in Cargo.toml).
#[cfg(test)]
#[global_allocator]
static TEST_ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod attributes;
pub mod eqt;
mod error;
mod index;
mod ingest;
mod j2k;
mod json;
pub mod multipart;
pub mod qido;
pub mod render;
pub mod retrieve;
mod store_response;
mod text;
pub mod transcode;
mod uid;
mod validate;

pub use attributes::{
    Level, MODALITIES_IN_STUDY, NUMBER_OF_SERIES_RELATED_INSTANCES,
    NUMBER_OF_STUDY_RELATED_INSTANCES, SEARCHABLE, SearchableAttribute, all_tags, default_tags,
    searchable, tag_key,
};
pub use dicom_core::Tag;
pub use error::Error;
pub use index::{IndexRecord, SearchValue};
pub use ingest::{
    FailureReason, IngestOptions, Ingested, InstanceBuffer, LevelAttributes, MAX_INSTANCE_BYTES,
    Rejection, WarningReason, ingest, read_instance,
};
pub use store_response::{
    InstanceOutcome, StoreResponse, StoredInstance, instance_url, store_response, study_url,
};
pub use text::{fold_case, fold_case_and_accents, person_name_words};
pub use uid::{Uid, is_standard_uid, is_valid_identifier};
pub use validate::parse_date;

/// The DICOMweb API version of a request (`/v1/...` or `/v2/...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiVersion {
    /// `v1` (and `v1.0-prerelease`).
    V1,
    /// `v2`, the latest.
    V2,
}
