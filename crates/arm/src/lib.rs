//! Azure Resource Manager's domain, as far as Hale's control plane needs it:
//! subscriptions, resource groups, health workspaces with their FHIR and DICOM
//! services, ARM resource IDs, and Azure RBAC: built-in role definitions, role
//! assignments at a scope, and the decisions they lead to, for control-plane
//! operations and for the data planes alike.
//!
//! Invariant: pure domain code. No HTTP, no SQL, no I/O.

pub mod authz;
mod health;
mod names;
mod resource_id;
pub mod roles;
pub mod smart;

use std::collections::BTreeMap;

use time::OffsetDateTime;
use uuid::Uuid;

use hale_directory::{ObjectId, TenantId};

pub use health::{
    CorsConfiguration, DICOM_AUDIENCE, FHIR_R4, HealthService, MAX_SMART_IDENTITY_PROVIDERS,
    SmartApplication, SmartIdentityProvider, Workspace, service_url,
    smart_identity_providers_problem,
};
pub use names::{
    validate_resource_group_name, validate_service_name, validate_tags, validate_workspace_name,
};
pub use resource_id::{HEALTHCARE_PROVIDER, ResourceId, ServiceKind, key_is_within};
pub use roles::{RoleDefinition, builtin_roles};

/// An Azure subscription: the top of the resource hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub display_name: String,
    /// `Enabled` for every subscription Hale creates.
    pub state: String,
    pub created_at: OffsetDateTime,
}

impl Subscription {
    /// The ARM resource ID, `/subscriptions/{id}`.
    pub fn resource_id(&self) -> String {
        format!("/subscriptions/{}", self.id)
    }
}

/// A resource group in a subscription. Names are unique ignoring case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceGroup {
    pub subscription_id: Uuid,
    pub name: String,
    pub location: String,
    pub tags: BTreeMap<String, String>,
    pub created_at: OffsetDateTime,
}

impl ResourceGroup {
    /// The ARM resource ID, `/subscriptions/{sub}/resourceGroups/{name}`.
    pub fn resource_id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}",
            self.subscription_id, self.name
        )
    }
}

/// What kind of principal a role assignment names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalType {
    User,
    Group,
    ServicePrincipal,
}

impl PrincipalType {
    /// ARM's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::User => "User",
            PrincipalType::Group => "Group",
            PrincipalType::ServicePrincipal => "ServicePrincipal",
        }
    }

    /// Parses ARM's spelling (ignoring case, as ARM does).
    pub fn parse(s: &str) -> Option<Self> {
        [
            PrincipalType::User,
            PrincipalType::Group,
            PrincipalType::ServicePrincipal,
        ]
        .into_iter()
        .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
}

/// A role granted to a principal at a scope (and everything below it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleAssignment {
    /// The assignment's name: a GUID.
    pub id: Uuid,
    pub tenant_id: TenantId,
    /// The scope's ARM resource ID, as given when the assignment was made
    /// (compared ignoring case: [`ResourceId::key`]).
    pub scope: String,
    pub role_definition_id: Uuid,
    pub principal_id: ObjectId,
    pub principal_type: PrincipalType,
    pub description: Option<String>,
    /// Who made the assignment (none for the one made at first start).
    pub created_by: Option<ObjectId>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl RoleAssignment {
    /// The assignment's ARM resource ID.
    pub fn resource_id(&self) -> String {
        format!(
            "{}/providers/Microsoft.Authorization/roleAssignments/{}",
            self.scope.trim_end_matches('/'),
            self.id
        )
    }
}

/// Errors raised by resource manager rules.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArmError {
    #[error("invalid {kind} name {name:?}: {rule}")]
    InvalidName {
        kind: &'static str,
        name: String,
        rule: &'static str,
    },
    #[error("invalid resource ID {0:?}")]
    InvalidResourceId(String),
    #[error("invalid tags: {0}")]
    InvalidTags(String),
}
