//! Claims-mapping policies: rules, kept by the directory and assigned to a
//! service principal, that add claims taken from the signed-in user (or
//! constants) to the tokens issued for that application. SMART on FHIR's
//! `fhirUser` claim is the reason Hale has them: Entra's documented recipe maps
//! `extensionAttribute1` of the user's `onPremisesExtensionAttributes` to it.
//!
//! Hale honours a subset of Entra's policy language and refuses the rest when
//! the policy is written, so a stored policy always means what it says: user
//! attributes Hale keeps, the user's directory extensions (`ExtensionID`) and
//! constant values, emitted in JWTs. Transformations, non-user sources and
//! policies that drop the basic claim set are refused.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::{DirectoryError, ObjectId, TenantId, User};

/// How many `extensionAttributeN` a user has (Exchange's fifteen).
pub const EXTENSION_ATTRIBUTES: usize = 15;
/// The longest value of one extension attribute (Graph: 1024 characters).
pub const MAX_EXTENSION_ATTRIBUTE_LEN: usize = 1024;

/// A user's `onPremisesExtensionAttributes`: `extensionAttribute1` to
/// `extensionAttribute15`, each a string or `null`. Graph always shows all
/// fifteen, so the JSON form lists every one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExtensionAttributes(pub [Option<String>; EXTENSION_ATTRIBUTES]);

impl ExtensionAttributes {
    /// `extensionAttribute{n}`, for `n` in 1..=15.
    pub fn get(&self, n: usize) -> Option<&str> {
        self.0.get(n.wrapping_sub(1))?.as_deref()
    }

    /// Which attribute a Graph property name is (`extensionAttribute7` → 7).
    pub fn number(name: &str) -> Option<usize> {
        let n: usize = name.strip_prefix("extensionAttribute")?.parse().ok()?;
        // `extensionAttribute07` is not a property.
        (1..=EXTENSION_ATTRIBUTES)
            .contains(&n)
            .then_some(n)
            .filter(|n| name.ends_with(&format!("e{n}")))
    }

    /// The attributes with `patch` (a Graph `onPremisesExtensionAttributes`
    /// object) applied: the named ones change, `null` clears, the others stay.
    pub fn patched(&self, patch: &Map<String, Value>) -> Result<Self, DirectoryError> {
        const PROPERTY: &str = "onPremisesExtensionAttributes";
        let mut out = self.clone();
        for (name, value) in patch {
            if name == "@odata.type" {
                continue;
            }
            let n = Self::number(name).ok_or_else(|| DirectoryError::InvalidProperty {
                property: format!("{PROPERTY}.{name}"),
                why: "there is no such property; use extensionAttribute1 to extensionAttribute15"
                    .into(),
            })?;
            out.0[n - 1] = match value {
                Value::Null => None,
                Value::String(s) if s.chars().count() <= MAX_EXTENSION_ATTRIBUTE_LEN => {
                    // An empty string clears, as Graph stores no empty values.
                    (!s.is_empty()).then(|| s.clone())
                }
                Value::String(_) => {
                    return Err(DirectoryError::InvalidProperty {
                        property: format!("{PROPERTY}.{name}"),
                        why: format!("must be at most {MAX_EXTENSION_ATTRIBUTE_LEN} characters"),
                    });
                }
                _ => {
                    return Err(DirectoryError::InvalidProperty {
                        property: format!("{PROPERTY}.{name}"),
                        why: "must be a string or null".into(),
                    });
                }
            };
        }
        Ok(out)
    }
}

impl Serialize for ExtensionAttributes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(EXTENSION_ATTRIBUTES))?;
        for (i, value) in self.0.iter().enumerate() {
            map.serialize_entry(&format!("extensionAttribute{}", i + 1), value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for ExtensionAttributes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, Option<String>>::deserialize(deserializer)?;
        let mut out = ExtensionAttributes::default();
        for (name, value) in map {
            let n = Self::number(&name).ok_or_else(|| {
                serde::de::Error::custom(format!("unknown extension attribute {name:?}"))
            })?;
            out.0[n - 1] = value;
        }
        Ok(out)
    }
}

/// A claims-mapping policy as Graph's `claimsMappingPolicy` shows it (without
/// `id`, which the store keeps apart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimsMappingPolicy {
    #[serde(skip)]
    pub id: ObjectId,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub display_name: String,
    pub description: Option<String>,
    /// One JSON string: `{"ClaimsMappingPolicy": {...}}`, checked by
    /// [`ClaimsMapping::parse`] before it is stored.
    pub definition: Vec<String>,
    pub is_organization_default: bool,
    #[serde(skip, default = "OffsetDateTime::now_utc")]
    pub created_at: OffsetDateTime,
}

/// The largest policy definition accepted (Hale's bound; Entra's policies are
/// small documents too).
pub const MAX_DEFINITION_BYTES: usize = 16 * 1024;
/// The most claims one policy may add (Hale's bound, keeping tokens small).
pub const MAX_CLAIMS_SCHEMA_ENTRIES: usize = 50;
/// The longest claim name a policy may emit.
pub const MAX_CLAIM_TYPE_LEN: usize = 128;
/// The longest constant `Value`.
pub const MAX_CLAIM_VALUE_LEN: usize = 1024;

/// A user attribute a policy may take a claim from (the `ID` of a `user`
/// source, compared ignoring case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserAttribute {
    ObjectId,
    UserPrincipalName,
    DisplayName,
    GivenName,
    Surname,
    Mail,
    MailNickname,
    EmployeeId,
    Department,
    CompanyName,
    JobTitle,
    OfficeLocation,
    MobilePhone,
    StreetAddress,
    City,
    State,
    PostalCode,
    Country,
    PreferredLanguage,
    /// `extensionattribute1` to `extensionattribute15`.
    Extension(usize),
}

impl UserAttribute {
    fn from_id(id: &str) -> Option<Self> {
        use UserAttribute as A;
        let id = id.to_ascii_lowercase();
        if let Some(n) = id.strip_prefix("extensionattribute") {
            let n: usize = n.parse().ok()?;
            return ((1..=EXTENSION_ATTRIBUTES).contains(&n) && id.ends_with(&format!("e{n}")))
                .then_some(A::Extension(n));
        }
        Some(match id.as_str() {
            "objectid" => A::ObjectId,
            "userprincipalname" => A::UserPrincipalName,
            "displayname" => A::DisplayName,
            "givenname" => A::GivenName,
            "surname" => A::Surname,
            "mail" => A::Mail,
            "mailnickname" => A::MailNickname,
            "employeeid" => A::EmployeeId,
            "department" => A::Department,
            "companyname" => A::CompanyName,
            "jobtitle" => A::JobTitle,
            "officelocation" => A::OfficeLocation,
            "mobilephone" => A::MobilePhone,
            "streetaddress" => A::StreetAddress,
            "city" => A::City,
            "state" => A::State,
            "postalcode" => A::PostalCode,
            "country" => A::Country,
            "preferredlanguage" => A::PreferredLanguage,
            _ => return None,
        })
    }

    /// The attribute's value for `user`, if it has one.
    fn of(self, user: &User) -> Option<String> {
        use UserAttribute as A;
        let p = &user.profile;
        let text = |s: &Option<String>| s.clone();
        match self {
            A::ObjectId => Some(user.id.to_string()),
            A::UserPrincipalName => Some(user.user_principal_name.clone()),
            A::DisplayName => Some(user.display_name.clone()),
            A::GivenName => text(&p.given_name),
            A::Surname => text(&p.surname),
            A::Mail => text(&p.mail),
            A::MailNickname => text(&p.mail_nickname),
            A::EmployeeId => text(&p.employee_id),
            A::Department => text(&p.department),
            A::CompanyName => text(&p.company_name),
            A::JobTitle => text(&p.job_title),
            A::OfficeLocation => text(&p.office_location),
            A::MobilePhone => text(&p.mobile_phone),
            A::StreetAddress => text(&p.street_address),
            A::City => text(&p.city),
            A::State => text(&p.state),
            A::PostalCode => text(&p.postal_code),
            A::Country => text(&p.country),
            A::PreferredLanguage => text(&p.preferred_language),
            A::Extension(n) => p.on_premises_extension_attributes.get(n).map(str::to_owned),
        }
    }
}

/// Where a mapped claim's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimSource {
    User(UserAttribute),
    /// A directory extension of the user, by full name
    /// (`extension_{appId}_{name}`). Like Entra, the policy may name one not
    /// (yet) registered: the claim is absent while the user has no value.
    Extension(String),
    Constant(String),
}

/// One `ClaimsSchema` entry Hale honours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedClaim {
    pub source: ClaimSource,
    /// The claim's name in JWTs (`JwtClaimType`).
    pub claim: String,
}

/// A policy definition, parsed: the claims it adds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClaimsMapping {
    pub claims: Vec<MappedClaim>,
}

/// Claims a policy may not set: Entra's restricted JWT claim set (the core
/// claims and those whose source cannot change), compared ignoring case.
const RESTRICTED_CLAIMS: &[&str] = &[
    ".",
    "_claim_names",
    "_claim_sources",
    "aai",
    "access_token",
    "account_type",
    "acct",
    "acr",
    "acrs",
    "actor",
    "actortoken",
    "agegroup",
    "aio",
    "altsecid",
    "amr",
    "app_chain",
    "app_displayname",
    "app_res",
    "appctx",
    "appctxsender",
    "appid",
    "appidacr",
    "assertion",
    "at_hash",
    "aud",
    "auth_data",
    "auth_time",
    "authorization_code",
    "azp",
    "azpacr",
    "bk_claim",
    "bk_enclave",
    "bk_pub",
    "brk_client_id",
    "brk_redirect_uri",
    "c_hash",
    "ca_enf",
    "ca_policy_result",
    "capolids",
    "capolids_latebind",
    "cc",
    "cert_token_use",
    "child_client_id",
    "child_redirect_uri",
    "client_id",
    "client_ip",
    "cloud_graph_host_name",
    "cloud_instance_host_name",
    "cloud_instance_name",
    "cloudassignedmdmid",
    "cnf",
    "code",
    "controls",
    "controls_auds",
    "credential_keys",
    "csr",
    "csr_type",
    "ctry",
    "deviceid",
    "dns_names",
    "domain_dns_name",
    "domain_netbios_name",
    "e_exp",
    "email",
    "endpoint",
    "enfpolids",
    "exp",
    "expires_on",
    "fido_auth_data",
    "fido_ver",
    "fwd",
    "fwd_appidacr",
    "grant_type",
    "graph",
    "group_sids",
    "groups",
    "hasgroups",
    "hash_alg",
    "haswids",
    "home_oid",
    "home_puid",
    "home_tid",
    "iat",
    "identityprovider",
    "idp",
    "idtyp",
    "in_corp",
    "instance",
    "inviteticket",
    "ipaddr",
    "isbrowserhostedapp",
    "iss",
    "isviral",
    "jwk",
    "key_id",
    "key_type",
    "login_hint",
    "mam_compliance_url",
    "mam_enrollment_url",
    "mam_terms_of_use_url",
    "mdm_compliance_url",
    "mdm_enrollment_url",
    "mdm_terms_of_use_url",
    "msgraph_host",
    "msproxy",
    "nameid",
    "nbf",
    "netbios_name",
    "nickname",
    "nonce",
    "oid",
    "on_prem_id",
    "onprem_sam_account_name",
    "onprem_sid",
    "openid2_id",
    "origin_header",
    "password",
    "platf",
    "polids",
    "pop_jwk",
    "preferred_username",
    "previous_refresh_token",
    "primary_sid",
    "prov_data",
    "puid",
    "pwd_exp",
    "pwd_url",
    "rdp_bt",
    "redirect_uri",
    "refresh_token",
    "refresh_token_issued_on",
    "refreshtoken",
    "request_nonce",
    "resource",
    "rh",
    "role",
    "roles",
    "rp_id",
    "rt_type",
    "scope",
    "scp",
    "secaud",
    "sid",
    "signature",
    "signin_state",
    "source_anchor",
    "src1",
    "src2",
    "sub",
    "target_deviceid",
    "tbid",
    "tbidv2",
    "tenant_ctry",
    "tenant_display_name",
    "tenant_id",
    "tenant_region_scope",
    "tenant_region_sub_scope",
    "thumbnail_photo",
    "tid",
    "tokenautologonenabled",
    "trustedfordelegation",
    "ttr",
    "unique_name",
    "upn",
    "user_agent",
    "user_setting_sync_url",
    "username",
    "uti",
    "ver",
    "verified_primary_email",
    "verified_secondary_email",
    "vnet",
    "vsm_binding_key",
    "wamcompat_client_info",
    "wamcompat_id_token",
    "wamcompat_scopes",
    "wids",
    "win_ver",
    "x5c_ca",
    "xcb2b_rclient",
    "xcb2b_rcloud",
    "xcb2b_rtenant",
    "ztdid",
];

/// Whether a policy may not emit `claim`: Entra's restricted set, any
/// `xms_` claim and any `extn.` claim.
pub fn is_restricted_claim(claim: &str) -> bool {
    let lower = claim.to_ascii_lowercase();
    RESTRICTED_CLAIMS.contains(&lower.as_str())
        || lower.starts_with("xms_")
        || lower.starts_with("extn.")
}

fn bad(why: impl Into<String>) -> DirectoryError {
    DirectoryError::InvalidProperty {
        property: "definition".into(),
        why: why.into(),
    }
}

/// A property of a JSON object by name, ignoring case (Entra's own samples
/// spell `JwtClaimType` and `JWTClaimType` both).
fn field<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// A boolean that policy definitions write as `true` or `"true"`.
fn flag(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

impl ClaimsMapping {
    /// Parses and checks a policy's `definition` (Graph: a collection of one
    /// JSON string). Refuses, naming the reason, anything Hale would not
    /// honour exactly.
    pub fn parse(definition: &[String]) -> Result<ClaimsMapping, DirectoryError> {
        let [text] = definition else {
            return Err(bad("must hold exactly one JSON string"));
        };
        if text.len() > MAX_DEFINITION_BYTES {
            return Err(bad(format!(
                "the definition is larger than {MAX_DEFINITION_BYTES} bytes"
            )));
        }
        let document: Value = serde_json::from_str(text)
            .map_err(|e| bad(format!("the definition is not valid JSON: {e}")))?;
        let Some(outer) = document.as_object().filter(|m| m.len() == 1) else {
            return Err(bad(
                "the definition must be a JSON object with one property, ClaimsMappingPolicy",
            ));
        };
        let Some(Value::Object(policy)) = field(outer, "ClaimsMappingPolicy") else {
            return Err(bad(
                "the definition must be a JSON object with one property, ClaimsMappingPolicy",
            ));
        };
        for name in policy.keys() {
            let known = ["Version", "IncludeBasicClaimSet", "ClaimsSchema"]
                .iter()
                .any(|k| k.eq_ignore_ascii_case(name));
            if !known {
                return Err(bad(format!(
                    "ClaimsMappingPolicy.{name} is not supported by Hale (claims transformations and other settings are not honoured)"
                )));
            }
        }
        let version = field(policy, "Version").and_then(|v| match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        });
        if version != Some(1) {
            return Err(bad("ClaimsMappingPolicy.Version must be 1"));
        }
        match field(policy, "IncludeBasicClaimSet").map(flag) {
            None | Some(Some(true)) => {}
            Some(Some(false)) => {
                return Err(bad(
                    "IncludeBasicClaimSet false is not supported by Hale: its tokens always carry the basic claim set",
                ));
            }
            Some(None) => return Err(bad("IncludeBasicClaimSet must be true or false")),
        }
        let entries = match field(policy, "ClaimsSchema") {
            None | Some(Value::Null) => &Vec::new(),
            Some(Value::Array(entries)) => entries,
            Some(_) => return Err(bad("ClaimsSchema must be an array")),
        };
        if entries.len() > MAX_CLAIMS_SCHEMA_ENTRIES {
            return Err(bad(format!(
                "ClaimsSchema may hold at most {MAX_CLAIMS_SCHEMA_ENTRIES} entries"
            )));
        }
        let mut claims: Vec<MappedClaim> = Vec::with_capacity(entries.len());
        for entry in entries {
            let claim = Self::entry(entry)?;
            if claims.iter().any(|c| c.claim == claim.claim) {
                return Err(bad(format!(
                    "ClaimsSchema maps JwtClaimType '{}' twice",
                    claim.claim
                )));
            }
            claims.push(claim);
        }
        Ok(ClaimsMapping { claims })
    }

    fn entry(entry: &Value) -> Result<MappedClaim, DirectoryError> {
        let Value::Object(map) = entry else {
            return Err(bad("each ClaimsSchema entry must be an object"));
        };
        const KNOWN: &[&str] = &[
            "Source",
            "ID",
            "Value",
            "ExtensionID",
            "JwtClaimType",
            "SamlClaimType",
            "SamlNameFormat",
        ];
        for name in map.keys() {
            if !KNOWN.iter().any(|k| k.eq_ignore_ascii_case(name)) {
                return Err(bad(format!(
                    "ClaimsSchema entries with {name} are not supported by Hale"
                )));
            }
        }
        let text = |name: &str| -> Result<Option<&str>, DirectoryError> {
            match field(map, name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(bad(format!("ClaimsSchema {name} must be a string"))),
            }
        };
        let claim = text("JwtClaimType")?.ok_or_else(|| {
            bad("each ClaimsSchema entry needs a JwtClaimType (Hale issues JWTs only)")
        })?;
        if claim.is_empty()
            || claim.len() > MAX_CLAIM_TYPE_LEN
            || claim.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(bad(format!(
                "JwtClaimType must be 1 to {MAX_CLAIM_TYPE_LEN} characters without spaces"
            )));
        }
        if is_restricted_claim(claim) {
            return Err(bad(format!(
                "JwtClaimType '{claim}' is in the restricted claim set and cannot be mapped"
            )));
        }
        let source = match (
            text("Source")?,
            text("ID")?,
            text("Value")?,
            text("ExtensionID")?,
        ) {
            (None, None, Some(value), None) => {
                if value.is_empty() || value.chars().count() > MAX_CLAIM_VALUE_LEN {
                    return Err(bad(format!(
                        "a constant Value must be 1 to {MAX_CLAIM_VALUE_LEN} characters"
                    )));
                }
                ClaimSource::Constant(value.to_owned())
            }
            (Some(source), None, None, Some(extension)) if source.eq_ignore_ascii_case("user") => {
                if crate::extension_short_name(extension).is_none() {
                    return Err(bad(format!(
                        "ExtensionID '{}' is not a directory extension name (extension_{{appId}}_{{name}})",
                        extension.chars().take(64).collect::<String>()
                    )));
                }
                ClaimSource::Extension(extension.to_owned())
            }
            (Some(source), Some(id), None, None) if source.eq_ignore_ascii_case("user") => {
                ClaimSource::User(UserAttribute::from_id(id).ok_or_else(|| {
                    bad(format!(
                        "user attribute '{id}' is not supported by Hale as a claim source"
                    ))
                })?)
            }
            (Some(source), Some(_), None, None) | (Some(source), None, None, Some(_))
                if !source.eq_ignore_ascii_case("user") =>
            {
                return Err(bad(format!(
                    "Source '{source}' is not supported by Hale; use 'user', or a constant Value"
                )));
            }
            _ => {
                return Err(bad(
                    "each ClaimsSchema entry needs either Source and ID (or ExtensionID), or a Value",
                ));
            }
        };
        Ok(MappedClaim {
            source,
            claim: claim.to_owned(),
        })
    }

    /// Adds the mapped claims to `claims` for `user` (`None` for an app-only
    /// token, which gets only constants): each whose value is non-empty, and
    /// never one the token already has.
    pub fn apply(&self, claims: &mut Value, user: Option<&User>) {
        let Value::Object(map) = claims else { return };
        for mapped in &self.claims {
            if map.contains_key(&mapped.claim) {
                continue;
            }
            let value = match &mapped.source {
                ClaimSource::Constant(value) => Some(Value::String(value.clone())),
                ClaimSource::User(attribute) => {
                    user.and_then(|u| attribute.of(u)).map(Value::String)
                }
                // As the extension's type has it: a string, number, boolean
                // or, multi-valued, an array.
                ClaimSource::Extension(name) => {
                    user.and_then(|u| u.profile.extension(name)).cloned()
                }
            };
            let empty = |v: &Value| match v {
                Value::Null => true,
                Value::String(s) => s.is_empty(),
                Value::Array(items) => items.is_empty(),
                _ => false,
            };
            if let Some(value) = value.filter(|v| !empty(v)) {
                map.insert(mapped.claim.clone(), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PasswordHash, UserProfile};
    use serde_json::json;

    fn definition(policy: Value) -> Vec<String> {
        vec![json!({ "ClaimsMappingPolicy": policy }).to_string()]
    }

    #[test]
    fn the_fhir_user_recipe_parses_and_applies() {
        let mapping = ClaimsMapping::parse(&definition(json!({
            "Version": 1,
            "IncludeBasicClaimSet": "true",
            "ClaimsSchema": [
                {"Source": "user", "ID": "ExtensionAttribute1", "JwtClaimType": "fhirUser"},
                {"Value": "hale", "JWTClaimType": "site"},
                {"Source": "user", "ID": "givenname", "JwtClaimType": "first"},
            ],
        })))
        .unwrap();
        let mut profile = UserProfile::default();
        profile.on_premises_extension_attributes.0[0] = Some("Patient/123".into());
        let user = User {
            id: ObjectId::new(),
            tenant_id: TenantId(uuid::Uuid::nil()),
            user_principal_name: "a@hale.local".into(),
            display_name: "A".into(),
            password: None::<PasswordHash>,
            account_enabled: true,
            created_at: OffsetDateTime::now_utc(),
            profile,
        };
        let mut claims = json!({"site": "kept"});
        mapping.apply(&mut claims, Some(&user));
        assert_eq!(
            claims,
            json!({"fhirUser": "Patient/123", "site": "kept"}),
            "no given name: no claim; an existing claim stays"
        );
        let mut app_only = json!({});
        mapping.apply(&mut app_only, None);
        assert_eq!(app_only, json!({"site": "hale"}));
    }

    #[test]
    fn directory_extensions_map_with_their_type() {
        let name = format!("extension_{}_fhirUser", "0a".repeat(16));
        let roles = format!("extension_{}_roles", "0a".repeat(16));
        let mapping = ClaimsMapping::parse(&definition(json!({
            "Version": 1,
            "ClaimsSchema": [
                {"Source": "user", "ExtensionID": name.to_ascii_uppercase(), "JwtClaimType": "fhirUser"},
                {"Source": "User", "ExtensionID": roles, "JwtClaimType": "smartRoles"},
            ],
        })))
        .unwrap();
        let mut profile = UserProfile::default();
        profile
            .extensions
            .insert(name.clone(), json!("Practitioner/7"));
        let user = User {
            id: ObjectId::new(),
            tenant_id: TenantId(uuid::Uuid::nil()),
            user_principal_name: "a@hale.local".into(),
            display_name: "A".into(),
            password: None::<PasswordHash>,
            account_enabled: true,
            created_at: OffsetDateTime::now_utc(),
            profile,
        };
        let mut claims = json!({});
        mapping.apply(&mut claims, Some(&user));
        assert_eq!(claims, json!({"fhirUser": "Practitioner/7"}));
        let mut user = user;
        user.profile.extensions.insert(roles, json!(["a", "b"]));
        let mut claims = json!({});
        mapping.apply(&mut claims, Some(&user));
        assert_eq!(claims["smartRoles"], json!(["a", "b"]));
    }

    #[test]
    fn what_hale_cannot_honour_is_refused() {
        let entry = |e: Value| definition(json!({"Version": 1, "ClaimsSchema": [e]}));
        let cases: Vec<(Vec<String>, &str)> = vec![
            (vec!["{not json".into()], "not valid JSON"),
            (vec![], "exactly one"),
            (vec!["{}".into(), "{}".into()], "exactly one"),
            (
                vec![json!({"Other": {}}).to_string()],
                "ClaimsMappingPolicy",
            ),
            (definition(json!({"Version": 2})), "Version"),
            (
                definition(json!({"Version": 1, "IncludeBasicClaimSet": "false"})),
                "IncludeBasicClaimSet",
            ),
            (
                definition(json!({"Version": 1, "ClaimsTransformations": []})),
                "ClaimsTransformations",
            ),
            (
                entry(json!({"Source": "user", "ID": "shoesize", "JwtClaimType": "x"})),
                "shoesize",
            ),
            (
                entry(json!({"Source": "user", "ID": "extensionattribute16", "JwtClaimType": "x"})),
                "extensionattribute16",
            ),
            (
                entry(json!({"Source": "company", "ID": "tenantcountry", "JwtClaimType": "x"})),
                "company",
            ),
            (
                entry(json!({"Source": "user", "ID": "mail", "JwtClaimType": "aud"})),
                "restricted",
            ),
            (
                entry(json!({"Source": "user", "ID": "mail", "JwtClaimType": "XMS_cc"})),
                "restricted",
            ),
            (
                entry(json!({"Source": "user", "ID": "mail", "JwtClaimType": "Roles"})),
                "restricted",
            ),
            (
                entry(json!({"Source": "user", "ID": "mail", "SamlClaimType": "urn:x"})),
                "JwtClaimType",
            ),
            (
                entry(json!({"Source": "user", "ExtensionID": "extension_x", "JwtClaimType": "x"})),
                "ExtensionID",
            ),
            (
                entry(
                    json!({"Source": "user", "ID": "mail", "ExtensionID": format!("extension_{}_x", "a".repeat(32)), "JwtClaimType": "x"}),
                ),
                "either",
            ),
            (
                entry(
                    json!({"Source": "company", "ExtensionID": format!("extension_{}_x", "a".repeat(32)), "JwtClaimType": "x"}),
                ),
                "company",
            ),
            (entry(json!({"Value": "", "JwtClaimType": "x"})), "constant"),
            (
                entry(json!({"Source": "user", "ID": "mail", "Value": "v", "JwtClaimType": "x"})),
                "either",
            ),
        ];
        for (definition, part) in cases {
            match ClaimsMapping::parse(&definition) {
                Err(e) => assert!(e.to_string().contains(part), "{definition:?}: {e}"),
                Ok(m) => panic!("{definition:?} was accepted: {m:?}"),
            }
        }
        let twice = definition(json!({"Version": 1, "ClaimsSchema": [
            {"Source": "user", "ID": "mail", "JwtClaimType": "x"},
            {"Source": "user", "ID": "surname", "JwtClaimType": "x"},
        ]}));
        assert!(ClaimsMapping::parse(&twice).is_err());
    }

    #[test]
    fn extension_attributes_patch_and_round_trip() {
        let start = ExtensionAttributes::default();
        let patch = json!({"extensionAttribute1": "Patient/1", "extensionAttribute15": "x"});
        let one = start.patched(patch.as_object().unwrap()).unwrap();
        assert_eq!(one.get(1), Some("Patient/1"));
        assert_eq!(one.get(15), Some("x"));
        let cleared = one
            .patched(json!({"extensionAttribute15": null}).as_object().unwrap())
            .unwrap();
        assert_eq!((cleared.get(1), cleared.get(15)), (Some("Patient/1"), None));
        let shown = serde_json::to_value(&cleared).unwrap();
        assert_eq!(shown.as_object().unwrap().len(), 15);
        assert_eq!(
            serde_json::from_value::<ExtensionAttributes>(shown).unwrap(),
            cleared
        );
        for bad in [
            json!({"extensionAttribute16": "x"}),
            json!({"extensionAttribute01": "x"}),
            json!({"extensionAttribute2": 3}),
            json!({"extensionAttribute2": "x".repeat(1025)}),
        ] {
            assert!(start.patched(bad.as_object().unwrap()).is_err(), "{bad}");
        }
        assert!(
            start
                .patched(
                    json!({"extensionAttribute2": "x".repeat(1024)})
                        .as_object()
                        .unwrap()
                )
                .is_ok()
        );
    }
}
