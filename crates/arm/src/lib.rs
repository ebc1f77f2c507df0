//! Azure Resource Manager's domain, as far as Hale's control plane needs it:
//! subscriptions, resource groups, and Azure RBAC (role definitions and role
//! assignments at a scope). Health workspaces and their services join here.
//!
//! Invariant: pure domain code. No HTTP, no SQL, no I/O.

use time::OffsetDateTime;
use uuid::{Uuid, uuid};

use hale_directory::{ObjectId, TenantId};

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

    /// Parses ARM's spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "User" => Some(PrincipalType::User),
            "Group" => Some(PrincipalType::Group),
            "ServicePrincipal" => Some(PrincipalType::ServicePrincipal),
            _ => None,
        }
    }
}

/// A role granted to a principal at a scope (and everything below it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleAssignment {
    /// The assignment's name: a GUID.
    pub id: Uuid,
    pub tenant_id: TenantId,
    /// An ARM resource ID, stored lowercased (ARM compares scopes ignoring case).
    pub scope: String,
    pub role_definition_id: Uuid,
    pub principal_id: ObjectId,
    pub principal_type: PrincipalType,
    pub created_at: OffsetDateTime,
}

/// Built-in Azure roles, by their fixed role definition IDs.
pub mod builtin_roles {
    use super::*;

    /// Owner: everything, including granting access.
    pub const OWNER: Uuid = uuid!("8e3af657-a8ff-443c-a75c-2fe8c4bcb635");
    /// Contributor: everything except granting access.
    pub const CONTRIBUTOR: Uuid = uuid!("b24988ac-6180-42a0-ab88-20f7382dd24c");
    /// User Access Administrator: manages role assignments only.
    pub const USER_ACCESS_ADMINISTRATOR: Uuid = uuid!("18d7d88d-d35e-4fb5-a5c3-7773c20a72d9");
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
}
