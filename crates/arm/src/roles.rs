//! Azure's built-in role definitions that Hale honours, with Azure's IDs, names,
//! descriptions and permissions (MicrosoftDocs/azure-docs
//! `articles/role-based-access-control/built-in-roles/*.md`), and how a
//! permission pattern matches an operation.
//!
//! A role permits an operation when one of its `actions` (for control-plane
//! operations) or `dataActions` (for data operations) matches it and none of its
//! `notActions`/`notDataActions` does. `*` in a pattern matches any run of
//! characters, `/` included, and matching ignores case, as in Azure. Control
//! actions never grant data actions: Owner cannot read FHIR data.

use uuid::{Uuid, uuid};

/// A role definition: what holding the role permits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleDefinition {
    /// The role definition's GUID (its `name` in ARM).
    pub id: Uuid,
    /// `roleName`.
    pub name: &'static str,
    pub description: &'static str,
    pub actions: &'static [&'static str],
    pub not_actions: &'static [&'static str],
    pub data_actions: &'static [&'static str],
    pub not_data_actions: &'static [&'static str],
}

impl RoleDefinition {
    /// Whether the role permits the control-plane operation `action`.
    pub fn permits_action(&self, action: &str) -> bool {
        permits(self.actions, self.not_actions, action)
    }

    /// Whether the role permits the data operation `action`.
    pub fn permits_data_action(&self, action: &str) -> bool {
        permits(self.data_actions, self.not_data_actions, action)
    }
}

fn permits(allowed: &[&str], denied: &[&str], action: &str) -> bool {
    allowed.iter().any(|p| action_matches(p, action))
        && !denied.iter().any(|p| action_matches(p, action))
}

/// Whether the permission pattern `pattern` (with `*` wildcards) matches the
/// operation `action`, ignoring ASCII case.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    let p = pattern.as_bytes();
    let a = action.as_bytes();
    // Iterative glob matching with one backtracking point per `*`.
    let (mut pi, mut ai) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ai < a.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ai));
            pi += 1;
        } else if pi < p.len() && p[pi].eq_ignore_ascii_case(&a[ai]) {
            pi += 1;
            ai += 1;
        } else if let Some((sp, sa)) = star {
            pi = sp + 1;
            ai = sa + 1;
            star = Some((sp, sa + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|b| *b == b'*')
}

/// The IDs of the built-in roles.
pub mod builtin_roles {
    use super::*;

    /// Owner: everything, including granting access.
    pub const OWNER: Uuid = uuid!("8e3af657-a8ff-443c-a75c-2fe8c4bcb635");
    /// Contributor: everything except granting access.
    pub const CONTRIBUTOR: Uuid = uuid!("b24988ac-6180-42a0-ab88-20f7382dd24c");
    /// Reader: read everything, change nothing.
    pub const READER: Uuid = uuid!("acdd72a7-3385-48ef-bd42-f606fba81ae7");
    /// User Access Administrator: manages role assignments only.
    pub const USER_ACCESS_ADMINISTRATOR: Uuid = uuid!("18d7d88d-d35e-4fb5-a5c3-7773c20a72d9");
    /// FHIR Data Reader: read and search FHIR data.
    pub const FHIR_DATA_READER: Uuid = uuid!("4c8d0bbc-75d3-4935-991f-5f3c56d81508");
    /// FHIR Data Writer: read, write and soft-delete FHIR data, and run its operations.
    pub const FHIR_DATA_WRITER: Uuid = uuid!("3f88fce4-5892-4214-ae73-ba5294559913");
    /// FHIR Data Contributor: every FHIR data action but `smart`.
    pub const FHIR_DATA_CONTRIBUTOR: Uuid = uuid!("5a1fc7df-4bf1-4951-a576-89034ee01acd");
    /// FHIR Data Exporter: read and `$export`.
    pub const FHIR_DATA_EXPORTER: Uuid = uuid!("3db33094-8700-4567-8da5-1501d4e7e843");
    /// FHIR Data Importer: read and `$import`.
    pub const FHIR_DATA_IMPORTER: Uuid = uuid!("4465e953-8ced-4406-a58e-0f6e3f3b530b");
    /// FHIR Data Converter: `$convert-data`.
    pub const FHIR_DATA_CONVERTER: Uuid = uuid!("a1705bd2-3a8f-45a5-8683-466fcfd5cc24");
    /// FHIR SMART User: read, limited by SMART on FHIR scopes (`smart`).
    pub const FHIR_SMART_USER: Uuid = uuid!("4ba50f17-9666-485c-a643-ff00808643f0");
    /// DICOM Data Owner: every DICOM data action.
    pub const DICOM_DATA_OWNER: Uuid = uuid!("58a3b984-7adf-4c20-983a-32417c86fbc8");
    /// DICOM Data Reader: read and search DICOM data.
    pub const DICOM_DATA_READER: Uuid = uuid!("e89c7a3c-2f64-4fa1-a847-3e4c9ba4283a");
}

use builtin_roles as ids;

const FHIR: &str = "Microsoft.HealthcareApis/workspaces/fhirservices/resources";

/// Both spellings Azure lists for a FHIR data action: the workspace FHIR
/// service's and the legacy Azure API for FHIR's (`services/fhir`).
macro_rules! fhir {
    ($($op:literal),* $(,)?) => {
        &[$(concat!("Microsoft.HealthcareApis/services/fhir/resources/", $op),
            concat!("Microsoft.HealthcareApis/workspaces/fhirservices/resources/", $op)),*]
    };
}

/// Every built-in role Hale knows, in the order `role definition list` shows them.
pub const BUILT_IN: &[RoleDefinition] = &[
    RoleDefinition {
        id: ids::OWNER,
        name: "Owner",
        description: "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
        actions: &["*"],
        not_actions: &[],
        data_actions: &[],
        not_data_actions: &[],
    },
    RoleDefinition {
        id: ids::CONTRIBUTOR,
        name: "Contributor",
        description: "Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC, manage assignments in Azure Blueprints, or share image galleries.",
        actions: &["*"],
        not_actions: &[
            "Microsoft.Authorization/*/Delete",
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/elevateAccess/Action",
            "Microsoft.Blueprint/blueprintAssignments/write",
            "Microsoft.Blueprint/blueprintAssignments/delete",
            "Microsoft.Compute/galleries/share/action",
        ],
        data_actions: &[],
        not_data_actions: &[],
    },
    RoleDefinition {
        id: ids::READER,
        name: "Reader",
        description: "View all resources, but does not allow you to make any changes.",
        actions: &["*/read"],
        not_actions: &[],
        data_actions: &[],
        not_data_actions: &[],
    },
    RoleDefinition {
        id: ids::USER_ACCESS_ADMINISTRATOR,
        name: "User Access Administrator",
        description: "Lets you manage user access to Azure resources.",
        actions: &["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"],
        not_actions: &[],
        data_actions: &[],
        not_data_actions: &[],
    },
    RoleDefinition {
        id: ids::FHIR_DATA_CONTRIBUTOR,
        name: "FHIR Data Contributor",
        description: "Role allows user or principal full access to FHIR Data",
        actions: &[],
        not_actions: &[],
        data_actions: fhir!["*"],
        not_data_actions: fhir!["smart/action"],
    },
    RoleDefinition {
        id: ids::FHIR_DATA_CONVERTER,
        name: "FHIR Data Converter",
        description: "Role allows user or principal to convert data from legacy format to FHIR",
        actions: &[],
        not_actions: &[],
        data_actions: fhir!["convertData/action"],
        not_data_actions: &[],
    },
    RoleDefinition {
        id: ids::FHIR_DATA_EXPORTER,
        name: "FHIR Data Exporter",
        description: "Role allows user or principal to read and export FHIR Data",
        actions: &[],
        not_actions: &[],
        data_actions: fhir!["read", "export/action"],
        not_data_actions: &[],
    },
    RoleDefinition {
        id: ids::FHIR_DATA_IMPORTER,
        name: "FHIR Data Importer",
        description: "Role allows user or principal to read and import FHIR Data",
        actions: &[],
        not_actions: &[],
        // Workspace FHIR services only, as in Azure.
        data_actions: &[
            "Microsoft.HealthcareApis/workspaces/fhirservices/resources/read",
            "Microsoft.HealthcareApis/workspaces/fhirservices/resources/import/action",
        ],
        not_data_actions: &[],
    },
    RoleDefinition {
        id: ids::FHIR_DATA_READER,
        name: "FHIR Data Reader",
        description: "Role allows user or principal to read FHIR Data",
        actions: &[],
        not_actions: &[],
        data_actions: fhir!["read"],
        not_data_actions: &[],
    },
    RoleDefinition {
        id: ids::FHIR_DATA_WRITER,
        name: "FHIR Data Writer",
        description: "Role allows user or principal to read and write FHIR Data",
        actions: &[],
        not_actions: &[],
        data_actions: fhir![
            "read",
            "write",
            "delete",
            "export/action",
            "resourceValidate/action",
            "reindex/action",
            "convertData/action",
            "editProfileDefinitions/action",
            "import/action",
        ],
        not_data_actions: &[],
    },
    RoleDefinition {
        id: ids::FHIR_SMART_USER,
        name: "FHIR SMART User",
        description: "Role allows user to access FHIR Service according to SMART on FHIR specification",
        actions: &[],
        not_actions: &[],
        data_actions: fhir!["read", "smart/action"],
        not_data_actions: &[],
    },
    RoleDefinition {
        id: ids::DICOM_DATA_OWNER,
        name: "DICOM Data Owner",
        description: "Full access to DICOM data.",
        actions: &[],
        not_actions: &[],
        data_actions: &["Microsoft.HealthcareApis/workspaces/dicomservices/resources/*"],
        not_data_actions: &[],
    },
    RoleDefinition {
        id: ids::DICOM_DATA_READER,
        name: "DICOM Data Reader",
        description: "Read and search DICOM data.",
        actions: &[],
        not_actions: &[],
        data_actions: &["Microsoft.HealthcareApis/workspaces/dicomservices/resources/read"],
        not_data_actions: &[],
    },
];

/// The built-in role with this definition ID.
pub fn by_id(id: Uuid) -> Option<&'static RoleDefinition> {
    BUILT_IN.iter().find(|r| r.id == id)
}

/// The built-in role with this `roleName` (ignoring case).
pub fn by_name(name: &str) -> Option<&'static RoleDefinition> {
    BUILT_IN
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(name.trim()))
}

/// The prefix of FHIR data actions on workspace FHIR services.
pub(crate) const FHIR_DATA_PREFIX: &str = FHIR;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_in_azure() {
        let cases = [
            ("*", "Microsoft.HealthcareApis/workspaces/write", true),
            ("*/read", "Microsoft.HealthcareApis/workspaces/read", true),
            ("*/read", "Microsoft.HealthcareApis/workspaces/write", false),
            (
                "*/read",
                "Microsoft.HealthcareApis/workspaces/reader",
                false,
            ),
            (
                "Microsoft.Authorization/*/Write",
                "microsoft.authorization/roleAssignments/write",
                true,
            ),
            (
                "Microsoft.Authorization/*/Write",
                "Microsoft.Authorization/roleAssignments/read",
                false,
            ),
            (
                "Microsoft.Authorization/*",
                "Microsoft.Authorization/roleAssignments/delete",
                true,
            ),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("a*", "a", true),
            ("", "", true),
            ("", "x", false),
        ];
        for (pattern, action, expected) in cases {
            assert_eq!(
                action_matches(pattern, action),
                expected,
                "{pattern} ~ {action}"
            );
        }
    }

    #[test]
    fn control_plane_roles() {
        let write_assignment = "Microsoft.Authorization/roleAssignments/write";
        let read_workspace = "Microsoft.HealthcareApis/workspaces/read";
        let write_workspace = "Microsoft.HealthcareApis/workspaces/write";
        // (role, may write assignments, may read workspaces, may write workspaces)
        let table = [
            (ids::OWNER, true, true, true),
            (ids::CONTRIBUTOR, false, true, true),
            (ids::READER, false, true, false),
            (ids::USER_ACCESS_ADMINISTRATOR, true, true, false),
            (ids::FHIR_DATA_CONTRIBUTOR, false, false, false),
            (ids::DICOM_DATA_OWNER, false, false, false),
        ];
        for (id, assign, read, write) in table {
            let role = by_id(id).unwrap();
            assert_eq!(
                role.permits_action(write_assignment),
                assign,
                "{}",
                role.name
            );
            assert_eq!(role.permits_action(read_workspace), read, "{}", role.name);
            assert_eq!(role.permits_action(write_workspace), write, "{}", role.name);
            // Control actions never grant data.
            assert!(!role.permits_data_action(&format!("{FHIR}/read")) || role.actions.is_empty());
        }
    }

    #[test]
    fn definitions_are_unique_and_named() {
        for (i, r) in BUILT_IN.iter().enumerate() {
            assert!(
                BUILT_IN[i + 1..]
                    .iter()
                    .all(|o| o.id != r.id && o.name != r.name)
            );
            assert_eq!(by_name(&r.name.to_uppercase()), Some(r));
            assert_eq!(by_id(r.id), Some(r));
        }
        assert_eq!(BUILT_IN.len(), 13);
    }
}
