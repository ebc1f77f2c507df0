//! `multipart/related` for DICOMweb: a streaming request parser (STOW-RS) and
//! a response writer (WADO-RS).
//!
//! The parser is sans I/O: feed it the body's chunks as they arrive
//! ([`MultipartParser::feed`]) and pull [`Event`]s; each part's bytes come out
//! incrementally, so nothing but the current chunk and a few boundary-sized
//! bytes is buffered. [`MultipartReader`] drives it from a `std::io::Read`.

mod media_type;
mod parser;
mod writer;

pub use media_type::{MediaType, StowBody, parse_media_type, stow_body};
pub use parser::{Event, Limits, MultipartParser, MultipartReader, PartHeaders};
pub use writer::{MultipartWriter, dicom_part_type, frame_part_type, new_boundary};
