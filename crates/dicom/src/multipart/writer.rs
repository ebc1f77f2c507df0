use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

/// Writes a `multipart/related` response body part by part.
///
/// ```
/// use hale_dicom::multipart::{MultipartWriter, dicom_part_type};
/// let w = MultipartWriter::new("b0undary");
/// let mut body = Vec::new();
/// body.extend_from_slice(&w.part_header(&dicom_part_type("1.2.840.10008.1.2.1")));
/// body.extend_from_slice(b"DICM...");
/// body.extend_from_slice(&w.part_end());
/// body.extend_from_slice(&w.finish());
/// assert_eq!(w.content_type("application/dicom", None),
///            "multipart/related; type=\"application/dicom\"; boundary=b0undary");
/// ```
#[derive(Debug, Clone)]
pub struct MultipartWriter {
    boundary: String,
}

impl MultipartWriter {
    /// A writer with this boundary (see [`new_boundary`]).
    pub fn new(boundary: impl Into<String>) -> MultipartWriter {
        MultipartWriter {
            boundary: boundary.into(),
        }
    }

    /// The boundary.
    pub fn boundary(&self) -> &str {
        &self.boundary
    }

    /// The response `Content-Type`: `multipart/related; type="{part_type}"`,
    /// then `transfer-syntax=` when given, then the boundary.
    pub fn content_type(&self, part_type: &str, transfer_syntax: Option<&str>) -> String {
        match transfer_syntax {
            Some(ts) => {
                format!(
                    "multipart/related; type=\"{part_type}\"; transfer-syntax={ts}; boundary={}",
                    self.boundary
                )
            }
            None => format!(
                "multipart/related; type=\"{part_type}\"; boundary={}",
                self.boundary
            ),
        }
    }

    /// The delimiter and headers that open a part.
    pub fn part_header(&self, content_type: &str) -> Bytes {
        Bytes::from(format!(
            "--{}\r\nContent-Type: {content_type}\r\n\r\n",
            self.boundary
        ))
    }

    /// What follows a part's bytes.
    pub fn part_end(&self) -> Bytes {
        Bytes::from_static(b"\r\n")
    }

    /// The closing delimiter.
    pub fn finish(&self) -> Bytes {
        Bytes::from(format!("--{}--\r\n", self.boundary))
    }

    /// A whole body from `(content type, bytes)` parts (small responses, tests).
    pub fn body<'a>(&self, parts: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Vec<u8> {
        let mut out = Vec::new();
        for (ct, data) in parts {
            out.extend_from_slice(&self.part_header(ct));
            out.extend_from_slice(data);
            out.extend_from_slice(&self.part_end());
        }
        out.extend_from_slice(&self.finish());
        out
    }
}

/// A part `Content-Type` for a DICOM instance: `application/dicom; transfer-syntax={ts}`.
pub fn dicom_part_type(transfer_syntax: &str) -> String {
    format!("application/dicom; transfer-syntax={transfer_syntax}")
}

/// A part `Content-Type` for a frame: `application/octet-stream; transfer-syntax={ts}`.
pub fn frame_part_type(transfer_syntax: &str) -> String {
    format!("application/octet-stream; transfer-syntax={transfer_syntax}")
}

/// A fresh boundary: 32 hex digits, unpredictable enough not to occur in
/// DICOM data by chance (from the process's random hash keys and a counter).
pub fn new_boundary() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut parts = [0u64; 2];
    for (i, p) in parts.iter_mut().enumerate() {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(n);
        h.write_usize(i);
        *p = h.finish();
    }
    format!("{:016x}{:016x}", parts[0], parts[1])
}
