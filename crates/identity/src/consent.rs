//! Consent that exists without any grant: first-party clients pre-authorized on
//! first-party resources (the Azure CLI on Microsoft Graph, Azure Resource
//! Manager, Azure Healthcare APIs and Azure API for DICOM), as in Entra. Other delegated access needs an
//! OAuth2PermissionGrant (not modelled yet: AADSTS65001).

use hale_directory::{AppId, first_party};

/// Graph's delegated permissions the Azure CLI client is pre-authorized for.
/// What a user can do with them still depends on the user's directory roles.
const CLI_ON_GRAPH: &[&str] = &[
    "Application.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "AuditLog.Read.All",
    "DelegatedPermissionGrant.ReadWrite.All",
    "Directory.AccessAsUser.All",
    "Group.ReadWrite.All",
    "User.Read",
    "User.ReadWrite.All",
];
const CLI_ON_ARM: &[&str] = &["user_impersonation"];
/// `az account get-access-token --resource <FHIR URL | DICOM audience>` works
/// without consent in Entra: the Azure CLI is pre-authorized on both.
const CLI_ON_HEALTHCARE: &[&str] = &["user_impersonation"];
const CLI_ON_DICOM: &[&str] = &["Dicom.ReadWrite"];

/// The delegated scopes `client` may obtain on `resource` without a grant.
pub fn preauthorized(client: AppId, resource: AppId) -> Option<&'static [&'static str]> {
    if client != first_party::HALE_CLI.app_id {
        return None;
    }
    if resource == first_party::MICROSOFT_GRAPH.app_id {
        Some(CLI_ON_GRAPH)
    } else if resource == first_party::AZURE_RESOURCE_MANAGER.app_id {
        Some(CLI_ON_ARM)
    } else if resource == first_party::AZURE_HEALTHCARE_APIS.app_id {
        Some(CLI_ON_HEALTHCARE)
    } else if resource == first_party::AZURE_API_FOR_DICOM.app_id {
        Some(CLI_ON_DICOM)
    } else {
        None
    }
}

/// OpenID Connect scopes, which name no resource.
pub const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// A delegated scope request split into the resource and the permissions asked:
/// `https://graph.microsoft.com/User.Read` → (`https://graph.microsoft.com`,
/// `User.Read`); `{resource}/.default` asks for everything consented; a bare
/// name such as `User.Read` means Microsoft Graph, as in Entra.
pub fn split_scope(scope: &str) -> (String, String) {
    let names_a_resource = |resource: &str| {
        let trimmed = resource.trim_end_matches('/');
        match trimmed.split_once("://") {
            Some((_, host)) => !host.is_empty(),
            None => uuid::Uuid::parse_str(trimmed).is_ok(),
        }
    };
    match scope.rsplit_once('/') {
        Some((resource, name)) if names_a_resource(resource) => {
            (resource.to_owned(), name.to_owned())
        }
        _ => ("https://graph.microsoft.com".to_owned(), scope.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_split_into_resource_and_permission() {
        let cases = [
            (
                "https://graph.microsoft.com/User.Read",
                ("https://graph.microsoft.com", "User.Read"),
            ),
            (
                "https://graph.microsoft.com/.default",
                ("https://graph.microsoft.com", ".default"),
            ),
            ("api://my-api/access", ("api://my-api", "access")),
            ("User.Read", ("https://graph.microsoft.com", "User.Read")),
            (
                "00000003-0000-0000-c000-000000000000/.default",
                ("00000003-0000-0000-c000-000000000000", ".default"),
            ),
            (
                "https://management.azure.com//user_impersonation",
                ("https://management.azure.com/", "user_impersonation"),
            ),
        ];
        for (scope, (resource, name)) in cases {
            assert_eq!(
                split_scope(scope),
                (resource.to_owned(), name.to_owned()),
                "{scope}"
            );
        }
    }

    #[test]
    fn only_the_cli_is_preauthorized_and_only_on_first_party_resources() {
        let cli = first_party::HALE_CLI.app_id;
        assert!(
            preauthorized(cli, first_party::MICROSOFT_GRAPH.app_id)
                .unwrap()
                .contains(&"Application.ReadWrite.All")
        );
        assert_eq!(
            preauthorized(cli, first_party::AZURE_RESOURCE_MANAGER.app_id),
            Some(CLI_ON_ARM)
        );
        assert_eq!(preauthorized(cli, AppId::new()), None);
        assert_eq!(
            preauthorized(AppId::new(), first_party::MICROSOFT_GRAPH.app_id),
            None
        );
    }
}
