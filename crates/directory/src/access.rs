//! Who may do what through Microsoft Graph: the permission (`scp` for delegated
//! tokens, `roles` for application tokens) and, for users, the directory role.

use crate::DirectoryRole;

/// The caller behind a Graph request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A signed-in user (delegated token) holding these directory roles.
    User { roles: Vec<DirectoryRole> },
    /// An application acting as itself (app-only token).
    Application,
}

const READ_APPLICATIONS: &[&str] = &[
    "Application.Read.All",
    "Application.ReadWrite.All",
    "Application.ReadWrite.OwnedBy",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const WRITE_APPLICATIONS: &[&str] = &["Application.ReadWrite.All", "Directory.ReadWrite.All"];
const APPLICATION_MANAGERS: &[DirectoryRole] = &[
    DirectoryRole::GlobalAdministrator,
    DirectoryRole::ApplicationAdministrator,
    DirectoryRole::CloudApplicationAdministrator,
];

fn granted(permissions: &[String], any_of: &[&str]) -> bool {
    permissions
        .iter()
        .any(|p| any_of.iter().any(|a| a.eq_ignore_ascii_case(p)))
}

/// Whether the caller may list and read app registrations (any member of the
/// tenant may, given the permission; `_principal` will matter for guests).
pub fn may_read_applications(_principal: &Principal, permissions: &[String]) -> bool {
    granted(permissions, READ_APPLICATIONS)
}

/// Whether the caller may create, change and delete any app registration:
/// a write permission and, for a user, an application-managing directory role
/// (delegated permissions never exceed what the user may do).
///
/// FIXME(issue 4): owners, and Entra's "users can register applications", are
/// not modelled yet; a user without such a role may not write.
pub fn may_write_applications(principal: &Principal, permissions: &[String]) -> bool {
    granted(permissions, WRITE_APPLICATIONS)
        && match principal {
            Principal::Application => true,
            Principal::User { roles } => roles.iter().any(|r| APPLICATION_MANAGERS.contains(r)),
        }
}

const READ_CONSENT: &[&str] = &[
    "DelegatedPermissionGrant.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "Application.Read.All",
    "Application.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const WRITE_GRANTS: &[&str] = &[
    "DelegatedPermissionGrant.ReadWrite.All",
    "Directory.ReadWrite.All",
];
const WRITE_ASSIGNMENTS: &[&str] = &["AppRoleAssignment.ReadWrite.All", "Directory.ReadWrite.All"];

/// Whether the caller may read consent: delegated permission grants and app
/// role assignments.
pub fn may_read_consent(_principal: &Principal, permissions: &[String]) -> bool {
    granted(permissions, READ_CONSENT)
}

/// Whether the caller may grant or revoke delegated permissions for the
/// tenant (admin consent): the permission and, for a user, an
/// application-managing directory role.
pub fn may_write_grants(principal: &Principal, permissions: &[String]) -> bool {
    granted(permissions, WRITE_GRANTS) && is_manager(principal)
}

/// Whether the caller may assign app roles (application permissions too).
pub fn may_write_assignments(principal: &Principal, permissions: &[String]) -> bool {
    granted(permissions, WRITE_ASSIGNMENTS) && is_manager(principal)
}

fn is_manager(principal: &Principal) -> bool {
    match principal {
        Principal::Application => true,
        Principal::User { roles } => roles.iter().any(|r| APPLICATION_MANAGERS.contains(r)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perms(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn application_access() {
        let admin = Principal::User {
            roles: vec![DirectoryRole::GlobalAdministrator],
        };
        let plain = Principal::User { roles: vec![] };
        let app = Principal::Application;
        let cases = [
            (&admin, &["Application.ReadWrite.All"][..], true, true),
            (&admin, &["application.readwrite.all"][..], true, true),
            (&admin, &["User.Read"][..], false, false),
            (&admin, &["Application.Read.All"][..], true, false),
            (&plain, &["Application.ReadWrite.All"][..], true, false),
            (&app, &["Application.ReadWrite.All"][..], true, true),
            (&app, &["Directory.Read.All"][..], true, false),
            (&app, &[][..], false, false),
        ];
        let consent_cases = [
            (
                &admin,
                &["DelegatedPermissionGrant.ReadWrite.All"][..],
                true,
                true,
                false,
            ),
            (
                &admin,
                &["AppRoleAssignment.ReadWrite.All"][..],
                true,
                false,
                true,
            ),
            (
                &plain,
                &[
                    "DelegatedPermissionGrant.ReadWrite.All",
                    "AppRoleAssignment.ReadWrite.All",
                ][..],
                true,
                false,
                false,
            ),
            (&app, &["Directory.ReadWrite.All"][..], true, true, true),
            (&app, &["Application.Read.All"][..], true, false, false),
            (&app, &["User.Read"][..], false, false, false),
        ];
        for (principal, list, read, grants, assignments) in consent_cases {
            let p = perms(list);
            assert_eq!(
                may_read_consent(principal, &p),
                read,
                "{principal:?} {list:?}"
            );
            assert_eq!(
                may_write_grants(principal, &p),
                grants,
                "{principal:?} {list:?}"
            );
            assert_eq!(
                may_write_assignments(principal, &p),
                assignments,
                "{principal:?} {list:?}"
            );
        }
        for (principal, granted, read, write) in cases {
            let p = perms(granted);
            assert_eq!(
                may_read_applications(principal, &p),
                read,
                "{principal:?} {granted:?} read"
            );
            assert_eq!(
                may_write_applications(principal, &p),
                write,
                "{principal:?} {granted:?} write"
            );
        }
    }
}
