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
/// Without such a role a caller may still register applications and manage
/// the ones it owns: see [`may_write_owned_applications`].
pub fn may_write_applications(principal: &Principal, permissions: &[String]) -> bool {
    may_write(
        principal,
        permissions,
        WRITE_APPLICATIONS,
        APPLICATION_MANAGERS,
    )
}

const READ_USERS: &[&str] = &[
    "User.ReadBasic.All",
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const WRITE_USERS: &[&str] = &["User.ReadWrite.All", "Directory.ReadWrite.All"];
const USER_MANAGERS: &[DirectoryRole] = &[
    DirectoryRole::GlobalAdministrator,
    DirectoryRole::UserAdministrator,
];
/// What a signed-in user needs to read their own profile (`/me`).
const READ_SELF: &[&str] = &["User.Read", "User.ReadWrite"];
const READ_GROUPS: &[&str] = &[
    "Group.Read.All",
    "Group.ReadWrite.All",
    "GroupMember.Read.All",
    "GroupMember.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const WRITE_GROUPS: &[&str] = &["Group.ReadWrite.All", "Directory.ReadWrite.All"];
const WRITE_GROUP_MEMBERS: &[&str] = &[
    "GroupMember.ReadWrite.All",
    "Group.ReadWrite.All",
    "Directory.ReadWrite.All",
];
const GROUP_MANAGERS: &[DirectoryRole] = &[
    DirectoryRole::GlobalAdministrator,
    DirectoryRole::UserAdministrator,
    DirectoryRole::GroupsAdministrator,
];
const READ_ROLES: &[&str] = &[
    "RoleManagement.Read.Directory",
    "RoleManagement.ReadWrite.Directory",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const WRITE_ROLES: &[&str] = &["RoleManagement.ReadWrite.Directory"];
const ROLE_MANAGERS: &[DirectoryRole] = &[
    DirectoryRole::GlobalAdministrator,
    DirectoryRole::PrivilegedRoleAdministrator,
];

/// `Directory.AccessAsUser.All` (delegated only; the Azure CLI's Graph
/// token carries it) lets the signed-in user do in the directory whatever
/// their directory roles allow.
const AS_USER: &[&str] = &["Directory.AccessAsUser.All"];

/// One of `any_of`, or, for a signed-in user, `Directory.AccessAsUser.All`.
fn granted_to(principal: &Principal, permissions: &[String], any_of: &[&str]) -> bool {
    granted(permissions, any_of)
        || (matches!(principal, Principal::User { .. }) && granted(permissions, AS_USER))
}

/// A write permission and, for a user, one of `managers` (delegated
/// permissions never exceed what the signed-in user may do).
fn may_write(
    principal: &Principal,
    permissions: &[String],
    any_of: &[&str],
    managers: &[DirectoryRole],
) -> bool {
    granted_to(principal, permissions, any_of)
        && match principal {
            Principal::Application => true,
            Principal::User { roles } => roles.iter().any(|r| managers.contains(r)),
        }
}

const WRITE_OWNED_APPLICATIONS: &[&str] = &[
    "Application.ReadWrite.All",
    "Application.ReadWrite.OwnedBy",
    "Directory.ReadWrite.All",
];

/// Whether the caller may register applications and manage the ones it owns
/// (Entra's default: every member may register applications; the creator
/// becomes an owner).
pub fn may_write_owned_applications(_principal: &Principal, permissions: &[String]) -> bool {
    granted(permissions, WRITE_OWNED_APPLICATIONS)
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

/// Whether the caller may list and read users (any member of the tenant may,
/// given the permission).
pub fn may_read_users(principal: &Principal, permissions: &[String]) -> bool {
    granted_to(principal, permissions, READ_USERS)
}

/// Whether a signed-in user may read their own profile through `/me`
/// (`User.Read` suffices; so does any permission to read all users).
pub fn may_read_self(principal: &Principal, permissions: &[String]) -> bool {
    matches!(principal, Principal::User { .. })
        && (granted(permissions, READ_SELF) || granted_to(principal, permissions, READ_USERS))
}

/// Whether the caller may create, change (including passwords) and delete
/// users: `User.ReadWrite.All` or `Directory.ReadWrite.All`, and for a user
/// the Global Administrator or User Administrator role.
pub fn may_write_users(principal: &Principal, permissions: &[String]) -> bool {
    may_write(principal, permissions, WRITE_USERS, USER_MANAGERS)
}

/// Whether the caller may list and read groups, their members and
/// memberships.
pub fn may_read_groups(principal: &Principal, permissions: &[String]) -> bool {
    granted_to(principal, permissions, READ_GROUPS)
}

/// Whether the caller may create, change and delete groups: a group write
/// permission and, for a user, Global, User or Groups Administrator.
///
/// FIXME(issue 4): group owners are not modelled; only administrators write.
pub fn may_write_groups(principal: &Principal, permissions: &[String]) -> bool {
    may_write(principal, permissions, WRITE_GROUPS, GROUP_MANAGERS)
}

/// Whether the caller may add and remove group members
/// (`GroupMember.ReadWrite.All` suffices).
pub fn may_write_group_members(principal: &Principal, permissions: &[String]) -> bool {
    may_write(principal, permissions, WRITE_GROUP_MEMBERS, GROUP_MANAGERS)
}

/// Whether the caller may list directory roles and their members.
pub fn may_read_directory_roles(principal: &Principal, permissions: &[String]) -> bool {
    granted_to(principal, permissions, READ_ROLES)
}

/// Whether the caller may add and remove directory role members:
/// `RoleManagement.ReadWrite.Directory` and, for a user, Global
/// Administrator or Privileged Role Administrator.
pub fn may_write_directory_roles(principal: &Principal, permissions: &[String]) -> bool {
    may_write(principal, permissions, WRITE_ROLES, ROLE_MANAGERS)
}

const READ_POLICIES: &[&str] = &[
    "Policy.Read.All",
    "Policy.ReadWrite.ApplicationConfiguration",
];
const WRITE_POLICIES: &[&str] = &["Policy.ReadWrite.ApplicationConfiguration"];

/// Whether the caller may list and read claims-mapping policies
/// (`Policy.Read.All` suffices, as in Graph).
pub fn may_read_policies(principal: &Principal, permissions: &[String]) -> bool {
    granted_to(principal, permissions, READ_POLICIES)
}

/// Whether the caller may create, change and delete claims-mapping policies:
/// `Policy.ReadWrite.ApplicationConfiguration` and, for a user, an
/// application-managing directory role (the policies change what every
/// token for an application says).
pub fn may_write_policies(principal: &Principal, permissions: &[String]) -> bool {
    may_write(principal, permissions, WRITE_POLICIES, APPLICATION_MANAGERS)
}

/// Whether the caller may assign a claims-mapping policy to a service
/// principal, or remove it: Graph wants a policy permission (reading is
/// enough) and the right to write applications.
pub fn may_assign_policies(principal: &Principal, permissions: &[String]) -> bool {
    may_read_policies(principal, permissions) && may_write_applications(principal, permissions)
}

/// Whether the caller may read the sign-in log: `AuditLog.Read.All` and, for
/// a user, Global Administrator (Entra also lets report and security readers).
pub fn may_read_sign_ins(principal: &Principal, permissions: &[String]) -> bool {
    granted(permissions, &["AuditLog.Read.All"])
        && match principal {
            Principal::Application => true,
            Principal::User { roles } => roles.contains(&DirectoryRole::GlobalAdministrator),
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

    type Rule = fn(&Principal, &[String]) -> bool;

    #[test]
    fn user_group_and_role_access() {
        use DirectoryRole::*;
        let user = |roles: &[DirectoryRole]| Principal::User {
            roles: roles.to_vec(),
        };
        let app = Principal::Application;
        let rules: &[(&str, Rule)] = &[
            ("read users", may_read_users),
            ("write users", may_write_users),
            ("read self", may_read_self),
            ("read groups", may_read_groups),
            ("write groups", may_write_groups),
            ("write members", may_write_group_members),
            ("read roles", may_read_directory_roles),
            ("write roles", may_write_directory_roles),
        ];
        // (principal, permissions, the rules (by name) that allow it)
        let cases: Vec<(Principal, &[&str], &[&str])> = vec![
            (user(&[GlobalAdministrator]), &["User.Read"], &["read self"]),
            (user(&[]), &["User.Read"], &["read self"]),
            (
                user(&[]),
                &["User.ReadWrite.All"],
                &["read users", "read self"],
            ),
            (
                user(&[UserAdministrator]),
                &["user.readwrite.all"],
                &["read users", "write users", "read self"],
            ),
            (
                user(&[ApplicationAdministrator]),
                &["User.ReadWrite.All", "Group.ReadWrite.All"],
                &["read users", "read self", "read groups"],
            ),
            (
                user(&[GroupsAdministrator]),
                &["Group.ReadWrite.All"],
                &["read groups", "write groups", "write members"],
            ),
            (
                user(&[GroupsAdministrator]),
                &["GroupMember.ReadWrite.All"],
                &["read groups", "write members"],
            ),
            (
                user(&[GlobalAdministrator]),
                &["Directory.ReadWrite.All"],
                &[
                    "read users",
                    "write users",
                    "read self",
                    "read groups",
                    "write groups",
                    "write members",
                    "read roles",
                ],
            ),
            (
                user(&[GlobalAdministrator]),
                &["RoleManagement.ReadWrite.Directory"],
                &["read roles", "write roles"],
            ),
            (
                user(&[UserAdministrator]),
                &["RoleManagement.ReadWrite.Directory"],
                &["read roles"],
            ),
            (
                user(&[PrivilegedRoleAdministrator]),
                &["RoleManagement.ReadWrite.Directory"],
                &["read roles", "write roles"],
            ),
            (app.clone(), &["User.Read"], &[]),
            (app.clone(), &["User.Read.All"], &["read users"]),
            (
                app.clone(),
                &["User.ReadWrite.All"],
                &["read users", "write users"],
            ),
            (
                app.clone(),
                &["GroupMember.ReadWrite.All"],
                &["read groups", "write members"],
            ),
            (
                app.clone(),
                &["Directory.Read.All"],
                &["read users", "read groups", "read roles"],
            ),
            (
                app.clone(),
                &["RoleManagement.ReadWrite.Directory"],
                &["read roles", "write roles"],
            ),
            (
                user(&[GlobalAdministrator]),
                &["Directory.AccessAsUser.All"],
                &[
                    "read users",
                    "write users",
                    "read self",
                    "read groups",
                    "write groups",
                    "write members",
                    "read roles",
                    "write roles",
                ],
            ),
            (
                user(&[]),
                &["Directory.AccessAsUser.All"],
                &["read users", "read self", "read groups", "read roles"],
            ),
            (app.clone(), &["Directory.AccessAsUser.All"], &[]),
            (app, &[], &[]),
        ];
        for (principal, granted, allowed) in cases {
            let p = perms(granted);
            for (name, rule) in rules {
                assert_eq!(
                    rule(&principal, &p),
                    allowed.contains(name),
                    "{principal:?} {granted:?}: {name}"
                );
            }
        }
    }
}
