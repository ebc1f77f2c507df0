//! Hale's identity service: the rules and shapes of Entra ID's OAuth 2.0 and
//! OpenID Connect endpoints, without HTTP.
//!
//! * [`discovery`]: the v2 and v1 OpenID configuration documents, JWKS, and
//!   MSAL's instance discovery answer, every URL built from Hale's origin.
//! * [`OAuthError`]: Entra's error JSON (`error`, `error_description` starting
//!   with `AADSTS<code>:`, `error_codes`, `timestamp`, `trace_id`,
//!   `correlation_id`, `error_uri`).
//! * [`TenantRef`]: what an authority's tenant segment names.
//!
//! Invariant: no HTTP, no SQL. The server resolves tenants and keys and calls in.

pub mod assertion;
pub mod consent;
pub mod discovery;
mod error;
pub mod token;

pub use error::OAuthError;

use hale_directory::TenantId;

/// What the `{tenant}` segment of an authority URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantRef {
    /// A tenant GUID.
    Id(TenantId),
    /// A verified domain, e.g. `hale.local`.
    Domain(String),
    /// `common`: any organisation (and, in Entra, personal accounts).
    Common,
    /// `organizations`: any organisation.
    Organizations,
}

impl TenantRef {
    /// Reads a tenant segment. Returns `None` for text that is neither a GUID,
    /// an alias nor a plausible domain (Entra's AADSTS900023).
    pub fn parse(segment: &str) -> Option<TenantRef> {
        if segment.eq_ignore_ascii_case("common") {
            return Some(TenantRef::Common);
        }
        if segment.eq_ignore_ascii_case("organizations") {
            return Some(TenantRef::Organizations);
        }
        if let Ok(id) = segment.parse::<TenantId>() {
            return Some(TenantRef::Id(id));
        }
        hale_directory::validate_domain(segment)
            .ok()
            .map(TenantRef::Domain)
    }

    /// Whether this is a multi-tenant alias rather than one tenant.
    pub fn is_alias(&self) -> bool {
        matches!(self, TenantRef::Common | TenantRef::Organizations)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_segments() {
        let id = TenantId::new();
        assert_eq!(TenantRef::parse(&id.to_string()), Some(TenantRef::Id(id)));
        assert_eq!(TenantRef::parse("Common"), Some(TenantRef::Common));
        assert_eq!(
            TenantRef::parse("organizations"),
            Some(TenantRef::Organizations)
        );
        assert_eq!(
            TenantRef::parse("Hale.Local"),
            Some(TenantRef::Domain("hale.local".into()))
        );
        for bad in ["", "nodots", "bad domain.x", "a..b"] {
            assert_eq!(TenantRef::parse(bad), None, "{bad:?}");
        }
    }
}
