//! First-party applications: the applications Entra provides in every tenant,
//! defined here in code and present in a tenant through their service principals.

use uuid::{Uuid, uuid};

use crate::{AppId, ObjectId, ServicePrincipal, TenantId};

/// Microsoft's own tenant, the owner of every first-party application
/// (`appOwnerOrganizationId` of their service principals).
pub const MICROSOFT_TENANT: TenantId = TenantId(uuid!("f8cdef31-a31e-4b4a-93e4-5f571e91255a"));

/// When a first-party application's service principal appears in a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provisioned {
    /// At tenant creation.
    Always,
    /// Once the tenant has a FHIR service.
    WithFhirService,
    /// Once the tenant has a DICOM service.
    WithDicomService,
}

/// A first-party application's definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstPartyApp {
    pub app_id: AppId,
    pub display_name: &'static str,
    /// Its App ID URIs; the first is the token audience clients ask for.
    pub identifier_uris: &'static [&'static str],
    /// Access token shape it receives (`api.requestedAccessTokenVersion`).
    pub access_token_version: u8,
    /// "Allow public client flows" (device code, ROPC) is on.
    pub public_client: bool,
    pub provisioned: Provisioned,
    /// Delegated permissions (`oauth2PermissionScopes`) it exposes.
    pub scopes: &'static [Permission],
    /// Application permissions (`appRoles` for applications) it exposes.
    pub roles: &'static [Permission],
}

/// A permission a first-party API exposes, with Microsoft's ID for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    pub id: Uuid,
    pub value: &'static str,
    /// Only an administrator may consent (`type: Admin`).
    pub admin_consent: bool,
    pub description: &'static str,
}

const fn perm(
    id: Uuid,
    value: &'static str,
    admin_consent: bool,
    description: &'static str,
) -> Permission {
    Permission {
        id,
        value,
        admin_consent,
        description,
    }
}

/// Microsoft Graph's delegated permissions that Hale's Graph subset honours
/// (IDs from Microsoft's Graph permissions reference).
const GRAPH_SCOPES: &[Permission] = &[
    perm(
        uuid!("37f7f235-527c-4136-accd-4a02d197296e"),
        "openid",
        false,
        "Sign users in",
    ),
    perm(
        uuid!("14dad69e-099b-42c9-810b-d002981feec1"),
        "profile",
        false,
        "View users' basic profile",
    ),
    perm(
        uuid!("64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0"),
        "email",
        false,
        "View users' email address",
    ),
    perm(
        uuid!("7427e0e9-2fba-42fe-b0c0-848c9e6a8182"),
        "offline_access",
        false,
        "Maintain access to data you have given it access to",
    ),
    perm(
        uuid!("e1fe6dd8-ba31-4d61-89e7-88639da4683d"),
        "User.Read",
        false,
        "Sign in and read user profile",
    ),
    perm(
        uuid!("a154be20-db9c-4678-8ab7-66f6cc099a59"),
        "User.Read.All",
        true,
        "Read all users' full profiles",
    ),
    perm(
        uuid!("204e0828-b5ca-4ad8-b9f3-f32a958e7cc4"),
        "User.ReadWrite.All",
        true,
        "Read and write all users' full profiles",
    ),
    perm(
        uuid!("c79f8feb-a9db-4090-85f9-90d820caa0eb"),
        "Application.Read.All",
        true,
        "Read applications",
    ),
    perm(
        uuid!("bdfbf15f-ee85-4955-8675-146e8e5296b5"),
        "Application.ReadWrite.All",
        true,
        "Read and write all applications",
    ),
    perm(
        uuid!("5f8c59db-677d-491f-a6b8-5f174b11ec1d"),
        "Group.Read.All",
        true,
        "Read all groups",
    ),
    perm(
        uuid!("4e46008b-f24c-477d-8fff-7bb4ec7aafe0"),
        "Group.ReadWrite.All",
        true,
        "Read and write all groups",
    ),
    perm(
        uuid!("f81125ac-d3b7-4573-a3b2-7099cc39df9e"),
        "GroupMember.ReadWrite.All",
        true,
        "Read and write group memberships",
    ),
    perm(
        uuid!("06da0dbc-49e2-44d2-8312-53f166ab848a"),
        "Directory.Read.All",
        true,
        "Read directory data",
    ),
    perm(
        uuid!("c5366453-9fb0-48a5-a156-24f0c49a4b84"),
        "Directory.ReadWrite.All",
        true,
        "Read and write directory data",
    ),
    perm(
        uuid!("0e263e50-5827-48a4-b97c-d940288653c7"),
        "Directory.AccessAsUser.All",
        true,
        "Access directory as the signed in user",
    ),
    perm(
        uuid!("41ce6ca6-6826-4807-84f1-1c82854f7ee5"),
        "DelegatedPermissionGrant.ReadWrite.All",
        true,
        "Manage all delegated permission grants",
    ),
    perm(
        uuid!("84bccea3-f856-4a8a-967b-dbe0a3d53a64"),
        "AppRoleAssignment.ReadWrite.All",
        true,
        "Manage app permission grants and app role assignments",
    ),
    perm(
        uuid!("d01b97e9-cbc0-49fe-810a-750afd5527a3"),
        "RoleManagement.ReadWrite.Directory",
        true,
        "Read and write directory RBAC settings",
    ),
    perm(
        uuid!("e4c9e354-4dc5-45b8-9e7c-e1393b0b1a20"),
        "AuditLog.Read.All",
        true,
        "Read audit log data",
    ),
    perm(
        uuid!("572fea84-0151-49b2-9301-11cb16974376"),
        "Policy.Read.All",
        true,
        "Read your organization's policies",
    ),
    perm(
        uuid!("b27add92-efb2-4f16-84f5-8108ba77985c"),
        "Policy.ReadWrite.ApplicationConfiguration",
        true,
        "Read and write your organization's application configuration policies",
    ),
];

/// Microsoft Graph's application permissions that Hale's Graph subset honours.
const GRAPH_ROLES: &[Permission] = &[
    perm(
        uuid!("9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30"),
        "Application.Read.All",
        true,
        "Read all applications",
    ),
    perm(
        uuid!("1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9"),
        "Application.ReadWrite.All",
        true,
        "Read and write all applications",
    ),
    perm(
        uuid!("18a4783c-866b-4cc7-a460-3d5e5662c884"),
        "Application.ReadWrite.OwnedBy",
        true,
        "Manage apps that this app creates or owns",
    ),
    perm(
        uuid!("df021288-bdef-4463-88db-98f22de89214"),
        "User.Read.All",
        true,
        "Read all users' full profiles",
    ),
    perm(
        uuid!("741f803b-c850-494e-b5df-cde7c675a1ca"),
        "User.ReadWrite.All",
        true,
        "Read and write all users' full profiles",
    ),
    perm(
        uuid!("5b567255-7703-4780-807c-7be8301ae99b"),
        "Group.Read.All",
        true,
        "Read all groups",
    ),
    perm(
        uuid!("62a82d76-70ea-41e2-9197-370581804d09"),
        "Group.ReadWrite.All",
        true,
        "Read and write all groups",
    ),
    perm(
        uuid!("dbaae8cf-10b5-4b86-a4a1-f871c94c6695"),
        "GroupMember.ReadWrite.All",
        true,
        "Read and write all group memberships",
    ),
    perm(
        uuid!("7ab1d382-f21e-4acd-a863-ba3e13f7da61"),
        "Directory.Read.All",
        true,
        "Read directory data",
    ),
    perm(
        uuid!("19dbc75e-c2e2-444c-a770-ec69d8559fc7"),
        "Directory.ReadWrite.All",
        true,
        "Read and write directory data",
    ),
    perm(
        uuid!("06b708a9-e830-4db3-a914-8e69da51d44f"),
        "AppRoleAssignment.ReadWrite.All",
        true,
        "Manage app permission grants and app role assignments",
    ),
    perm(
        uuid!("8e8e4742-1d95-4f68-9d56-6ee75648c72a"),
        "DelegatedPermissionGrant.ReadWrite.All",
        true,
        "Manage all delegated permission grants",
    ),
    perm(
        uuid!("9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8"),
        "RoleManagement.ReadWrite.Directory",
        true,
        "Read and write all directory RBAC settings",
    ),
    perm(
        uuid!("b0afded3-3588-46d8-8b3d-9842eff778da"),
        "AuditLog.Read.All",
        true,
        "Read all audit log data",
    ),
    perm(
        uuid!("246dd0d5-5bd0-4def-940b-0421030a5b68"),
        "Policy.Read.All",
        true,
        "Read your organization's policies",
    ),
    perm(
        uuid!("be74164b-cff1-491c-8741-e671cb536e13"),
        "Policy.ReadWrite.ApplicationConfiguration",
        true,
        "Read and write your organization's application configuration policies",
    ),
];

/// `user_impersonation` of Azure Resource Manager.
const ARM_SCOPES: &[Permission] = &[perm(
    uuid!("41094075-9dad-400e-a0bd-54e686782033"),
    "user_impersonation",
    false,
    "Access Azure Service Management as organization users",
)];

/// `user_impersonation` of Azure Healthcare APIs.
///
/// FIXME: Microsoft's permission ID for this scope is not in our sources; this
/// one is Hale's own, stable across installations. Clients request the scope
/// by value, so only scripts that hard-code the ID would notice.
const HEALTHCARE_SCOPES: &[Permission] = &[perm(
    uuid!("e53a2c4c-0ba6-4a2c-8a8b-5f2f3b1b6b21"),
    "user_impersonation",
    false,
    "Access Azure Healthcare APIs as the signed-in user",
)];

/// `Dicom.ReadWrite` of Azure API for DICOM (ID: see [`HEALTHCARE_SCOPES`]).
const DICOM_SCOPES: &[Permission] = &[perm(
    uuid!("0a3c4b6e-6f4d-4e49-8d0c-3a1f5e7b9c42"),
    "Dicom.ReadWrite",
    false,
    "Read and write DICOM data as the signed-in user",
)];

const fn app(id: Uuid) -> AppId {
    AppId(id)
}

/// Microsoft Graph.
pub const MICROSOFT_GRAPH: FirstPartyApp = FirstPartyApp {
    app_id: app(uuid!("00000003-0000-0000-c000-000000000000")),
    display_name: "Microsoft Graph",
    identifier_uris: &[
        "https://graph.microsoft.com",
        "https://graph.microsoft.com/",
    ],
    access_token_version: 1,
    public_client: false,
    provisioned: Provisioned::Always,
    scopes: GRAPH_SCOPES,
    roles: GRAPH_ROLES,
};

/// Azure Resource Manager (`management.azure.com`).
pub const AZURE_RESOURCE_MANAGER: FirstPartyApp = FirstPartyApp {
    app_id: app(uuid!("797f4846-ba00-4fd7-ba43-dac1f8f63013")),
    display_name: "Windows Azure Service Management API",
    identifier_uris: &[
        "https://management.azure.com/",
        "https://management.azure.com",
        "https://management.core.windows.net/",
    ],
    access_token_version: 1,
    public_client: false,
    provisioned: Provisioned::Always,
    scopes: ARM_SCOPES,
    roles: &[],
};

/// The public client used by `hale login`, under the Azure CLI's well-known app ID
/// so that scripts written for `az` work unchanged.
pub const HALE_CLI: FirstPartyApp = FirstPartyApp {
    app_id: app(uuid!("04b07795-8ddb-461a-bbee-02f9e1bf7b46")),
    display_name: "Microsoft Azure CLI",
    identifier_uris: &[],
    access_token_version: 2,
    public_client: true,
    provisioned: Provisioned::Always,
    scopes: &[],
    roles: &[],
};

/// "Azure Healthcare APIs": the FHIR service's resource application.
pub const AZURE_HEALTHCARE_APIS: FirstPartyApp = FirstPartyApp {
    app_id: app(uuid!("4f6778d8-5aef-43dc-a1ff-b073724b9495")),
    display_name: "Azure Healthcare APIs",
    identifier_uris: &["https://azurehealthcareapis.com"],
    access_token_version: 1,
    public_client: false,
    provisioned: Provisioned::WithFhirService,
    scopes: HEALTHCARE_SCOPES,
    roles: &[],
};

/// "Azure API for DICOM": the DICOM service's resource application.
///
/// FIXME: the app ID is from memory and not confirmed by a source we hold; check
/// it when the DICOM service lands (clients use the audience, not this ID).
pub const AZURE_API_FOR_DICOM: FirstPartyApp = FirstPartyApp {
    app_id: app(uuid!("75e725bf-66ce-4cea-9b9a-5c4caae57f33")),
    display_name: "Azure API for DICOM",
    identifier_uris: &["https://dicom.healthcareapis.azure.com"],
    access_token_version: 1,
    public_client: false,
    provisioned: Provisioned::WithDicomService,
    scopes: DICOM_SCOPES,
    roles: &[],
};

/// Every first-party application.
pub const ALL: &[FirstPartyApp] = &[
    MICROSOFT_GRAPH,
    AZURE_RESOURCE_MANAGER,
    HALE_CLI,
    AZURE_HEALTHCARE_APIS,
    AZURE_API_FOR_DICOM,
];

/// The applications whose service principals every new tenant gets.
pub fn provisioned_at_tenant_creation() -> impl Iterator<Item = &'static FirstPartyApp> {
    ALL.iter().filter(|a| a.provisioned == Provisioned::Always)
}

/// The first-party application with this client ID.
pub fn by_app_id(app_id: AppId) -> Option<&'static FirstPartyApp> {
    ALL.iter().find(|a| a.app_id == app_id)
}

impl FirstPartyApp {
    /// A new service principal of this application in `tenant`: what makes
    /// it present there (at tenant creation, or when a FHIR or DICOM service
    /// first appears).
    pub fn service_principal(
        &self,
        tenant: TenantId,
        now: time::OffsetDateTime,
    ) -> ServicePrincipal {
        ServicePrincipal {
            id: ObjectId::new(),
            tenant_id: tenant,
            app_id: self.app_id,
            display_name: self.display_name.into(),
            app_owner_organization_id: MICROSOFT_TENANT,
            service_principal_names: std::iter::once(self.app_id.to_string())
                .chain(self.identifier_uris.iter().map(|u| u.to_string()))
                .collect(),
            account_enabled: true,
            created_at: now,
        }
    }

    /// The delegated permission with this value (case-insensitive).
    pub fn scope(&self, value: &str) -> Option<&'static Permission> {
        self.scopes
            .iter()
            .find(|p| p.value.eq_ignore_ascii_case(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_ids_and_values_are_unique_per_app() {
        for app in ALL {
            for list in [app.scopes, app.roles] {
                for (i, p) in list.iter().enumerate() {
                    assert!(
                        list[i + 1..]
                            .iter()
                            .all(|q| q.id != p.id && q.value != p.value),
                        "{}: {} repeated",
                        app.display_name,
                        p.value
                    );
                }
            }
        }
        assert!(MICROSOFT_GRAPH.scope("user.read").is_some());
    }
}
