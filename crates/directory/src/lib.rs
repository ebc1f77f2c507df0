//! Hale's directory: the Entra ID objects an administrator manages.
//!
//! Tenants, users (argon2id passwords), service principals, first-party
//! applications and directory roles, app registrations and their client
//! secrets and certificates, groups and their (nested) members, consent
//! (delegated permission grants and app role assignments), with the rules that
//! make each valid.
//!
//! Invariant: pure domain code. No HTTP, no SQL, no I/O; persistence is the
//! `store` crate's job and protocols are the server's.

pub mod access;
mod application;
mod certificate;
mod claims_mapping;
mod credential;
mod extension;
mod grants;
mod group;
mod ids;
pub mod membership;
mod password;
mod principal;
mod roles;
mod tenant;
mod user;

pub mod first_party;

pub use application::{
    ApiApplication, AppRole, Application, ImplicitGrantSettings, KeyCredential, MAX_REDIRECT_URIS,
    OPTIONAL_CLAIM_NAMES, OptionalClaim, OptionalClaims, PasswordCredential, PermissionScope,
    Platform, PreAuthorizedApplication, RedirectUris, RequiredResourceAccess, ResourceAccess,
    SignInAudience, WebApplication, validate_identifier_uri, validate_permission_value,
    validate_redirect_uri,
};
pub use certificate::{MAX_CERTIFICATE_BYTES, certificate_der, new_key_credential};
pub use claims_mapping::{
    ClaimSource, ClaimsMapping, ClaimsMappingPolicy, EXTENSION_ATTRIBUTES, ExtensionAttributes,
    MAX_EXTENSION_ATTRIBUTE_LEN, MappedClaim, UserAttribute, is_restricted_claim,
};
pub use credential::{
    DEFAULT_MAX_SECRET_LIFETIME, DEFAULT_SECRET_LIFETIME, PORTAL_SECRET_LIFETIMES_DAYS, SecretText,
    new_password_credential,
};
pub use extension::{
    EXTENSION_TARGETS, ExtensionDataType, ExtensionProperty, MAX_EXTENSION_PROPERTIES_PER_APP,
    extension_name, extension_short_name,
};
pub use grants::{
    AppRoleAssignment, ConsentType, DEFAULT_ACCESS_ROLE, OAuth2PermissionGrant, PrincipalKind,
};
pub use group::{Group, UNIFIED};
pub use ids::{AppId, ObjectId, TenantId};
pub use password::{PasswordHash, generate_password};
pub use principal::ServicePrincipal;
pub use roles::DirectoryRole;
pub use tenant::{Tenant, User, validate_domain};
pub use user::{
    USER_DEFAULT_PROPERTIES, USER_PROFILE_PROPERTIES, UserProfile, check_password_policy,
    validate_mail_nickname, validate_user_principal_name,
};

/// Errors raised by directory rules.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DirectoryError {
    #[error("invalid domain name {0:?}: {1}")]
    InvalidDomain(String, &'static str),
    /// A property of an object breaks a rule; `property` is Graph's path to it.
    #[error("Invalid value specified for property '{property}': {why}")]
    InvalidProperty { property: String, why: String },
    /// A password breaks the tenant's password policy.
    #[error(
        "The specified password does not comply with password complexity requirements. Please provide a different password."
    )]
    WeakPassword,
    /// A user principal name's domain is not a verified domain of the tenant.
    #[error(
        "The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization."
    )]
    UnverifiedDomain,
    #[error("password hashing failed: {0}")]
    PasswordHash(String),
}
