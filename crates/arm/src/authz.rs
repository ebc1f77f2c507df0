//! Azure RBAC decisions: which operations a principal may perform at a scope.
//!
//! The inputs are the role assignments of the principal and of every group it
//! is in, transitively ([`Grant`]s: a scope and a role). An assignment applies
//! at its scope and everything below it. The principal may perform an
//! operation when one applicable role permits it (each role's `notActions` /
//! `notDataActions` subtract from that role only, as in Azure).
//!
//! Also here: the data actions of the FHIR and DICOM services, and which one a
//! data-plane request needs.

use uuid::Uuid;

use crate::resource_id::{ResourceId, key_is_within};
use crate::roles::{self, FHIR_DATA_PREFIX};

/// A role assignment as a decision needs it: where it was made, and which role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The assignment's scope, lowercased ([`ResourceId::key`]).
    pub scope: String,
    pub role_definition_id: Uuid,
}

/// Roles that apply at `target`: from grants at `target` or above it.
fn applicable<'a>(
    grants: &'a [Grant],
    target: &ResourceId,
) -> impl Iterator<Item = &'static roles::RoleDefinition> + 'a {
    let key = target.key();
    grants
        .iter()
        .filter(move |g| key_is_within(&key, &g.scope))
        .filter_map(|g| roles::by_id(g.role_definition_id))
}

/// Whether the grants permit the control-plane operation `action` at `target`.
pub fn permits_action(grants: &[Grant], target: &ResourceId, action: &str) -> bool {
    applicable(grants, target).any(|r| r.permits_action(action))
}

/// Whether the grants permit the data operation `action` at `target`.
pub fn permits_data_action(grants: &[Grant], target: &ResourceId, action: &DataAction) -> bool {
    let operation = action.operation();
    applicable(grants, target).any(|r| r.permits_data_action(&operation))
}

/// The FHIR data actions the grants permit at `target`.
pub fn fhir_data_actions(grants: &[Grant], target: &ResourceId) -> Vec<FhirDataAction> {
    FhirDataAction::ALL
        .iter()
        .copied()
        .filter(|a| permits_data_action(grants, target, &DataAction::Fhir(*a)))
        .collect()
}

/// An operation on the data of a FHIR service (Azure's data actions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FhirDataAction {
    /// Read, search and history.
    Read,
    /// Create and update.
    Write,
    /// Soft delete (history kept).
    Delete,
    /// Delete with history (`hardDelete=true`).
    HardDelete,
    Export,
    Import,
    ResourceValidate,
    Reindex,
    ConvertData,
    /// Create, update, delete profile resources (StructureDefinition, …).
    EditProfileDefinitions,
    /// Create, update, delete SearchParameter resources.
    SearchParameter,
    /// Access limited by SMART on FHIR scopes and the `fhirUser` compartment.
    Smart,
}

impl FhirDataAction {
    /// Every FHIR data action.
    pub const ALL: &[FhirDataAction] = &[
        FhirDataAction::Read,
        FhirDataAction::Write,
        FhirDataAction::Delete,
        FhirDataAction::HardDelete,
        FhirDataAction::Export,
        FhirDataAction::Import,
        FhirDataAction::ResourceValidate,
        FhirDataAction::Reindex,
        FhirDataAction::ConvertData,
        FhirDataAction::EditProfileDefinitions,
        FhirDataAction::SearchParameter,
        FhirDataAction::Smart,
    ];

    /// The short name (`read`, `hardDelete`, …).
    pub fn name(self) -> &'static str {
        match self {
            FhirDataAction::Read => "read",
            FhirDataAction::Write => "write",
            FhirDataAction::Delete => "delete",
            FhirDataAction::HardDelete => "hardDelete",
            FhirDataAction::Export => "export",
            FhirDataAction::Import => "import",
            FhirDataAction::ResourceValidate => "resourceValidate",
            FhirDataAction::Reindex => "reindex",
            FhirDataAction::ConvertData => "convertData",
            FhirDataAction::EditProfileDefinitions => "editProfileDefinitions",
            FhirDataAction::SearchParameter => "searchParameter",
            FhirDataAction::Smart => "smart",
        }
    }
}

/// An operation on the data of a DICOM service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DicomDataAction {
    /// WADO, QIDO, metadata, rendered, change feed.
    Read,
    /// STOW, updates, work items.
    Write,
    Delete,
}

impl DicomDataAction {
    /// Every DICOM data action.
    pub const ALL: &[DicomDataAction] = &[
        DicomDataAction::Read,
        DicomDataAction::Write,
        DicomDataAction::Delete,
    ];

    /// The short name.
    pub fn name(self) -> &'static str {
        match self {
            DicomDataAction::Read => "read",
            DicomDataAction::Write => "write",
            DicomDataAction::Delete => "delete",
        }
    }
}

/// A data action of either service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataAction {
    Fhir(FhirDataAction),
    Dicom(DicomDataAction),
}

impl DataAction {
    /// The operation string role definitions are matched against, e.g.
    /// `Microsoft.HealthcareApis/workspaces/fhirservices/resources/export/action`.
    pub fn operation(&self) -> String {
        // Azure spells the three CRUD verbs bare and everything else `…/action`.
        let verb = |name: &str| match name {
            "read" | "write" | "delete" => name.to_owned(),
            other => format!("{other}/action"),
        };
        match self {
            DataAction::Fhir(a) => format!("{FHIR_DATA_PREFIX}/{}", verb(a.name())),
            DataAction::Dicom(a) => format!(
                "Microsoft.HealthcareApis/workspaces/dicomservices/resources/{}",
                verb(a.name())
            ),
        }
    }
}

/// Resource types whose writes need `editProfileDefinitions` (fhir-server's
/// profile resources).
const PROFILE_TYPES: &[&str] = &[
    "StructureDefinition",
    "ValueSet",
    "CodeSystem",
    "ConceptMap",
];

/// The data action a FHIR request needs: `method`, the path below the service
/// URL split on `/` (empty segments removed), and the query.
///
/// FIXME(issue 7): batch and transaction bundles (`POST` to the base) need
/// `write` here; the FHIR service must authorize each entry on its own.
pub fn fhir_action(method: &str, path: &[&str], query: &[(String, String)]) -> FhirDataAction {
    let hard_delete = query
        .iter()
        .any(|(k, v)| k == "hardDelete" && v.eq_ignore_ascii_case("true"));
    // An export job's status, cancellation and files are the exporter's.
    if path.starts_with(&["_operations", "export"]) {
        return FhirDataAction::Export;
    }
    let operation = path.iter().rev().find_map(|s| s.strip_prefix('$'));
    let method = method.to_ascii_uppercase();
    let reads = matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS");
    match operation {
        Some("export") => return FhirDataAction::Export,
        Some("import") => return FhirDataAction::Import,
        Some("validate") => return FhirDataAction::ResourceValidate,
        Some("reindex") => return FhirDataAction::Reindex,
        Some("convert-data") => return FhirDataAction::ConvertData,
        Some("bulk-delete") if hard_delete => return FhirDataAction::HardDelete,
        Some("bulk-delete") => return FhirDataAction::Delete,
        Some(_) if reads => return FhirDataAction::Read,
        Some(_) => return FhirDataAction::Write,
        None => {}
    }
    if path.last() == Some(&"_search") || reads {
        return FhirDataAction::Read;
    }
    if method == "DELETE" {
        return if hard_delete {
            FhirDataAction::HardDelete
        } else {
            FhirDataAction::Delete
        };
    }
    match path.first() {
        Some(&"SearchParameter") => FhirDataAction::SearchParameter,
        Some(t) if PROFILE_TYPES.contains(t) => FhirDataAction::EditProfileDefinitions,
        _ => FhirDataAction::Write,
    }
}

/// The data action a DICOMweb request needs (`method` only: every DICOMweb
/// write is a POST, PUT or PATCH, every delete a DELETE).
pub fn dicom_action(method: &str) -> DicomDataAction {
    match method.to_ascii_uppercase().as_str() {
        "DELETE" => DicomDataAction::Delete,
        "POST" | "PUT" | "PATCH" => DicomDataAction::Write,
        _ => DicomDataAction::Read,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roles::builtin_roles as ids;
    use FhirDataAction as F;

    const SUB: &str = "4a1c7e2e-6f21-4b6f-9d8e-0c1b2a3d4e5f";

    fn service(kind: &str, ws: &str, name: &str) -> ResourceId {
        ResourceId::parse(&format!(
            "/subscriptions/{SUB}/resourceGroups/RG/providers/Microsoft.HealthcareApis/workspaces/{ws}/{kind}/{name}"
        ))
        .unwrap()
    }

    fn grant(scope: &str, role: Uuid) -> Grant {
        Grant {
            scope: scope.to_ascii_lowercase(),
            role_definition_id: role,
        }
    }

    #[test]
    fn every_builtin_role_grants_exactly_its_fhir_data_actions() {
        use F::*;
        let table: &[(Uuid, &[FhirDataAction])] = &[
            (ids::FHIR_DATA_READER, &[Read]),
            (
                ids::FHIR_DATA_WRITER,
                &[
                    Read,
                    Write,
                    Delete,
                    Export,
                    Import,
                    ResourceValidate,
                    Reindex,
                    ConvertData,
                    EditProfileDefinitions,
                ],
            ),
            (
                ids::FHIR_DATA_CONTRIBUTOR,
                &[
                    Read,
                    Write,
                    Delete,
                    HardDelete,
                    Export,
                    Import,
                    ResourceValidate,
                    Reindex,
                    ConvertData,
                    EditProfileDefinitions,
                    SearchParameter,
                ],
            ),
            (ids::FHIR_DATA_EXPORTER, &[Read, Export]),
            (ids::FHIR_DATA_IMPORTER, &[Read, Import]),
            (ids::FHIR_DATA_CONVERTER, &[ConvertData]),
            (ids::FHIR_SMART_USER, &[Read, Smart]),
            (ids::DICOM_DATA_OWNER, &[]),
            (ids::DICOM_DATA_READER, &[]),
            (ids::OWNER, &[]),
            (ids::CONTRIBUTOR, &[]),
            (ids::READER, &[]),
            (ids::USER_ACCESS_ADMINISTRATOR, &[]),
        ];
        assert_eq!(table.len(), roles::BUILT_IN.len());
        let target = service("fhirservices", "ws", "fhir");
        for (role, expected) in table {
            let grants = [grant(&target.to_string(), *role)];
            assert_eq!(
                fhir_data_actions(&grants, &target),
                *expected,
                "{}",
                roles::by_id(*role).unwrap().name
            );
        }
    }

    #[test]
    fn every_builtin_role_grants_exactly_its_dicom_data_actions() {
        use DicomDataAction::*;
        let target = service("dicomservices", "ws", "dicom");
        for role in roles::BUILT_IN {
            let expected: &[DicomDataAction] = match role.id {
                ids::DICOM_DATA_OWNER => &[Read, Write, Delete],
                ids::DICOM_DATA_READER => &[Read],
                _ => &[],
            };
            let grants = [grant(&target.to_string(), role.id)];
            let got: Vec<DicomDataAction> = DicomDataAction::ALL
                .iter()
                .copied()
                .filter(|a| permits_data_action(&grants, &target, &DataAction::Dicom(*a)))
                .collect();
            assert_eq!(got, expected, "{}", role.name);
        }
    }

    #[test]
    fn assignments_apply_at_their_scope_and_below_only() {
        let target = service("fhirservices", "ws", "fhir");
        let read = DataAction::Fhir(F::Read);
        let at = |scope: String| vec![grant(&scope, ids::FHIR_DATA_READER)];
        let sub = format!("/subscriptions/{SUB}");
        let rg = format!("{sub}/resourceGroups/rg");
        let ws = format!("{rg}/providers/Microsoft.HealthcareApis/workspaces/ws");
        let cases = [
            (sub.clone(), true),
            (rg.clone(), true),
            (ws.clone(), true),
            (format!("{ws}/fhirservices/FHIR"), true),
            // Elsewhere: a sibling service, another workspace, another group.
            (format!("{ws}/fhirservices/fhir2"), false),
            (format!("{ws}/dicomservices/fhir"), false),
            (
                format!("{rg}/providers/Microsoft.HealthcareApis/workspaces/ws2"),
                false,
            ),
            (format!("{sub}/resourceGroups/rg2"), false),
            (format!("/subscriptions/{}", Uuid::nil()), false),
        ];
        for (scope, expected) in cases {
            assert_eq!(
                permits_data_action(&at(scope.clone()), &target, &read),
                expected,
                "{scope}"
            );
        }
    }

    #[test]
    fn not_data_actions_subtract_per_role_only() {
        let target = service("fhirservices", "ws", "fhir");
        let scope = target.to_string();
        let smart = DataAction::Fhir(F::Smart);
        // Contributor alone: everything but smart.
        assert!(!permits_data_action(
            &[grant(&scope, ids::FHIR_DATA_CONTRIBUTOR)],
            &target,
            &smart
        ));
        // Contributor's notDataActions do not cancel SMART User's grant.
        let both = [
            grant(&scope, ids::FHIR_DATA_CONTRIBUTOR),
            grant(&scope, ids::FHIR_SMART_USER),
        ];
        assert!(permits_data_action(&both, &target, &smart));
        // No grants, no access.
        assert!(fhir_data_actions(&[], &target).is_empty());
        // An unknown role definition grants nothing.
        assert!(fhir_data_actions(&[grant(&scope, Uuid::new_v4())], &target).is_empty());
    }

    #[test]
    fn control_actions_follow_scope_too() {
        let ws = ResourceId::parse(&format!(
            "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.HealthcareApis/workspaces/ws"
        ))
        .unwrap();
        let grants = [grant(&ws.to_string(), ids::CONTRIBUTOR)];
        assert!(permits_action(
            &grants,
            &ws,
            "Microsoft.HealthcareApis/workspaces/write"
        ));
        assert!(!permits_action(
            &grants,
            &ws,
            "Microsoft.Authorization/roleAssignments/write"
        ));
        let rg = ws.parent().unwrap();
        assert!(!permits_action(
            &grants,
            &rg,
            "Microsoft.HealthcareApis/workspaces/write"
        ));
    }

    #[test]
    fn operations_are_spelled_as_azure_spells_them() {
        let cases = [
            (
                DataAction::Fhir(F::Read),
                "Microsoft.HealthcareApis/workspaces/fhirservices/resources/read",
            ),
            (
                DataAction::Fhir(F::HardDelete),
                "Microsoft.HealthcareApis/workspaces/fhirservices/resources/hardDelete/action",
            ),
            (
                DataAction::Fhir(F::ConvertData),
                "Microsoft.HealthcareApis/workspaces/fhirservices/resources/convertData/action",
            ),
            (
                DataAction::Dicom(DicomDataAction::Write),
                "Microsoft.HealthcareApis/workspaces/dicomservices/resources/write",
            ),
        ];
        for (action, expected) in cases {
            assert_eq!(action.operation(), expected);
        }
    }

    #[test]
    fn fhir_requests_need_these_actions() {
        let q = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        let none = Vec::new();
        type Case<'a> = (&'a str, Vec<&'a str>, Vec<(String, String)>, FhirDataAction);
        let cases: Vec<Case> = vec![
            ("GET", vec!["Patient"], none.clone(), F::Read),
            (
                "GET",
                vec!["Patient", "1", "_history", "2"],
                none.clone(),
                F::Read,
            ),
            ("HEAD", vec!["Patient", "1"], none.clone(), F::Read),
            ("POST", vec!["Patient", "_search"], none.clone(), F::Read),
            ("POST", vec!["Patient"], none.clone(), F::Write),
            ("PUT", vec!["Patient", "1"], none.clone(), F::Write),
            ("PATCH", vec!["Patient", "1"], none.clone(), F::Write),
            ("POST", vec![], none.clone(), F::Write),
            ("DELETE", vec!["Patient", "1"], none.clone(), F::Delete),
            (
                "DELETE",
                vec!["Patient", "1"],
                q("hardDelete", "true"),
                F::HardDelete,
            ),
            (
                "DELETE",
                vec!["Patient", "1"],
                q("hardDelete", "false"),
                F::Delete,
            ),
            ("GET", vec!["$export"], none.clone(), F::Export),
            ("GET", vec!["Patient", "$export"], none.clone(), F::Export),
            (
                "GET",
                vec!["Group", "g1", "$export"],
                none.clone(),
                F::Export,
            ),
            (
                "GET",
                vec!["_operations", "export", "j1"],
                none.clone(),
                F::Export,
            ),
            (
                "DELETE",
                vec!["_operations", "export", "j1"],
                none.clone(),
                F::Export,
            ),
            (
                "GET",
                vec!["_operations", "export", "j1", "Patient-1.ndjson"],
                none.clone(),
                F::Export,
            ),
            ("POST", vec!["$import"], none.clone(), F::Import),
            (
                "POST",
                vec!["Patient", "$validate"],
                none.clone(),
                F::ResourceValidate,
            ),
            ("POST", vec!["$reindex"], none.clone(), F::Reindex),
            ("POST", vec!["$convert-data"], none.clone(), F::ConvertData),
            ("DELETE", vec!["$bulk-delete"], none.clone(), F::Delete),
            (
                "DELETE",
                vec!["$bulk-delete"],
                q("hardDelete", "true"),
                F::HardDelete,
            ),
            (
                "GET",
                vec!["Patient", "1", "$everything"],
                none.clone(),
                F::Read,
            ),
            (
                "POST",
                vec!["Patient", "1", "$meta-add"],
                none.clone(),
                F::Write,
            ),
            (
                "PUT",
                vec!["StructureDefinition", "x"],
                none.clone(),
                F::EditProfileDefinitions,
            ),
            (
                "POST",
                vec!["ValueSet"],
                none.clone(),
                F::EditProfileDefinitions,
            ),
            ("DELETE", vec!["ValueSet", "x"], none.clone(), F::Delete),
            (
                "POST",
                vec!["SearchParameter"],
                none.clone(),
                F::SearchParameter,
            ),
            ("GET", vec!["SearchParameter"], none.clone(), F::Read),
        ];
        for (method, path, query, expected) in cases {
            assert_eq!(
                fhir_action(method, &path, &query),
                expected,
                "{method} {path:?} {query:?}"
            );
        }
    }

    #[test]
    fn dicom_requests_need_these_actions() {
        for (method, expected) in [
            ("GET", DicomDataAction::Read),
            ("HEAD", DicomDataAction::Read),
            ("POST", DicomDataAction::Write),
            ("PUT", DicomDataAction::Write),
            ("PATCH", DicomDataAction::Write),
            ("DELETE", DicomDataAction::Delete),
        ] {
            assert_eq!(dicom_action(method), expected, "{method}");
        }
    }
}
