//! Consent: delegated permission grants (`oAuth2PermissionGrant`) and app role
//! assignments (`appRoleAssignment`), the two records tokens are built from.
//!
//! A delegated token for client C on resource R carries the scopes of C's
//! grants on R (tenant-wide `AllPrincipals`, or `Principal` for the signed-in
//! user); an app-only token carries the app roles assigned to C's service
//! principal on R; a user's token carries the app roles assigned to the user
//! (or a group the user is in) on R.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{DirectoryError, ObjectId};

/// The app role every resource implicitly has: "default access", assigned to
/// users of applications that define no roles.
pub const DEFAULT_ACCESS_ROLE: Uuid = Uuid::nil();

/// Who a delegated grant speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsentType {
    /// Admin consent: every user of the tenant.
    AllPrincipals,
    /// One user's own consent (`principalId`).
    Principal,
}

/// A delegated permission grant: client service principal `client_id` may
/// act for users on resource service principal `resource_id` with `scope`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2PermissionGrant {
    pub id: Uuid,
    pub client_id: ObjectId,
    pub consent_type: ConsentType,
    pub principal_id: Option<ObjectId>,
    pub resource_id: ObjectId,
    /// Space-separated scope values.
    pub scope: String,
}

impl OAuth2PermissionGrant {
    /// The scope values, in order, without duplicates.
    pub fn scopes(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for s in self.scope.split_whitespace() {
            if !out.iter().any(|o| o.eq_ignore_ascii_case(s)) {
                out.push(s);
            }
        }
        out
    }

    /// Whether this grant applies to `user`.
    pub fn covers(&self, user: ObjectId) -> bool {
        match self.consent_type {
            ConsentType::AllPrincipals => true,
            ConsentType::Principal => self.principal_id == Some(user),
        }
    }

    /// Checks the grant on its own: `principalId` exactly when the consent is
    /// a user's, and scope values that could be permission values.
    pub fn validate(&self) -> Result<(), DirectoryError> {
        match (self.consent_type, self.principal_id) {
            (ConsentType::AllPrincipals, Some(_)) => {
                return Err(invalid(
                    "principalId",
                    "must be null when consentType is AllPrincipals",
                ));
            }
            (ConsentType::Principal, None) => {
                return Err(invalid(
                    "principalId",
                    "is required when consentType is Principal",
                ));
            }
            _ => {}
        }
        if self.scope.len() > 3850 {
            return Err(invalid("scope", "must be at most 3850 characters"));
        }
        for s in self.scope.split_whitespace() {
            crate::validate_permission_value("scope", s)?;
        }
        Ok(())
    }

    /// This grant with `more` scopes added (a second consent widens the first).
    pub fn widened(&self, more: &[&str]) -> OAuth2PermissionGrant {
        let mut scopes: Vec<&str> = self.scopes();
        for s in more {
            if !scopes.iter().any(|o| o.eq_ignore_ascii_case(s)) {
                scopes.push(s);
            }
        }
        OAuth2PermissionGrant {
            scope: scopes.join(" "),
            ..self.clone()
        }
    }
}

/// What kind of object holds an app role assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PrincipalKind {
    User,
    Group,
    ServicePrincipal,
}

/// App role `app_role_id` of resource `resource_id`, assigned to `principal_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRoleAssignment {
    pub id: Uuid,
    pub app_role_id: Uuid,
    pub principal_id: ObjectId,
    pub principal_type: PrincipalKind,
    pub principal_display_name: String,
    pub resource_id: ObjectId,
    pub resource_display_name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_date_time: OffsetDateTime,
}

fn invalid(property: &str, why: &str) -> DirectoryError {
    DirectoryError::InvalidProperty {
        property: property.into(),
        why: why.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(
        consent: ConsentType,
        principal: Option<ObjectId>,
        scope: &str,
    ) -> OAuth2PermissionGrant {
        OAuth2PermissionGrant {
            id: Uuid::new_v4(),
            client_id: ObjectId::new(),
            consent_type: consent,
            principal_id: principal,
            resource_id: ObjectId::new(),
            scope: scope.into(),
        }
    }

    #[test]
    fn coverage_and_widening() {
        let alice = ObjectId::new();
        let bob = ObjectId::new();
        let all = grant(
            ConsentType::AllPrincipals,
            None,
            "User.Read  Mail.Read User.Read",
        );
        assert!(all.covers(alice) && all.covers(bob));
        assert_eq!(all.scopes(), ["User.Read", "Mail.Read"]);
        let own = grant(ConsentType::Principal, Some(alice), "user_impersonation");
        assert!(own.covers(alice) && !own.covers(bob));
        let wider = own.widened(&["USER_IMPERSONATION", "Dicom.ReadWrite"]);
        assert_eq!(wider.scope, "user_impersonation Dicom.ReadWrite");
    }

    #[test]
    fn validation() {
        assert!(
            grant(ConsentType::AllPrincipals, None, "User.Read")
                .validate()
                .is_ok()
        );
        let cases = [
            grant(
                ConsentType::AllPrincipals,
                Some(ObjectId::new()),
                "User.Read",
            ),
            grant(ConsentType::Principal, None, "User.Read"),
            grant(ConsentType::AllPrincipals, None, "bad\"value"),
            grant(ConsentType::AllPrincipals, None, &"a ".repeat(2000)),
        ];
        for g in cases {
            assert!(g.validate().is_err(), "{g:?}");
        }
    }
}
