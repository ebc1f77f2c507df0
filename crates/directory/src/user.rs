//! Users as Microsoft Graph shows them: profile properties, the user principal
//! name rule (a verified domain of the tenant), and Entra's password policy.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use time::format_description::well_known::Rfc3339;

use crate::{DirectoryError, ExtensionAttributes, User};

/// The Graph properties of a user beyond the ones Hale's rules depend on, as
/// Graph spells them. Kept whole as one JSON document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UserProfile {
    pub mail_nickname: Option<String>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub mail: Option<String>,
    pub other_mails: Vec<String>,
    pub job_title: Option<String>,
    pub department: Option<String>,
    pub company_name: Option<String>,
    pub employee_id: Option<String>,
    pub office_location: Option<String>,
    pub business_phones: Vec<String>,
    pub mobile_phone: Option<String>,
    pub street_address: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    pub usage_location: Option<String>,
    pub preferred_language: Option<String>,
    /// `extensionAttribute1`…`15`, which claims-mapping policies can put in
    /// tokens (SMART on FHIR's `fhirUser`). Shown only when `$select`ed, as
    /// in Graph.
    pub on_premises_extension_attributes: ExtensionAttributes,
    /// Values of directory extensions, by the extension's full name
    /// (`extension_{appId}_{name}`, as registered). Checked against the
    /// extension when set; shown only when `$select`ed, as in Graph.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extensions: BTreeMap<String, Value>,
    /// From `passwordProfile`: the user must choose a new password at next
    /// sign-in.
    pub force_change_password_next_sign_in: bool,
}

/// The profile properties a client may set, as Graph names them.
pub const USER_PROFILE_PROPERTIES: &[&str] = &[
    "mailNickname",
    "givenName",
    "surname",
    "mail",
    "otherMails",
    "jobTitle",
    "department",
    "companyName",
    "employeeId",
    "officeLocation",
    "businessPhones",
    "mobilePhone",
    "streetAddress",
    "city",
    "state",
    "postalCode",
    "country",
    "usageLocation",
    "preferredLanguage",
];

/// The properties Graph returns for a user when no `$select` is given.
pub const USER_DEFAULT_PROPERTIES: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
];

impl User {
    /// The user as Graph's `user` resource, every property Hale keeps (callers
    /// project it onto the default set or `$select`). The password is never
    /// part of it: `passwordProfile` is always `null`, as in Graph.
    pub fn to_graph(&self) -> Value {
        let mut map = Map::new();
        map.insert("id".into(), json!(self.id.to_string()));
        map.insert("userPrincipalName".into(), json!(self.user_principal_name));
        map.insert("displayName".into(), json!(self.display_name));
        map.insert("accountEnabled".into(), json!(self.account_enabled));
        map.insert(
            "createdDateTime".into(),
            json!(
                self.created_at
                    .replace_nanosecond(0)
                    .ok()
                    .and_then(|t| t.format(&Rfc3339).ok())
            ),
        );
        map.insert("userType".into(), json!("Member"));
        map.insert("passwordProfile".into(), Value::Null);
        if let Ok(Value::Object(profile)) = serde_json::to_value(&self.profile) {
            for (key, value) in profile {
                if key != "forceChangePasswordNextSignIn" && key != "extensions" {
                    map.insert(key, value);
                }
            }
        }
        for (name, value) in &self.profile.extensions {
            map.insert(name.clone(), value.clone());
        }
        Value::Object(map)
    }
}

impl UserProfile {
    /// The value of the directory extension `name` (its full name, ignoring
    /// case), if the user has one.
    pub fn extension(&self, name: &str) -> Option<&Value> {
        self.extensions
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

fn invalid(property: &str, why: &str) -> DirectoryError {
    DirectoryError::InvalidProperty {
        property: property.to_owned(),
        why: why.to_owned(),
    }
}

/// Checks a user principal name for `tenant_domain` (the tenant's verified
/// domain): `alias@domain`, the alias at most 64 characters of letters, digits
/// and `' . - _ ! # ^ ~`, not starting or ending with a dot, the domain the
/// tenant's. Returns it with the domain lowercased.
pub fn validate_user_principal_name(
    upn: &str,
    tenant_domain: &str,
) -> Result<String, DirectoryError> {
    let Some((alias, domain)) = upn.rsplit_once('@') else {
        return Err(invalid(
            "userPrincipalName",
            "must be of the form alias@domain",
        ));
    };
    if alias.is_empty() || alias.chars().count() > 64 {
        return Err(invalid(
            "userPrincipalName",
            "the alias must be 1 to 64 characters",
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "'.-_!#^~".contains(c);
    if !alias.chars().all(allowed) || alias.starts_with('.') || alias.ends_with('.') {
        return Err(invalid(
            "userPrincipalName",
            "the alias may hold only letters, digits and ' . - _ ! # ^ ~, and may not start or end with a dot",
        ));
    }
    if !domain.eq_ignore_ascii_case(tenant_domain) {
        return Err(DirectoryError::UnverifiedDomain);
    }
    Ok(format!("{alias}@{}", domain.to_ascii_lowercase()))
}

/// Checks a mail nickname: 1 to 64 ASCII characters, none of
/// `@ ( ) \ [ ] " ; : < > , ` nor whitespace.
pub fn validate_mail_nickname(nickname: &str) -> Result<(), DirectoryError> {
    let bad = |c: char| !c.is_ascii() || c.is_whitespace() || "@()\\[]\";:<>,".contains(c);
    if nickname.is_empty() || nickname.len() > 64 || nickname.chars().any(bad) {
        return Err(invalid(
            "mailNickname",
            "must be 1 to 64 ASCII characters without spaces or @ ( ) \\ [ ] \" ; : < > ,",
        ));
    }
    Ok(())
}

/// Entra's password policy for cloud users: 8 to 256 characters, from at
/// least three of lowercase letters, uppercase letters, digits and symbols;
/// no control characters or characters outside Latin-1 printable ASCII.
pub fn check_password_policy(password: &str) -> Result<(), DirectoryError> {
    let count = password.chars().count();
    let printable = password.chars().all(|c| (' '..='~').contains(&c));
    let classes = [
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password
            .chars()
            .any(|c| c.is_ascii_punctuation() || c == ' '),
    ]
    .into_iter()
    .filter(|&b| b)
    .count();
    if !(8..=256).contains(&count) || !printable || classes < 3 {
        return Err(DirectoryError::WeakPassword);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_principal_names() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("alice@hale.local", Ok("alice@hale.local")),
            ("Alice.Smith@HALE.local", Ok("Alice.Smith@hale.local")),
            ("o'neil_1-x!#^~@hale.local", Ok("o'neil_1-x!#^~@hale.local")),
            ("alice@contoso.com", Err("domain")),
            ("alice", Err("alias@domain")),
            ("@hale.local", Err("1 to 64")),
            (".alice@hale.local", Err("dot")),
            ("alice.@hale.local", Err("dot")),
            ("al ice@hale.local", Err("letters")),
            ("älice@hale.local", Err("letters")),
        ];
        for (upn, expected) in cases {
            match (validate_user_principal_name(upn, "hale.local"), expected) {
                (Ok(got), Ok(want)) => assert_eq!(got, *want, "{upn}"),
                (Err(e), Err(part)) => assert!(e.to_string().contains(part), "{upn}: {e}"),
                (got, want) => panic!("{upn}: got {got:?}, want {want:?}"),
            }
        }
        let long = format!("{}@hale.local", "a".repeat(65));
        assert!(validate_user_principal_name(&long, "hale.local").is_err());
    }

    #[test]
    fn password_policy() {
        let cases = [
            ("Passw0rd", true),    // lower, upper, digit
            ("passw0rd!", true),   // lower, digit, symbol
            ("PASSWORD1!", true),  // upper, digit, symbol
            ("pass word A", true), // space counts as a symbol
            ("Password", false),   // two classes
            ("passw0rd", false),   // two classes
            ("Pa0!", false),       // too short
            ("Pässw0rd", false),   // outside printable ASCII
            ("Pass\tw0rd", false),
        ];
        for (password, ok) in cases {
            assert_eq!(check_password_policy(password).is_ok(), ok, "{password:?}");
        }
        let longest = format!("Aa1{}", "x".repeat(253));
        assert!(check_password_policy(&longest).is_ok());
        assert!(check_password_policy(&format!("{longest}x")).is_err());
    }

    #[test]
    fn mail_nicknames() {
        for ok in ["alice", "team-1", "a.b_c"] {
            assert!(validate_mail_nickname(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a@b", "(x)", "ä", &"a".repeat(65)] {
            assert!(validate_mail_nickname(bad).is_err(), "{bad:?}");
        }
    }
}
