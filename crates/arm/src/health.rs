//! Health workspaces and the FHIR and DICOM services they hold.

use std::collections::BTreeMap;

use hale_directory::TenantId;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::resource_id::{ResourceId, ServiceKind};

/// The one ARM `kind` of FHIR service Hale runs.
pub const FHIR_R4: &str = "fhir-R4";

/// A health workspace: a container of FHIR and DICOM services. Its name is
/// unique across the installation, because every service URL carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub subscription_id: Uuid,
    /// The resource group's name as stored.
    pub resource_group: String,
    pub name: String,
    pub location: String,
    pub tags: BTreeMap<String, String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl Workspace {
    /// Its ARM resource ID.
    pub fn resource_id(&self) -> ResourceId {
        ResourceId::Workspace {
            subscription: self.subscription_id,
            group: self.resource_group.clone(),
            workspace: self.name.clone(),
        }
    }
}

/// A FHIR or DICOM service in a workspace. Names are unique per workspace and
/// kind, ignoring case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthService {
    pub id: Uuid,
    pub kind: ServiceKind,
    pub tenant_id: TenantId,
    pub subscription_id: Uuid,
    pub resource_group: String,
    pub workspace_id: Uuid,
    pub workspace: String,
    pub name: String,
    /// ARM's `kind` (`fhir-R4` for FHIR services; none for DICOM).
    pub resource_kind: Option<String>,
    pub location: String,
    pub tags: BTreeMap<String, String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl HealthService {
    /// Its ARM resource ID.
    pub fn resource_id(&self) -> ResourceId {
        ResourceId::Service {
            subscription: self.subscription_id,
            group: self.resource_group.clone(),
            workspace: self.workspace.clone(),
            kind: self.kind,
            name: self.name.clone(),
        }
    }

    /// The service's base URL on Hale's origin (`origin` with a trailing
    /// slash): `{origin}fhir/{workspace}/{name}` or `{origin}dicom/…`, names
    /// lowercased as host names would be in Azure.
    pub fn service_url(&self, origin: &str) -> String {
        service_url(origin, self.kind, &self.workspace, &self.name)
    }
}

/// The base URL of the `kind` service `name` in `workspace` on `origin`.
pub fn service_url(origin: &str, kind: ServiceKind, workspace: &str, name: &str) -> String {
    format!(
        "{}/{}/{}/{}",
        origin.trim_end_matches('/'),
        kind.path_prefix(),
        workspace.to_ascii_lowercase(),
        name.to_ascii_lowercase()
    )
}

/// The audience every DICOM service accepts (Azure's shared one).
pub const DICOM_AUDIENCE: &str = "https://dicom.healthcareapis.azure.com";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_urls_are_on_the_origin() {
        assert_eq!(
            service_url(
                "https://127.0.0.1:8443/",
                ServiceKind::Fhir,
                "ws1",
                "My-Fhir"
            ),
            "https://127.0.0.1:8443/fhir/ws1/my-fhir"
        );
        assert_eq!(
            service_url("https://h.example", ServiceKind::Dicom, "ws1", "d"),
            "https://h.example/dicom/ws1/d"
        );
    }
}
