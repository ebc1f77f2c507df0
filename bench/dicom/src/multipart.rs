//! multipart/related framing for the benchmark: STOW request bodies, and a
//! strict splitter for WADO answers (written separately from Hale's own parser,
//! so that a bug there cannot hide here).

use anyhow::{Context, bail};

pub const BOUNDARY: &str = "hale-bench-dicom-7d1f0c2a9b";

/// A STOW-RS body of `application/dicom` parts.
pub fn stow_body<'a>(instances: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut body = Vec::new();
    for bytes in instances {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

pub fn stow_content_type() -> String {
    format!("multipart/related; type=\"application/dicom\"; boundary={BOUNDARY}")
}

/// The `boundary` parameter of a multipart Content-Type.
pub fn boundary(content_type: &str) -> anyhow::Result<String> {
    let (kind, params) = content_type
        .split_once(';')
        .with_context(|| format!("no parameters in Content-Type {content_type:?}"))?;
    if !kind.trim().eq_ignore_ascii_case("multipart/related") {
        bail!("Content-Type {content_type:?} is not multipart/related");
    }
    for param in params.split(';') {
        if let Some((name, value)) = param.split_once('=')
            && name.trim().eq_ignore_ascii_case("boundary")
        {
            return Ok(value.trim().trim_matches('"').to_owned());
        }
    }
    bail!("no boundary in Content-Type {content_type:?}")
}

/// The bodies of the parts of a multipart body (headers checked for shape only).
pub fn parts<'a>(body: &'a [u8], boundary: &str) -> anyhow::Result<Vec<&'a [u8]>> {
    let open = format!("--{boundary}");
    let delimiter = format!("\r\n--{boundary}");
    let finder = memchr::memmem::Finder::new(delimiter.as_bytes());
    // The first delimiter may open the body, without a CRLF before it.
    let mut pos = if body.starts_with(open.as_bytes()) {
        open.len()
    } else {
        finder
            .find(body)
            .map(|p| p + delimiter.len())
            .context("no opening boundary")?
    };
    let mut parts = Vec::new();
    loop {
        let rest = &body[pos..];
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        // Transport padding, then CRLF, then headers up to an empty line.
        let line_end = memchr::memmem::find(rest, b"\r\n").context("truncated boundary line")?;
        let headers_start = pos + line_end + 2;
        let headers_end = if body[headers_start..].starts_with(b"\r\n") {
            headers_start
        } else {
            headers_start
                + memchr::memmem::find(&body[headers_start..], b"\r\n\r\n")
                    .context("truncated part headers")?
                + 2
        };
        let content_start = headers_end + 2;
        let next = finder
            .find(&body[content_start..])
            .context("a part without a closing boundary")?;
        parts.push(&body[content_start..content_start + next]);
        pos = content_start + next + delimiter.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let a = b"first\r\n--not-the-boundary".to_vec();
        let b = vec![0u8, 1, 2, 3];
        let body = stow_body([a.as_slice(), b.as_slice()].into_iter());
        let got = parts(&body, &boundary(&stow_content_type()).unwrap()).unwrap();
        assert_eq!(got, vec![a.as_slice(), b.as_slice()]);
    }

    #[test]
    fn preamble_and_quoted_boundary() {
        let body =
            b"preamble\r\n--xyz\r\nContent-Type: application/octet-stream\r\n\r\nabc\r\n--xyz--";
        let b = boundary("multipart/related; type=\"application/octet-stream\"; boundary=\"xyz\"")
            .unwrap();
        assert_eq!(parts(body, &b).unwrap(), vec![b"abc".as_slice()]);
        assert!(parts(b"--xyz\r\n\r\nabc", "xyz").is_err());
        assert!(boundary("application/dicom").is_err());
    }
}
