use crate::Error;

/// A parsed media type: `type/subtype` plus parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    /// `type/subtype`, lower-cased.
    pub essence: String,
    /// Parameters in order; names lower-cased, values unquoted (case kept).
    pub params: Vec<(String, String)>,
}

impl MediaType {
    /// The value of parameter `name` (case-insensitive name).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a media type such as `multipart/related; type="application/dicom"; boundary=abc`.
/// Parameter values may be tokens or quoted strings (with `\` escapes).
pub fn parse_media_type(s: &str) -> Result<MediaType, Error> {
    let unsupported = || Error::UnsupportedContentType(s.to_owned());
    let (essence, mut rest) = match s.find(';') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    };
    let essence = essence.trim().to_ascii_lowercase();
    match essence.split_once('/') {
        Some((t, st)) if !t.is_empty() && !st.is_empty() && !st.contains('/') => {}
        _ => return Err(unsupported()),
    }
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        rest = rest.strip_prefix(';').ok_or_else(unsupported)?.trim_start();
        if rest.is_empty() {
            break; // a trailing ';' is tolerated, as `type="application/dicom";` in Azure's docs
        }
        let eq = rest.find('=').ok_or_else(unsupported)?;
        let name = rest[..eq].trim().to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => out.extend(chars.next().map(|(_, c)| c)),
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => out.push(c),
                }
            }
            let end = end.ok_or_else(unsupported)?;
            value = out;
            rest = &quoted[end..];
        } else {
            let end = rest.find(';').unwrap_or(rest.len());
            value = rest[..end].trim().to_owned();
            rest = &rest[end..];
        }
        if name.is_empty() {
            return Err(unsupported());
        }
        params.push((name, value));
    }
    Ok(MediaType { essence, params })
}

/// How a STOW-RS request body is framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StowBody {
    /// `multipart/related; type="application/dicom"; boundary=...`.
    Multipart {
        /// The boundary, without the leading `--`.
        boundary: String,
    },
    /// `application/dicom`: the body is one instance.
    Single,
}

/// Checks a STOW-RS `Content-Type` as Azure does: `multipart/related` whose
/// `type` (when given) is `application/dicom`, or `application/dicom`.
/// Anything else is 415; a multipart type without boundary is 400.
pub fn stow_body(content_type: &str) -> Result<StowBody, Error> {
    let mt = parse_media_type(content_type)?;
    match mt.essence.as_str() {
        "application/dicom" => Ok(StowBody::Single),
        "multipart/related" => {
            if let Some(t) = mt.param("type")
                && !t.trim().eq_ignore_ascii_case("application/dicom")
            {
                return Err(Error::UnsupportedContentType(content_type.to_owned()));
            }
            match mt.param("boundary") {
                Some(b) if !b.is_empty() && b.len() <= 70 => Ok(StowBody::Multipart {
                    boundary: b.to_owned(),
                }),
                _ => Err(Error::MissingBoundary),
            }
        }
        _ => Err(Error::UnsupportedContentType(content_type.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types() {
        let mt =
            parse_media_type(r#"Multipart/Related; type="application/dicom"; boundary="a b\"c""#)
                .unwrap();
        assert_eq!(mt.essence, "multipart/related");
        assert_eq!(mt.param("TYPE"), Some("application/dicom"));
        assert_eq!(mt.param("boundary"), Some("a b\"c"));
        let mt =
            parse_media_type("multipart/related;type=application/dicom;boundary=xyz;").unwrap();
        assert_eq!(mt.param("boundary"), Some("xyz"));
        assert!(parse_media_type("garbage").is_err());
        assert!(parse_media_type("a/b; =x").is_err());
        assert!(parse_media_type("a/b; x=\"open").is_err());
    }

    #[test]
    fn stow_content_types() {
        let b = |s: &str| stow_body(s);
        assert_eq!(
            b(r#"multipart/related; type="application/dicom"; boundary=XYZ"#),
            Ok(StowBody::Multipart {
                boundary: "XYZ".into()
            })
        );
        assert_eq!(
            b("multipart/related; boundary=\"q r\""),
            Ok(StowBody::Multipart {
                boundary: "q r".into()
            })
        );
        assert_eq!(b("application/dicom"), Ok(StowBody::Single));
        assert_eq!(
            b(r#"multipart/related; type="application/dicom""#),
            Err(Error::MissingBoundary)
        );
        assert_eq!(
            b(r#"multipart/related; type="application/dicom+json"; boundary=x"#)
                .unwrap_err()
                .status(),
            415
        );
        assert_eq!(b("application/json").unwrap_err().status(), 415);
        assert_eq!(b("").unwrap_err().status(), 415);
    }
}
