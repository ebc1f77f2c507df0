//! First-party applications: the applications Entra provides in every tenant,
//! defined here in code and present in a tenant through their service principals.

use uuid::{Uuid, uuid};

use crate::{AppId, TenantId};

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
}

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
};

/// "Azure Healthcare APIs": the FHIR service's resource application.
pub const AZURE_HEALTHCARE_APIS: FirstPartyApp = FirstPartyApp {
    app_id: app(uuid!("4f6778d8-5aef-43dc-a1ff-b073724b9495")),
    display_name: "Azure Healthcare APIs",
    identifier_uris: &["https://azurehealthcareapis.com"],
    access_token_version: 1,
    public_client: false,
    provisioned: Provisioned::WithFhirService,
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
