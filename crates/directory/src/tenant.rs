//! Tenants and their users.

use time::OffsetDateTime;

use crate::{DirectoryError, ObjectId, PasswordHash, TenantId, UserProfile};

/// A directory: the boundary of users, applications and tokens (`tid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    /// The verified domain, e.g. `hale.local`; also usable in place of the ID in
    /// authority URLs.
    pub domain: String,
    pub display_name: String,
    /// The tenant created at first start.
    pub is_default: bool,
    pub created_at: OffsetDateTime,
}

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: ObjectId,
    pub tenant_id: TenantId,
    /// `name@domain`, unique in the tenant ignoring case.
    pub user_principal_name: String,
    pub display_name: String,
    pub password: Option<PasswordHash>,
    pub account_enabled: bool,
    pub created_at: OffsetDateTime,
    /// Graph's other user properties (`givenName`, `mail`, `jobTitle`, …).
    pub profile: UserProfile,
}

/// Checks a tenant domain name: DNS labels of letters, digits and hyphens, at
/// least two labels, at most 253 characters; returned lowercased.
pub fn validate_domain(domain: &str) -> Result<String, DirectoryError> {
    let bad = |why| Err(DirectoryError::InvalidDomain(domain.to_owned(), why));
    if domain.is_empty() || domain.len() > 253 {
        return bad("must be 1 to 253 characters");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return bad("needs at least two labels, like hale.local");
    }
    for label in labels {
        if label.is_empty() || label.len() > 63 {
            return bad("each label must be 1 to 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return bad("only letters, digits, hyphens and dots are allowed");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad("a label cannot start or end with a hyphen");
        }
    }
    Ok(domain.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains() {
        let ok = [
            ("hale.local", "hale.local"),
            ("Contoso.OnMicrosoft.com", "contoso.onmicrosoft.com"),
            ("a-b.c1", "a-b.c1"),
        ];
        for (input, expected) in ok {
            assert_eq!(validate_domain(input).as_deref(), Ok(expected), "{input}");
        }
        for bad in [
            "",
            "local",
            "hale..local",
            "-hale.local",
            "hale-.local",
            "ha le.local",
            "hale.local.",
            &format!("{}.local", "a".repeat(64)),
        ] {
            assert!(validate_domain(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
