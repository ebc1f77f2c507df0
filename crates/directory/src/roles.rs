//! Entra directory roles, by their fixed role template IDs.

use uuid::{Uuid, uuid};

use crate::{ObjectId, TenantId};

/// The built-in directory roles Hale knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DirectoryRole {
    /// Can do everything in the directory.
    GlobalAdministrator,
    /// Can manage all applications, service principals and consent.
    ApplicationAdministrator,
    /// As Application Administrator, minus application proxy.
    CloudApplicationAdministrator,
    /// Can manage users and groups, and reset passwords of non-administrators.
    UserAdministrator,
    /// Can manage groups and their settings.
    GroupsAdministrator,
    /// Can manage directory role assignments.
    PrivilegedRoleAdministrator,
}

impl DirectoryRole {
    /// Every role, in display order.
    pub const ALL: [DirectoryRole; 6] = [
        DirectoryRole::GlobalAdministrator,
        DirectoryRole::ApplicationAdministrator,
        DirectoryRole::CloudApplicationAdministrator,
        DirectoryRole::UserAdministrator,
        DirectoryRole::GroupsAdministrator,
        DirectoryRole::PrivilegedRoleAdministrator,
    ];

    /// Entra's role template ID, the same in every tenant.
    pub fn template_id(self) -> Uuid {
        match self {
            DirectoryRole::GlobalAdministrator => uuid!("62e90394-69f5-4237-9190-012177145e10"),
            DirectoryRole::ApplicationAdministrator => {
                uuid!("9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3")
            }
            DirectoryRole::CloudApplicationAdministrator => {
                uuid!("158c047a-c907-4556-b7ef-446551a6b5f7")
            }
            DirectoryRole::UserAdministrator => uuid!("fe930be7-5e62-47db-91af-98c3a49a38b1"),
            DirectoryRole::GroupsAdministrator => uuid!("fdd7a751-b60b-444a-984c-02652fe8fa1c"),
            DirectoryRole::PrivilegedRoleAdministrator => {
                uuid!("e8611ab8-c189-46e8-94e1-60213ab1f814")
            }
        }
    }

    /// The display name Graph and the portal use.
    pub fn display_name(self) -> &'static str {
        match self {
            DirectoryRole::GlobalAdministrator => "Global Administrator",
            DirectoryRole::ApplicationAdministrator => "Application Administrator",
            DirectoryRole::CloudApplicationAdministrator => "Cloud Application Administrator",
            DirectoryRole::UserAdministrator => "User Administrator",
            DirectoryRole::GroupsAdministrator => "Groups Administrator",
            DirectoryRole::PrivilegedRoleAdministrator => "Privileged Role Administrator",
        }
    }

    /// The description Graph shows for the role.
    pub fn description(self) -> &'static str {
        match self {
            DirectoryRole::GlobalAdministrator => {
                "Can manage all aspects of Microsoft Entra ID and Microsoft services that use Microsoft Entra identities."
            }
            DirectoryRole::ApplicationAdministrator => {
                "Can create and manage all aspects of app registrations and enterprise apps."
            }
            DirectoryRole::CloudApplicationAdministrator => {
                "Can create and manage all aspects of app registrations and enterprise apps except App Proxy."
            }
            DirectoryRole::UserAdministrator => {
                "Can manage all aspects of users and groups, including resetting passwords for limited admins."
            }
            DirectoryRole::GroupsAdministrator => {
                "Members of this role can create/manage groups, create/manage groups settings like naming and expiration policies, and view groups activity and audit reports."
            }
            DirectoryRole::PrivilegedRoleAdministrator => {
                "Can manage role assignments in Microsoft Entra ID, and all aspects of Privileged Identity Management."
            }
        }
    }

    /// The activated role's object ID in `tenant` (Graph's `directoryRole.id`).
    /// Every role Hale knows is activated in every tenant; its object ID is
    /// derived from the tenant and the template, so every replica agrees on it
    /// without storing it.
    pub fn object_id(self, tenant: TenantId) -> ObjectId {
        ObjectId(Uuid::new_v5(&tenant.0, self.template_id().as_bytes()))
    }

    /// The role whose activated object in `tenant` has ID `id`.
    pub fn from_object_id(tenant: TenantId, id: ObjectId) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.object_id(tenant) == id)
    }

    /// The role with this template ID.
    pub fn from_template_id(id: Uuid) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.template_id() == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_objects_are_stable_per_tenant_and_distinct() {
        let (a, b) = (TenantId::new(), TenantId::new());
        for role in DirectoryRole::ALL {
            assert_eq!(role.object_id(a), role.object_id(a));
            assert_ne!(role.object_id(a), role.object_id(b));
            assert_eq!(
                DirectoryRole::from_object_id(a, role.object_id(a)),
                Some(role)
            );
            assert_eq!(DirectoryRole::from_object_id(b, role.object_id(a)), None);
            assert_eq!(
                DirectoryRole::from_template_id(role.template_id()),
                Some(role)
            );
        }
        let ids: std::collections::HashSet<_> =
            DirectoryRole::ALL.iter().map(|r| r.object_id(a)).collect();
        assert_eq!(ids.len(), DirectoryRole::ALL.len());
    }
}
