//! Azure's name rules for the resources Hale's resource manager holds.

use std::collections::BTreeMap;

use crate::ArmError;

/// Checks a resource group name as Azure does: 1–90 characters of letters,
/// digits, underscores, hyphens, periods and parentheses, not ending in a period.
pub fn validate_resource_group_name(name: &str) -> Result<(), ArmError> {
    let ok_char = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '(' | ')');
    if name.is_empty()
        || name.chars().count() > 90
        || !name.chars().all(ok_char)
        || name.ends_with('.')
    {
        return Err(ArmError::InvalidName {
            kind: "resource group",
            name: name.to_owned(),
            rule: "1-90 letters, digits, '_', '-', '.', '(' or ')', not ending with '.'",
        });
    }
    Ok(())
}

/// Checks a health workspace name: 3–24 lowercase letters and digits (it becomes
/// part of every service URL, and is unique across the installation).
pub fn validate_workspace_name(name: &str) -> Result<(), ArmError> {
    let ok = (3..=24).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !ok {
        return Err(ArmError::InvalidName {
            kind: "workspace",
            name: name.to_owned(),
            rule: "3-24 lowercase letters and digits",
        });
    }
    Ok(())
}

/// Checks a FHIR or DICOM service name: 3–24 letters, digits and hyphens,
/// starting and ending with a letter or digit. Names compare ignoring case.
pub fn validate_service_name(name: &str) -> Result<(), ArmError> {
    let bytes = name.as_bytes();
    let edge = |b: &u8| b.is_ascii_alphanumeric();
    let ok = (3..=24).contains(&bytes.len())
        && bytes.first().is_some_and(edge)
        && bytes.last().is_some_and(edge)
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-');
    if !ok {
        return Err(ArmError::InvalidName {
            kind: "service",
            name: name.to_owned(),
            rule: "3-24 letters, digits and hyphens, starting and ending with a letter or digit",
        });
    }
    Ok(())
}

/// Checks resource tags as ARM does: at most 50; names of 1–512 characters
/// without `<>%&\?/`; values of at most 256 characters.
pub fn validate_tags(tags: &BTreeMap<String, String>) -> Result<(), ArmError> {
    if tags.len() > 50 {
        return Err(ArmError::InvalidTags(format!(
            "a resource may have at most 50 tags, not {}",
            tags.len()
        )));
    }
    for (name, value) in tags {
        if name.is_empty() || name.chars().count() > 512 {
            return Err(ArmError::InvalidTags(format!(
                "tag name {name:?} must have 1-512 characters"
            )));
        }
        if name.contains(['<', '>', '%', '&', '\\', '?', '/']) {
            return Err(ArmError::InvalidTags(format!(
                "tag name {name:?} contains one of the characters <, >, %, &, \\, ?, /"
            )));
        }
        if value.chars().count() > 256 {
            return Err(ArmError::InvalidTags(format!(
                "the value of tag {name:?} is longer than 256 characters"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_group_names() {
        for ok in ["default", "rg-1", "My_RG.(prod)", "x"] {
            assert!(validate_resource_group_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "ends.", "has space", "slash/", &"a".repeat(91)] {
            assert!(validate_resource_group_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn workspace_names() {
        for ok in ["abc", "ws1", "0123456789abcdefghijklmn"] {
            assert!(validate_workspace_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "Ws1",
            "ws-1",
            "ws_1",
            "wörk",
            "0123456789abcdefghijklmno",
            "",
        ] {
            assert!(validate_workspace_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn service_names() {
        for ok in ["fhir", "abc", "my-fhir-1", "FHIR1", "a-b"] {
            assert!(validate_service_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "-fhir",
            "fhir-",
            "fhir_1",
            "fhir.1",
            "fhír",
            &"a".repeat(25),
        ] {
            assert!(validate_service_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tags() {
        let tag = |k: &str, v: &str| BTreeMap::from([(k.to_owned(), v.to_owned())]);
        assert!(validate_tags(&tag("env", "dev")).is_ok());
        assert!(validate_tags(&tag("", "x")).is_err());
        assert!(validate_tags(&tag("a/b", "x")).is_err());
        assert!(validate_tags(&tag("k", &"v".repeat(257))).is_err());
        let many: BTreeMap<String, String> =
            (0..51).map(|i| (format!("t{i}"), String::new())).collect();
        assert!(validate_tags(&many).is_err());
    }
}
