//! How bodies are stored: zstd against a fixed dictionary of FHIR R4 JSON
//! vocabulary (element names, common code systems, frequent fragments), so
//! that even a single small resource compresses well.
//!
//! The first byte says the format: `{` is plain JSON (small bodies, or ones
//! that would not shrink), `1` is zstd with `body-dictionary-v1.txt`. The
//! dictionary must never change once data is written with it; a new one gets
//! a new format byte and the old one stays for reading.

use std::cell::RefCell;

use hale_store::StoreError;

const DICTIONARY_V1: &[u8] = include_bytes!("body-dictionary-v1.txt");
const ZSTD_V1: u8 = 1;
/// Below this, compression does not pay for its frame header.
const MIN_COMPRESSED: usize = 96;
/// The largest body a stored frame may expand to.
const MAX_BODY: usize = 64 * 1024 * 1024;
const LEVEL: i32 = 3;

thread_local! {
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

/// The stored form of a JSON body (CPU work: callers may do it before
/// their write transaction and hand it over in [`crate::NewVersion::stored`]).
pub fn encode(json: &[u8]) -> Vec<u8> {
    if json.len() < MIN_COMPRESSED {
        return json.to_vec();
    }
    let compressed = COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = zstd::bulk::Compressor::with_dictionary(LEVEL, DICTIONARY_V1).ok();
        }
        slot.as_mut().and_then(|c| c.compress(json).ok())
    });
    match compressed {
        Some(c) if c.len() + 1 < json.len() => {
            let mut out = Vec::with_capacity(c.len() + 1);
            out.push(ZSTD_V1);
            out.extend_from_slice(&c);
            out
        }
        _ => json.to_vec(),
    }
}

/// The JSON body of a stored form.
pub(crate) fn decode(stored: Vec<u8>) -> Result<Vec<u8>, StoreError> {
    match stored.first() {
        Some(&ZSTD_V1) => DECOMPRESSOR.with(|cell| {
            let mut slot = cell.borrow_mut();
            if slot.is_none() {
                *slot = Some(
                    zstd::bulk::Decompressor::with_dictionary(DICTIONARY_V1)
                        .map_err(|e| StoreError::Decode(format!("zstd dictionary: {e}")))?,
                );
            }
            let d = slot
                .as_mut()
                .ok_or_else(|| StoreError::Decode("no decompressor".into()))?;
            // The frame says how big the body is (the compressor records
            // it): a buffer of that size, not of the largest body possible,
            // which cost a fresh 64 MiB allocation on every read. A frame
            // that lies about it fails to decompress, as a corrupt one.
            let frame = &stored[1..];
            let capacity = match zstd::zstd_safe::get_frame_content_size(frame) {
                Ok(Some(n)) if n <= MAX_BODY as u64 => n as usize,
                _ => MAX_BODY,
            };
            d.decompress(frame, capacity)
                .map_err(|e| StoreError::Decode(format!("a stored FHIR body is corrupt: {e}")))
        }),
        _ => Ok(stored),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_shrinks() {
        let small = br#"{"resourceType":"Patient","id":"a"}"#;
        assert_eq!(encode(small), small.to_vec(), "small bodies stay plain");
        assert_eq!(decode(encode(small)).unwrap(), small.to_vec());
        let obs = serde_json::json!({
            "resourceType": "Observation", "id": "0b7c5f3e-2a8e-4a55-9d5b-7c0e4e1f9a11",
            "meta": { "versionId": "1", "lastUpdated": "2026-12-03T07:00:00.000+00:00" },
            "status": "final",
            "category": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs", "display": "vital-signs" }] }],
            "code": { "coding": [{ "system": "http://loinc.org", "code": "8867-4", "display": "Heart rate" }], "text": "Heart rate" },
            "subject": { "reference": "Patient/5d2e7c1a-1b9f-4c3e-8a7d-2f6e9b0c4d12" },
            "effectiveDateTime": "2019-05-10T10:00:00+00:00",
            "valueQuantity": { "value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min" }
        })
        .to_string()
        .into_bytes();
        let stored = encode(&obs);
        assert_eq!(stored[0], ZSTD_V1);
        assert!(
            stored.len() * 2 < obs.len(),
            "{} → {}",
            obs.len(),
            stored.len()
        );
        assert_eq!(decode(stored).unwrap(), obs);
        assert!(decode(vec![ZSTD_V1, 1, 2, 3]).is_err());
    }

    #[test]
    fn frames_with_and_without_their_size_decode() {
        let big: Vec<u8> = format!(
            r#"{{"resourceType":"Binary","id":"b","data":"{}"}}"#,
            "QUJD".repeat(100_000)
        )
        .into_bytes();
        let stored = encode(&big);
        assert_eq!(stored[0], ZSTD_V1);
        assert_eq!(decode(stored.clone()).unwrap(), big);
        // A frame cut short fails, whatever size its header promised.
        assert!(decode(stored[..stored.len() / 2].to_vec()).is_err());

        // Frames that do not record their size (none of ours, but readable).
        let mut c = zstd::bulk::Compressor::with_dictionary(LEVEL, DICTIONARY_V1).unwrap();
        c.include_contentsize(false).unwrap();
        let mut unsized_frame = vec![ZSTD_V1];
        unsized_frame.extend(c.compress(&big).unwrap());
        assert_eq!(
            zstd::zstd_safe::get_frame_content_size(&unsized_frame[1..]).unwrap(),
            None
        );
        assert_eq!(decode(unsized_frame).unwrap(), big);
    }
}
