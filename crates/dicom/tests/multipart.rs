mod common;

use bytes::Bytes;
use hale_dicom::multipart::*;
use hale_dicom::{ApiVersion, Error, IngestOptions, ingest};

fn body(boundary: &str, parts: &[(&str, &[u8])]) -> Vec<u8> {
    MultipartWriter::new(boundary).body(parts.iter().map(|(c, d)| (*c, *d)))
}

/// Feeds `body` in chunks of every size from 1 to 40 bytes and collects parts.
fn parse_all(
    boundary: &str,
    body: &[u8],
    chunk: usize,
    limits: Limits,
) -> Result<Vec<(PartHeaders, Vec<u8>)>, Error> {
    let mut p = MultipartParser::new(boundary, limits);
    let mut parts: Vec<(PartHeaders, Vec<u8>)> = Vec::new();
    let mut chunks = body.chunks(chunk);
    loop {
        match p.next_event()? {
            None => match chunks.next() {
                Some(c) => p.feed(c)?,
                None => p.finish(),
            },
            Some(Event::PartStart(h)) => parts.push((h, Vec::new())),
            Some(Event::Data(d)) => {
                assert!(!d.is_empty());
                parts.last_mut().unwrap().1.extend_from_slice(&d)
            }
            Some(Event::PartEnd) => {}
            Some(Event::End) => return Ok(parts),
        }
    }
}

#[test]
fn round_trips_dicom_parts_at_every_chunk_size() {
    let corpus = common::corpus();
    let parts: Vec<(&str, &[u8])> = corpus
        .iter()
        .map(|(_, b)| ("application/dicom", b.as_slice()))
        .collect();
    let b = body("XyZ-boundary", &parts);
    for chunk in (1..40).chain([4096, b.len()]) {
        let got = parse_all("XyZ-boundary", &b, chunk, Limits::default()).unwrap();
        assert_eq!(got.len(), corpus.len());
        for ((h, data), (_, original)) in got.iter().zip(&corpus) {
            assert_eq!(h.get("Content-Type"), Some("application/dicom"));
            h.check_stow_part().unwrap();
            assert_eq!(data, original, "chunk {chunk}");
        }
    }
    // The parts ingest.
    let opts = IngestOptions {
        api: ApiVersion::V2,
        study_in_path: None,
    };
    let mut reader = MultipartReader::new(&b[..], "XyZ-boundary", Limits::default(), 1000);
    let mut n = 0;
    while let Some((_, data)) = reader.next_part().unwrap() {
        ingest(data, &opts).unwrap();
        n += 1;
    }
    assert_eq!(n, corpus.len());
}

#[test]
fn preamble_epilogue_padding_and_crlf_in_data() {
    // Partial delimiters in the data; RFC 2046 forbids the full one.
    let data: &[u8] = b"line1\r\n--notTheBoundary\r\n--bn\r\n-bnd\r\r\n--b\r\nend";
    let mut b = b"This is a preamble.\r\n--bnd \t\r\nContent-Type: application/dicom\r\nX-Extra: a\r\n  folded\r\n\r\n"
        .to_vec();
    b.extend_from_slice(data);
    b.extend_from_slice(b"\r\n--bnd\r\n\r\n\r\n--bnd--\r\nepilogue ignored");
    for chunk in 1..20 {
        let got = parse_all("bnd", &b, chunk, Limits::default()).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1, data);
        assert_eq!(got[0].0.get("x-extra"), Some("a folded"));
        assert_eq!(got[1].0.fields, vec![]);
        assert_eq!(got[1].1, b"");
    }
}

#[test]
fn errors() {
    let good = body("b", &[("application/dicom", b"0123456789")]);
    // Truncated anywhere before the closing delimiter.
    for cut in [3, 10, good.len() - 6, good.len() - 3] {
        assert_eq!(
            parse_all("b", &good[..cut], 4, Limits::default()).unwrap_err(),
            Error::TruncatedMultipart,
            "{cut}"
        );
    }
    // No boundary in the body.
    assert_eq!(
        parse_all("other", &good, 4, Limits::default()).unwrap_err(),
        Error::MalformedMultipart("the opening boundary delimiter is missing")
    );
    // Per-part and whole-body limits.
    let small = Limits {
        max_part_bytes: 9,
        ..Limits::default()
    };
    assert_eq!(
        parse_all("b", &good, 4, small).unwrap_err(),
        Error::PayloadTooLarge { limit: 9 }
    );
    let small = Limits {
        max_body_bytes: 20,
        ..Limits::default()
    };
    assert_eq!(parse_all("b", &good, 4, small).unwrap_err().status(), 413);
    // Bad headers.
    let bad = b"--b\r\nno colon here\r\n\r\ndata\r\n--b--".to_vec();
    assert_eq!(
        parse_all("b", &bad, 4, Limits::default())
            .unwrap_err()
            .status(),
        400
    );
    let huge = format!("--b\r\nX: {}\r\n\r\n\r\n--b--", "a".repeat(20_000));
    assert_eq!(
        parse_all("b", huge.as_bytes(), 512, Limits::default()).unwrap_err(),
        Error::MalformedMultipart("part headers are too large")
    );
    // Empty body: no parts (STOW answers 204).
    assert_eq!(parse_all("b", b"", 4, Limits::default()).unwrap(), vec![]);
    // Wrong part type.
    let h = PartHeaders {
        fields: vec![("Content-Type".into(), "application/json".into())],
    };
    assert_eq!(h.check_stow_part().unwrap_err().status(), 415);
}

#[test]
fn writer_content_types_and_boundaries() {
    let w = MultipartWriter::new("abc");
    assert_eq!(
        w.content_type("application/dicom", Some("*")),
        "multipart/related; type=\"application/dicom\"; transfer-syntax=*; boundary=abc"
    );
    assert_eq!(
        dicom_part_type("1.2.840.10008.1.2.1"),
        "application/dicom; transfer-syntax=1.2.840.10008.1.2.1"
    );
    assert_eq!(
        frame_part_type("*"),
        "application/octet-stream; transfer-syntax=*"
    );
    assert_eq!(
        w.body([("application/octet-stream", &b"F1"[..])]),
        b"--abc\r\nContent-Type: application/octet-stream\r\n\r\nF1\r\n--abc--\r\n"
    );
    let (a, b) = (new_boundary(), new_boundary());
    assert_ne!(a, b);
    assert_eq!(a.len(), 32);
    // What the writer produces, the parser reads back.
    let body = w.body([
        ("application/dicom", &b"x"[..]),
        ("application/dicom", &b""[..]),
    ]);
    let got = parse_all("abc", &body, 3, Limits::default()).unwrap();
    assert_eq!(
        got.iter().map(|p| p.1.clone()).collect::<Vec<_>>(),
        vec![b"x".to_vec(), vec![]]
    );
    let _ = Bytes::new();
}

/// Parts are assembled from the parser's buffer without copying: the pieces
/// of a part that lie in one buffer block follow each other in memory, and
/// `InstanceBuffer` joins them in place.
#[test]
fn parts_are_joined_in_place() {
    use hale_dicom::InstanceBuffer;
    let parts: Vec<Vec<u8>> = (0..3u8)
        .map(|p| {
            (0..300_000u32)
                .map(|i| (i as u8) ^ p.wrapping_mul(37))
                .collect()
        })
        .collect();
    let body = body(
        "hale-join",
        &parts
            .iter()
            .map(|p| ("application/dicom", p.as_slice()))
            .collect::<Vec<_>>(),
    );
    let mut p = MultipartParser::new(
        "hale-join",
        Limits {
            max_part_bytes: 1 << 30,
            max_body_bytes: 1 << 30,
            max_header_bytes: 16 * 1024,
        },
    );
    let mut chunks = body.chunks(16 * 1024);
    let (mut got, mut current) = (Vec::new(), None::<InstanceBuffer>);
    let (mut pieces, mut joined_in_place) = (0, 0);
    let mut end: Option<*const u8> = None;
    let mut first: Option<*const u8> = None;
    loop {
        match p.next_event().unwrap() {
            None => match chunks.next() {
                Some(c) => p.feed(c).unwrap(),
                None => p.finish(),
            },
            Some(Event::PartStart(_)) => {
                current = Some(InstanceBuffer::new(1 << 30));
                (end, first) = (None, None);
            }
            Some(Event::Data(d)) => {
                pieces += 1;
                if end == Some(d.as_ptr()) {
                    joined_in_place += 1;
                }
                first.get_or_insert(d.as_ptr());
                end = Some(d.as_ptr().wrapping_add(d.len()));
                current.as_mut().unwrap().push_split(d).unwrap();
            }
            Some(Event::PartEnd) => {
                let part = current.take().unwrap().into_bytes();
                assert_eq!(Some(part.as_ptr()), first, "the part was not copied");
                got.push(part);
            }
            Some(Event::End) => break,
        }
    }
    assert_eq!(
        got,
        parts
            .iter()
            .map(|p| Bytes::from(p.clone()))
            .collect::<Vec<_>>()
    );
    // 900 KB fit in one 4 MiB block: every piece but each part's first follows
    // the one before it.
    assert!(pieces > 3 * 10, "{pieces} pieces");
    assert_eq!(joined_in_place, pieces - 3);
}
