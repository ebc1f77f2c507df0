//! The crate's one error type.

use thiserror::Error;

/// Everything that can go wrong in this crate outside of STOW ingestion
/// (whose per-instance outcome is a [`crate::Rejection`], not an error).
///
/// Messages are Azure's where Azure has one: Azure's DICOM service answers
/// errors with a plain-text body holding just the message.
/// [`Error::status`] gives the HTTP status Azure uses for each case.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    /// The `Content-Type` is not something the operation accepts (415).
    #[error("The specified content type '{0}' is not supported.")]
    UnsupportedContentType(String),
    /// A `multipart/related` `Content-Type` without a `boundary` parameter (400).
    #[error("The multipart request is missing the boundary parameter in its Content-Type.")]
    MissingBoundary,
    /// The multipart body is malformed: no opening delimiter, bad part headers, ... (400).
    #[error("The multipart body is malformed: {0}")]
    MalformedMultipart(&'static str),
    /// The multipart body ended before its closing delimiter (400).
    #[error("The multipart body ended before its closing delimiter.")]
    TruncatedMultipart,
    /// One part, or the whole body, exceeds the configured limit (413).
    #[error("The request exceeds the maximum allowed size of {limit} bytes.")]
    PayloadTooLarge {
        /// The limit that was exceeded, in bytes.
        limit: u64,
    },
    /// A UID in the request path is not a valid DICOM identifier (400).
    #[error(
        "DICOM Identifier '{name}' value '{value}' is invalid. Value length should not exceed the maximum length of 64 characters. Value should contain characters in '0'-'9' and '.'. Each component must start with non-zero number."
    )]
    InvalidIdentifier {
        /// Which identifier (`StudyInstanceUid`, ...).
        name: &'static str,
        /// The offending value.
        value: String,
    },
    /// A QIDO-RS query parameter is invalid; the message is Azure's (400).
    #[error("{0}")]
    InvalidQuery(String),
    /// The `/frames/{list}` value is not a list of positive integers (400).
    #[error(
        "The specified frames value is not valid. At least one frame must be present, and all requested frames must have value greater than 0."
    )]
    InvalidFrames,
    /// A requested frame does not exist in the instance (404).
    #[error("The specified frame cannot be found.")]
    FrameNotFound,
    /// The stored instance has no pixel data, or pixel data whose frames
    /// cannot be located (404 for frames and rendered).
    #[error("The specified instance does not contain pixel data.")]
    NoPixelData,
    /// The instance cannot be rendered: transfer syntax without a decoder,
    /// pixel data the decoder refuses, or too large (406, as Azure answers).
    #[error("The requested DICOM instance cannot be rendered: {0}.")]
    NotRenderable(String),
    /// The instance cannot be sent in the requested transfer syntax: no
    /// encoder for it, no decoder for the stored one, pixel data the decoder
    /// refuses, or too large (406, as Azure answers).
    #[error("{0}")]
    NotTranscodable(String),
    /// A stored instance could not be read back (500-class: the store is corrupt).
    #[error("The stored DICOM instance could not be read: {0}")]
    UnreadableInstance(String),
}

impl Error {
    /// The HTTP status Azure's DICOM service answers with for this error.
    pub fn status(&self) -> u16 {
        match self {
            Error::UnsupportedContentType(_) => 415,
            Error::MissingBoundary
            | Error::MalformedMultipart(_)
            | Error::TruncatedMultipart
            | Error::InvalidIdentifier { .. }
            | Error::InvalidQuery(_)
            | Error::InvalidFrames => 400,
            Error::PayloadTooLarge { .. } => 413,
            Error::FrameNotFound | Error::NoPixelData => 404,
            Error::NotRenderable(_) | Error::NotTranscodable(_) => 406,
            Error::UnreadableInstance(_) => 500,
        }
    }
}
