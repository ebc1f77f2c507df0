//! The `api-version`s Azure publishes for the resource types Hale's resource
//! manager serves, newest first, and ARM's answers to any other: a version
//! ARM's own types (subscriptions, resource groups) or `Microsoft.Authorization`
//! do not know is `InvalidApiVersionParameter`; one `Microsoft.HealthcareApis`
//! does not know is `NoRegisteredProviderFound`, naming the location and type.
//!
//! The lists are inclusive: every version Azure has shipped for the type, so
//! that any SDK, the Azure CLI, or `hale` keeps working. A version dated after
//! the newest listed and not after today is taken too: Azure keeps publishing
//! versions, and newer SDKs send them; what is refused is a date Azure never
//! used. (`api-version` has the shape `YYYY-MM-DD[-preview]`, checked before.)

use hale_arm::{ResourceId, ServiceKind};

use super::{ArmFailure, Target};

/// `Microsoft.Resources` (subscriptions and resource groups), as ARM lists
/// them in its `InvalidApiVersionParameter` message.
const RESOURCES: &[&str] = &[
    "2024-11-01",
    "2024-10-01-preview",
    "2024-08-01",
    "2024-07-01",
    "2024-06-01-preview",
    "2024-03-01",
    "2023-07-01",
    "2023-07-01-preview",
    "2023-03-01-preview",
    "2022-12-01",
    "2022-11-01-preview",
    "2022-09-01",
    "2022-06-01",
    "2022-05-01",
    "2022-03-01-preview",
    "2022-01-01",
    "2021-04-01",
    "2021-01-01",
    "2020-10-01",
    "2020-09-01",
    "2020-08-01",
    "2020-07-01",
    "2020-06-01",
    "2020-05-01",
    "2020-01-01",
    "2019-11-01",
    "2019-10-01",
    "2019-09-01",
    "2019-08-01",
    "2019-07-01",
    "2019-06-01",
    "2019-05-10",
    "2019-05-01",
    "2019-03-01",
    "2018-11-01",
    "2018-09-01",
    "2018-08-01",
    "2018-07-01",
    "2018-06-01",
    "2018-05-01",
    "2018-02-01",
    "2018-01-01",
    "2017-12-01",
    "2017-08-01",
    "2017-06-01",
    "2017-05-10",
    "2017-05-01",
    "2017-03-01",
    "2016-09-01",
    "2016-07-01",
    "2016-06-01",
    "2016-02-01",
    "2015-11-01",
    "2015-01-01",
    "2014-04-01-preview",
    "2014-04-01",
    "2014-01-01",
    "2013-03-01",
    "2014-02-26",
];

/// `Microsoft.HealthcareApis` workspaces and their FHIR and DICOM services
/// (all introduced with workspaces, in 2021-06-01-preview).
const HEALTHCARE: &[&str] = &[
    "2025-04-01-preview",
    "2025-03-01-preview",
    "2024-03-31",
    "2024-03-01",
    "2023-12-01",
    "2023-11-01",
    "2023-09-06",
    "2023-02-28",
    "2022-12-01",
    "2022-10-01-preview",
    "2022-06-01",
    "2022-05-15",
    "2022-01-31-preview",
    "2021-11-01",
    "2021-06-01-preview",
];

/// `Microsoft.Authorization/roleAssignments`.
const ROLE_ASSIGNMENTS: &[&str] = &[
    "2022-04-01",
    "2020-10-01-preview",
    "2020-08-01-preview",
    "2020-04-01-preview",
    "2020-03-01-preview",
    "2018-09-01-preview",
    "2018-01-01-preview",
    "2015-07-01",
];

/// `Microsoft.Authorization/roleDefinitions`.
const ROLE_DEFINITIONS: &[&str] = &[
    "2022-05-01-preview",
    "2022-04-01",
    "2018-01-01-preview",
    "2015-07-01",
];

/// Refuses `version` unless Azure publishes it for the type `target` names.
/// `location` gives the location the request names, for ARM's message.
pub(super) fn check_supported(
    version: &str,
    target: &Target,
    location: impl FnOnce() -> String,
) -> Result<(), ArmFailure> {
    let (known, healthcare_type) = match target {
        Target::Subscriptions
        | Target::Subscription(_)
        | Target::ResourceGroups(_)
        | Target::ResourceGroup(_) => (RESOURCES, None),
        Target::Workspaces { .. } | Target::Workspace(_) => (HEALTHCARE, Some("workspaces")),
        Target::Services(_, kind) | Target::Service(ResourceId::Service { kind, .. }) => {
            (HEALTHCARE, Some(service_type(*kind)))
        }
        Target::Service(_) => (HEALTHCARE, Some("workspaces")),
        Target::RoleAssignments(_) | Target::RoleAssignment(..) => (ROLE_ASSIGNMENTS, None),
        Target::RoleDefinitions(_) | Target::RoleDefinition(..) => (ROLE_DEFINITIONS, None),
    };
    // ARM compares api-versions ignoring case (`2021-06-01-Preview`).
    if known.iter().any(|k| k.eq_ignore_ascii_case(version)) {
        return Ok(());
    }
    let date = |v: &str| v.get(..10).map(str::to_owned);
    let today = time::OffsetDateTime::now_utc().date().to_string();
    if let (Some(asked), Some(newest)) = (date(version), known.first().and_then(|k| date(k)))
        && asked > newest
        && asked <= today
    {
        return Ok(());
    }
    let supported = known.join(", ");
    Err(match healthcare_type {
        Some(kind) => ArmFailure::bad_request(
            "NoRegisteredProviderFound",
            format!(
                "No registered resource provider found for location '{}' and API version '{version}' for type '{kind}'. The supported api-versions are '{supported}'.",
                location()
            ),
        ),
        None => ArmFailure::bad_request(
            "InvalidApiVersionParameter",
            format!(
                "The api-version '{version}' is invalid. The supported versions are '{supported}'."
            ),
        ),
    })
}

/// A service's type below the provider: `workspaces/fhirservices`.
fn service_type(kind: ServiceKind) -> &'static str {
    let full = kind.resource_type();
    full.strip_prefix("Microsoft.HealthcareApis/")
        .unwrap_or(full)
}
