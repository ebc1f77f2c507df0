//! Service principals: an application's instance in one tenant.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{AppId, ObjectId, TenantId};

/// The local representation of an application in a tenant. Tokens issued to the
/// application carry the service principal's ID as `oid`; role assignments name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    pub id: ObjectId,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub app_id: AppId,
    pub display_name: String,
    /// The tenant that owns the application definition (Microsoft's tenant for
    /// first-party applications).
    pub app_owner_organization_id: TenantId,
    pub service_principal_names: Vec<String>,
    pub account_enabled: bool,
    #[serde(skip, default = "OffsetDateTime::now_utc")]
    pub created_at: OffsetDateTime,
}
