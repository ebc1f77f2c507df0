//! Entra directory roles, by their fixed role template IDs.

use uuid::{Uuid, uuid};

/// The built-in directory roles Hale knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DirectoryRole {
    /// Can do everything in the directory.
    GlobalAdministrator,
    /// Can manage all applications, service principals and consent.
    ApplicationAdministrator,
    /// As Application Administrator, minus application proxy.
    CloudApplicationAdministrator,
}

impl DirectoryRole {
    /// Every role, in display order.
    pub const ALL: [DirectoryRole; 3] = [
        DirectoryRole::GlobalAdministrator,
        DirectoryRole::ApplicationAdministrator,
        DirectoryRole::CloudApplicationAdministrator,
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
        }
    }

    /// The display name Graph and the portal use.
    pub fn display_name(self) -> &'static str {
        match self {
            DirectoryRole::GlobalAdministrator => "Global Administrator",
            DirectoryRole::ApplicationAdministrator => "Application Administrator",
            DirectoryRole::CloudApplicationAdministrator => "Cloud Application Administrator",
        }
    }

    /// The role with this template ID.
    pub fn from_template_id(id: Uuid) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.template_id() == id)
    }
}
