//! Groups: security groups and Microsoft 365 groups, with members that are
//! users, service principals or other groups.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{DirectoryError, ObjectId, TenantId, validate_mail_nickname};

/// A group, serialized exactly as Graph's `group` resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: ObjectId,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub display_name: String,
    pub description: Option<String>,
    pub mail_nickname: String,
    pub mail_enabled: bool,
    pub security_enabled: bool,
    /// `[]` for a security group, `["Unified"]` for a Microsoft 365 group.
    pub group_types: Vec<String>,
    /// `nickname@domain` for a Microsoft 365 group, else `null`.
    pub mail: Option<String>,
    /// `Public` or `Private` (Microsoft 365 groups), else `null`.
    pub visibility: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_date_time: OffsetDateTime,
}

/// `groupTypes` value of a Microsoft 365 group.
pub const UNIFIED: &str = "Unified";

fn invalid(property: &str, why: &str) -> DirectoryError {
    DirectoryError::InvalidProperty {
        property: property.to_owned(),
        why: why.to_owned(),
    }
}

impl Group {
    /// Whether this is a Microsoft 365 group.
    pub fn is_unified(&self) -> bool {
        self.group_types
            .iter()
            .any(|t| t.eq_ignore_ascii_case(UNIFIED))
    }

    /// Checks the rules a group must satisfy, and derives `mail` from the
    /// nickname and the tenant's domain. As in Entra: a group is a security
    /// group, a Microsoft 365 group, or both; only Microsoft 365 groups are
    /// mail-enabled (mail-enabled security groups come from Exchange).
    pub fn validate(&mut self, tenant_domain: &str) -> Result<(), DirectoryError> {
        let name = self.display_name.trim();
        if name.is_empty() || self.display_name.chars().count() > 256 {
            return Err(invalid("displayName", "must be 1 to 256 characters"));
        }
        if self
            .description
            .as_ref()
            .is_some_and(|d| d.chars().count() > 1024)
        {
            return Err(invalid("description", "must be at most 1024 characters"));
        }
        validate_mail_nickname(&self.mail_nickname)?;
        if let Some(other) = self
            .group_types
            .iter()
            .find(|t| !t.eq_ignore_ascii_case(UNIFIED))
        {
            return Err(invalid(
                "groupTypes",
                &format!("'{other}' is not a group type; use [] or [\"Unified\"]"),
            ));
        }
        if self.mail_enabled && !self.is_unified() {
            return Err(invalid(
                "mailEnabled",
                "only Microsoft 365 groups (groupTypes [\"Unified\"]) can be mail-enabled",
            ));
        }
        if self.is_unified() && !self.mail_enabled {
            return Err(invalid(
                "mailEnabled",
                "a Microsoft 365 group must be mail-enabled",
            ));
        }
        if !self.is_unified() && !self.security_enabled {
            return Err(invalid(
                "securityEnabled",
                "a group that is not a Microsoft 365 group must be security-enabled",
            ));
        }
        match &self.visibility {
            None => {}
            Some(v) if self.is_unified() && (v == "Public" || v == "Private") => {}
            Some(_) => {
                return Err(invalid(
                    "visibility",
                    "must be Public or Private, and only on a Microsoft 365 group",
                ));
            }
        }
        self.mail = self
            .is_unified()
            .then(|| format!("{}@{tenant_domain}", self.mail_nickname));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(types: &[&str], mail: bool, security: bool) -> Group {
        Group {
            id: ObjectId::new(),
            tenant_id: TenantId::new(),
            display_name: "Clinicians".into(),
            description: None,
            mail_nickname: "clinicians".into(),
            mail_enabled: mail,
            security_enabled: security,
            group_types: types.iter().map(|s| s.to_string()).collect(),
            mail: None,
            visibility: None,
            created_date_time: OffsetDateTime::now_utc(),
        }
    }

    #[test]
    fn kinds_of_group() {
        let cases = [
            (&[][..], false, true, Ok(None)),
            (
                &["Unified"][..],
                true,
                false,
                Ok(Some("clinicians@hale.local")),
            ),
            (
                &["Unified"][..],
                true,
                true,
                Ok(Some("clinicians@hale.local")),
            ),
            (&[][..], true, true, Err("mailEnabled")),
            (&["Unified"][..], false, true, Err("mailEnabled")),
            (&[][..], false, false, Err("securityEnabled")),
            (&["DynamicMembership"][..], false, true, Err("groupTypes")),
        ];
        for (types, mail, security, expected) in cases {
            let mut g = group(types, mail, security);
            match (g.validate("hale.local"), expected) {
                (Ok(()), Ok(m)) => assert_eq!(g.mail.as_deref(), m, "{types:?}"),
                (Err(e), Err(p)) => assert!(e.to_string().contains(p), "{e}"),
                (got, want) => panic!("{types:?} {mail} {security}: {got:?} vs {want:?}"),
            }
        }
        let mut g = group(&[], false, true);
        g.display_name = " ".into();
        assert!(g.validate("hale.local").is_err());
        let mut g = group(&[], false, true);
        g.mail_nickname = "has space".into();
        assert!(g.validate("hale.local").is_err());
    }
}
