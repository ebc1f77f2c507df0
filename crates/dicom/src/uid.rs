//! DICOM unique identifiers as Azure accepts them.
//!
//! Azure's rule for the identifiers it requires (study, series, SOP instance,
//! SOP class UIDs) is more lenient than PS3.5 §9: "between 1 and 64 characters
//! long, and only contain alpha numeric characters or `.`, `-`" — so GUID-style
//! identifiers pass. [`is_standard_uid`] is the strict PS3.5 rule, used only to
//! produce warnings.

use std::fmt;

use crate::Error;

/// A DICOM identifier that passed Azure's identifier rule ([`is_valid_identifier`]).
///
/// Trailing spaces and NULs (DICOM padding) are removed on construction.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uid(String);

impl Uid {
    /// Parses an identifier, naming it `name` in the error (e.g. `"StudyInstanceUid"`).
    pub fn parse(name: &'static str, value: &str) -> Result<Uid, Error> {
        let trimmed = trim_padding(value);
        if is_valid_identifier(trimmed) {
            Ok(Uid(trimmed.to_owned()))
        } else {
            Err(Error::InvalidIdentifier {
                name,
                value: value.to_owned(),
            })
        }
    }

    /// The identifier text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Uid {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Azure's identifier rule: 1 to 64 characters from `[A-Za-z0-9.-]`.
pub fn is_valid_identifier(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// The PS3.5 §9.1 rule: 1 to 64 characters, digits and dots, components
/// non-empty and without leading zeros (a lone `0` is allowed).
pub fn is_standard_uid(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 64
        && value.split('.').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_digit())
                && (c == "0" || !c.starts_with('0'))
        })
}

/// Removes DICOM value padding: trailing spaces and NULs.
pub(crate) fn trim_padding(value: &str) -> &str {
    value.trim_end_matches([' ', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        for ok in [
            "1.2.840.10008.1.2.1",
            "d09e8215-e1e1-4c7a-8496-b4f6641ed232",
            "A",
            &"1".repeat(64),
        ] {
            assert!(is_valid_identifier(ok), "{ok}");
        }
        for bad in ["", "1.2 3", "1.2_3", "1.2^3", &"1".repeat(65), "ü"] {
            assert!(!is_valid_identifier(bad), "{bad}");
        }
        assert_eq!(
            Uid::parse("StudyInstanceUid", "1.2.3 \0").unwrap().as_str(),
            "1.2.3"
        );
        assert_eq!(
            Uid::parse("StudyInstanceUid", "1,2").unwrap_err().status(),
            400
        );
    }

    #[test]
    fn standard_uids() {
        assert!(is_standard_uid("1.2.840.10008.5.1.4.1.1.2"));
        assert!(is_standard_uid("1.0.3"));
        assert!(!is_standard_uid("1.02.3"));
        assert!(!is_standard_uid("1..3"));
        assert!(!is_standard_uid("1.2.a"));
        assert!(!is_standard_uid(""));
    }
}
