//! A tiny, bounds-checked DER reader: just enough to walk an X.509 certificate
//! to its SubjectPublicKeyInfo and an RSA SubjectPublicKeyInfo to its modulus
//! and exponent. It never allocates and never panics on hostile input.
//!
//! Only single-byte tags (tag numbers < 31) and definite lengths are accepted;
//! lengths must be minimally encoded, as DER requires.

/// Universal tags used by the callers.
pub(crate) const TAG_INTEGER: u8 = 0x02;
pub(crate) const TAG_BIT_STRING: u8 = 0x03;
pub(crate) const TAG_NULL: u8 = 0x05;
pub(crate) const TAG_OID: u8 = 0x06;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;
/// `[0] EXPLICIT`, constructed, context-specific: the certificate version.
pub(crate) const TAG_CONTEXT_0: u8 = 0xA0;

/// Why a DER walk stopped. Callers turn it into their own error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DerError(pub(crate) &'static str);

/// One TLV element: its tag, its contents and its complete encoding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Element<'a> {
    pub(crate) tag: u8,
    pub(crate) contents: &'a [u8],
    /// Tag, length and contents together, as they appeared in the input.
    pub(crate) raw: &'a [u8],
}

/// A cursor over a sequence of DER elements.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    input: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Reader { input }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.input.is_empty()
    }

    /// Tag of the next element, without consuming it.
    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.input.first().copied()
    }

    /// Reads the next element, whatever its tag.
    pub(crate) fn read_any(&mut self) -> Result<Element<'a>, DerError> {
        let input = self.input;
        let (&tag, rest) = input.split_first().ok_or(DerError("truncated tag"))?;
        if tag & 0x1F == 0x1F {
            return Err(DerError("multi-byte tag"));
        }
        let (&first, mut rest) = rest.split_first().ok_or(DerError("truncated length"))?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7F);
            if count == 0 {
                return Err(DerError("indefinite length"));
            }
            if count > 4 {
                return Err(DerError("length too large"));
            }
            if rest.len() < count {
                return Err(DerError("truncated length"));
            }
            let (bytes, after) = rest.split_at(count);
            rest = after;
            if bytes[0] == 0 {
                return Err(DerError("non-minimal length"));
            }
            let len = bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            if len < 0x80 {
                return Err(DerError("non-minimal length"));
            }
            len
        };
        if rest.len() < len {
            return Err(DerError("truncated contents"));
        }
        let (contents, after) = rest.split_at(len);
        let header_len = input.len() - rest.len();
        let raw = &input[..header_len + len];
        self.input = after;
        Ok(Element { tag, contents, raw })
    }

    /// Reads the next element and checks its tag.
    pub(crate) fn read(&mut self, tag: u8) -> Result<Element<'a>, DerError> {
        let element = self.read_any()?;
        if element.tag != tag {
            return Err(DerError("unexpected tag"));
        }
        Ok(element)
    }

    /// Reads a SEQUENCE and returns a reader over its contents.
    pub(crate) fn read_sequence(&mut self) -> Result<Reader<'a>, DerError> {
        Ok(Reader::new(self.read(TAG_SEQUENCE)?.contents))
    }

    /// Fails unless every byte has been consumed.
    pub(crate) fn finish(&self) -> Result<(), DerError> {
        if self.input.is_empty() {
            Ok(())
        } else {
            Err(DerError("trailing data"))
        }
    }
}

/// The contents of a DER INTEGER that must be positive, without the leading
/// zero byte DER adds when the top bit is set.
pub(crate) fn positive_integer(contents: &[u8]) -> Result<&[u8], DerError> {
    match contents {
        [] => Err(DerError("empty integer")),
        [first, ..] if first & 0x80 != 0 => Err(DerError("negative integer")),
        [0] => Err(DerError("zero integer")),
        [0, second, ..] if second & 0x80 == 0 => Err(DerError("non-minimal integer")),
        [0, rest @ ..] => Ok(rest),
        _ => Ok(contents),
    }
}

/// Appends a DER length to `out`.
pub(crate) fn push_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Appends a DER INTEGER holding the unsigned big-endian `magnitude` (which
/// must have no leading zero bytes).
pub(crate) fn push_unsigned_integer(out: &mut Vec<u8>, magnitude: &[u8]) {
    let pad = magnitude.first().is_some_and(|b| b & 0x80 != 0);
    out.push(TAG_INTEGER);
    push_length(out, magnitude.len() + usize::from(pad));
    if pad {
        out.push(0);
    }
    out.extend_from_slice(magnitude);
}

#[cfg(test)]
mod tests {
    use super::*;

    type Case<'a, T> = (&'a [u8], Result<T, DerError>);

    #[test]
    fn reads_short_and_long_lengths() {
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend(std::iter::repeat_n(7u8, 0x80));
        let cases: &[Case<(u8, usize)>] = &[
            (&[0x02, 0x01, 0x05], Ok((0x02, 1))),
            (&[0x30, 0x00], Ok((0x30, 0))),
            (&long, Ok((0x04, 0x80))),
            (&[], Err(DerError("truncated tag"))),
            (&[0x02], Err(DerError("truncated length"))),
            (&[0x02, 0x02, 0x01], Err(DerError("truncated contents"))),
            (
                &[0x30, 0x80, 0x00, 0x00],
                Err(DerError("indefinite length")),
            ),
            (&[0x1F, 0x01, 0x00], Err(DerError("multi-byte tag"))),
            (
                &[0x04, 0x81, 0x05, 1, 2, 3, 4, 5],
                Err(DerError("non-minimal length")),
            ),
            (
                &[0x04, 0x82, 0x00, 0x80],
                Err(DerError("non-minimal length")),
            ),
            (
                &[0x04, 0x85, 1, 1, 1, 1, 1],
                Err(DerError("length too large")),
            ),
            (
                &[0x04, 0x84, 0x7F, 0xFF, 0xFF, 0xFF],
                Err(DerError("truncated contents")),
            ),
        ];
        for (input, expected) in cases {
            let got = Reader::new(input)
                .read_any()
                .map(|e| (e.tag, e.contents.len()));
            assert_eq!(&got, expected, "input {input:02x?}");
        }
    }

    #[test]
    fn positive_integers() {
        let cases: &[Case<&[u8]>] = &[
            (&[0x01], Ok(&[0x01])),
            (&[0x00, 0x80], Ok(&[0x80])),
            (&[0x7F, 0x00], Ok(&[0x7F, 0x00])),
            (&[], Err(DerError("empty integer"))),
            (&[0x00], Err(DerError("zero integer"))),
            (&[0x80], Err(DerError("negative integer"))),
            (&[0x00, 0x01], Err(DerError("non-minimal integer"))),
        ];
        for (input, expected) in cases {
            assert_eq!(&positive_integer(input), expected, "input {input:02x?}");
        }
    }

    #[test]
    fn integer_encoding_round_trips() {
        for magnitude in [&[0x01][..], &[0x80], &[0x7F; 200], &[0xFF; 300]] {
            let mut out = Vec::new();
            push_unsigned_integer(&mut out, magnitude);
            let mut reader = Reader::new(&out);
            let element = reader.read(TAG_INTEGER).unwrap();
            reader.finish().unwrap();
            assert_eq!(positive_integer(element.contents).unwrap(), magnitude);
        }
    }
}
