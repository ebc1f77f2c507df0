//! Directory extensions (Graph's `extensionProperty`): custom properties an
//! application registers on directory objects. A user's value is set and read
//! through the user resource itself, under the property's full name
//! `extension_{appId without dashes}_{name}`, and can be put in tokens as an
//! optional claim (`extn.{name}`) or through a claims-mapping policy's
//! `ExtensionID`. SMART on FHIR's `fhirUser` is the case Hale has them for.

use base64::Engine as _;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::{AppId, DirectoryError, ObjectId, TenantId};

/// The most extension properties one application may define (Graph: 100).
pub const MAX_EXTENSION_PROPERTIES_PER_APP: usize = 100;
/// The longest full extension name, `extension_{32 hex}_{name}` (Entra's
/// attribute name limit: 120 characters).
pub const MAX_EXTENSION_NAME_LEN: usize = 120;
/// The most characters of a `String` value, and bytes of a `Binary` one.
pub const MAX_EXTENSION_VALUE_LEN: usize = 256;
/// The most values of a multi-valued extension on one object (Hale's bound;
/// Graph limits an object to 100 extension values in all).
pub const MAX_EXTENSION_VALUES: usize = 100;
/// The objects an extension may target, as Graph spells them (PascalCase).
pub const EXTENSION_TARGETS: &[&str] = &[
    "User",
    "Group",
    "AdministrativeUnit",
    "Application",
    "Device",
    "Organization",
];

/// What an extension's values are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtensionDataType {
    /// base64, at most 256 bytes.
    Binary,
    Boolean,
    /// ISO 8601, kept in UTC.
    DateTime,
    /// 32-bit.
    Integer,
    /// 64-bit.
    LargeInteger,
    /// At most 256 characters.
    String,
}

impl ExtensionDataType {
    pub const ALL: [ExtensionDataType; 6] = [
        Self::Binary,
        Self::Boolean,
        Self::DateTime,
        Self::Integer,
        Self::LargeInteger,
        Self::String,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Binary => "Binary",
            Self::Boolean => "Boolean",
            Self::DateTime => "DateTime",
            Self::Integer => "Integer",
            Self::LargeInteger => "LargeInteger",
            Self::String => "String",
        }
    }

    /// The type Graph names `name` (exact spelling, as Graph's enum).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// One value checked, in the form it is kept (a date-time in UTC).
    fn check(self, value: &Value) -> Result<Value, &'static str> {
        match (self, value) {
            (Self::String, Value::String(s)) if s.chars().count() <= MAX_EXTENSION_VALUE_LEN => {
                Ok(value.clone())
            }
            (Self::String, Value::String(_)) => Err("a String value is at most 256 characters"),
            (Self::Boolean, Value::Bool(_)) => Ok(value.clone()),
            (Self::Integer, Value::Number(n))
                if n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()) =>
            {
                Ok(value.clone())
            }
            (Self::Integer, _) => Err("an Integer value is a 32-bit integer"),
            (Self::LargeInteger, Value::Number(n)) if n.as_i64().is_some() => Ok(value.clone()),
            (Self::LargeInteger, _) => Err("a LargeInteger value is a 64-bit integer"),
            (Self::DateTime, Value::String(s)) => {
                let at = OffsetDateTime::parse(s, &Rfc3339)
                    .map_err(|_| "a DateTime value is an ISO 8601 date and time")?;
                at.to_offset(time::UtcOffset::UTC)
                    .format(&Rfc3339)
                    .map(Value::String)
                    .map_err(|_| "a DateTime value is an ISO 8601 date and time")
            }
            (Self::Binary, Value::String(s)) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map_err(|_| "a Binary value is base64")?;
                if bytes.len() > MAX_EXTENSION_VALUE_LEN {
                    return Err("a Binary value is at most 256 bytes");
                }
                Ok(value.clone())
            }
            (Self::String, _) => Err("the value must be a string"),
            (Self::Boolean, _) => Err("the value must be true or false"),
            (Self::DateTime | Self::Binary, _) => Err("the value must be a string"),
        }
    }
}

/// One registered directory extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionProperty {
    pub id: ObjectId,
    pub tenant_id: TenantId,
    /// The object ID of the application that defines it.
    pub application: ObjectId,
    /// The full name, `extension_{appId without dashes}_{name}`.
    pub name: String,
    pub data_type: ExtensionDataType,
    pub is_multi_valued: bool,
    pub target_objects: Vec<String>,
    pub created_at: OffsetDateTime,
}

fn invalid(property: &str, why: impl Into<String>) -> DirectoryError {
    DirectoryError::InvalidProperty {
        property: property.to_owned(),
        why: why.into(),
    }
}

/// The full name of extension `name` of application `app`.
pub fn extension_name(app: AppId, name: &str) -> String {
    format!("extension_{}_{name}", app.0.simple())
}

/// The short name of a full extension name (`extension_{32 hex}_{name}` →
/// `name`), or `None` when `full` does not have that shape. Claims carry the
/// short name (`extn.{name}`), and a property named so is taken for an
/// extension, not a misspelt Graph property.
pub fn extension_short_name(full: &str) -> Option<&str> {
    let rest = full
        .get(..10)
        .filter(|p| p.eq_ignore_ascii_case("extension_"))
        .map(|_| &full[10..])?;
    let (hex, name) = (rest.get(..32)?, rest.get(32..)?);
    let name = name.strip_prefix('_')?;
    (hex.bytes().all(|b| b.is_ascii_hexdigit()) && valid_short_name(name)).then_some(name)
}

fn valid_short_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_EXTENSION_NAME_LEN - 43
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl ExtensionProperty {
    /// A new extension `name` on application `application` (`app_id`),
    /// checked as Graph checks it: a name of letters, digits and underscores
    /// (the full name at most 120 characters), one of Graph's data types, and
    /// one or more distinct targets of [`EXTENSION_TARGETS`].
    pub fn new(
        tenant_id: TenantId,
        application: ObjectId,
        app_id: AppId,
        name: &str,
        data_type: &str,
        is_multi_valued: bool,
        target_objects: Vec<String>,
    ) -> Result<ExtensionProperty, DirectoryError> {
        if !valid_short_name(name) {
            return Err(invalid(
                "name",
                format!(
                    "must be 1 to {} letters, digits or underscores",
                    MAX_EXTENSION_NAME_LEN - 43
                ),
            ));
        }
        let data_type = ExtensionDataType::parse(data_type).ok_or_else(|| {
            invalid(
                "dataType",
                "must be one of Binary, Boolean, DateTime, Integer, LargeInteger, String",
            )
        })?;
        if target_objects.is_empty() {
            return Err(invalid(
                "targetObjects",
                "must name at least one object type",
            ));
        }
        for (i, target) in target_objects.iter().enumerate() {
            if !EXTENSION_TARGETS.contains(&target.as_str()) {
                return Err(invalid(
                    "targetObjects",
                    format!(
                        "'{}' is not one of {}",
                        target.chars().take(64).collect::<String>(),
                        EXTENSION_TARGETS.join(", ")
                    ),
                ));
            }
            if target_objects[..i].contains(target) {
                return Err(invalid("targetObjects", "names the same object type twice"));
            }
        }
        Ok(ExtensionProperty {
            id: ObjectId::new(),
            tenant_id,
            application,
            name: extension_name(app_id, name),
            data_type,
            is_multi_valued,
            target_objects,
            created_at: OffsetDateTime::now_utc(),
        })
    }

    /// Whether users may hold a value of it.
    pub fn targets_users(&self) -> bool {
        self.target_objects.iter().any(|t| t == "User")
    }

    /// The extension as Graph's `extensionProperty`, `app_display_name`
    /// being its application's.
    pub fn to_graph(&self, app_display_name: &str) -> Value {
        json!({
            "id": self.id.to_string(),
            "deletedDateTime": null,
            "appDisplayName": app_display_name,
            "dataType": self.data_type.as_str(),
            "isMultiValued": self.is_multi_valued,
            "isSyncedFromOnPremises": false,
            "name": self.name,
            "targetObjects": self.target_objects,
        })
    }

    /// A value for it, checked and in the form kept: one value of its type,
    /// or for a multi-valued extension an array of them (at most
    /// [`MAX_EXTENSION_VALUES`]). `null` is not a value (it clears one).
    pub fn check_value(&self, value: &Value) -> Result<Value, DirectoryError> {
        let wrong = |why: &str| invalid(&self.name, why);
        match (self.is_multi_valued, value) {
            (true, Value::Array(items)) => {
                if items.len() > MAX_EXTENSION_VALUES {
                    return Err(wrong("a multi-valued extension holds at most 100 values"));
                }
                items
                    .iter()
                    .map(|v| self.data_type.check(v).map_err(wrong))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Array)
            }
            (true, _) => Err(wrong(
                "the extension is multi-valued: the value is an array",
            )),
            (false, Value::Array(_)) => Err(wrong(
                "the extension is not multi-valued: the value is not an array",
            )),
            (false, v) => self.data_type.check(v).map_err(wrong),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn property(data_type: &str, multi: bool) -> ExtensionProperty {
        ExtensionProperty::new(
            TenantId::new(),
            ObjectId::new(),
            AppId::new(),
            "fhirUser",
            data_type,
            multi,
            vec!["User".into()],
        )
        .unwrap()
    }

    #[test]
    fn names() {
        let app = AppId::new();
        let full = extension_name(app, "fhirUser");
        assert_eq!(full.len(), "extension__fhirUser".len() + 32);
        assert!(!full[10..42].contains('-'));
        assert_eq!(extension_short_name(&full), Some("fhirUser"));
        assert_eq!(
            extension_short_name(&full.to_ascii_uppercase()),
            Some("FHIRUSER")
        );
        for bad in [
            "extension_fhirUser",
            "extension_0123456789abcdef0123456789abcdeg_x",
            "extension_0123456789abcdef0123456789abcdef_",
            "extension_0123456789abcdef0123456789abcdef-x",
            "extension_0123456789abcdef0123456789abcdef_a-b",
            "displayName",
        ] {
            assert_eq!(extension_short_name(bad), None, "{bad}");
        }
        let new = |name: &str, data_type: &str, targets: &[&str]| {
            ExtensionProperty::new(
                TenantId::new(),
                ObjectId::new(),
                app,
                name,
                data_type,
                false,
                targets.iter().map(|t| t.to_string()).collect(),
            )
        };
        assert!(new("fhir_User2", "String", &["User", "Group"]).is_ok());
        assert!(new(&"a".repeat(77), "String", &["User"]).is_ok());
        for (name, data_type, targets) in [
            ("", "String", &["User"][..]),
            ("a-b", "String", &["User"]),
            ("a b", "String", &["User"]),
            (&"a".repeat(78), "String", &["User"]),
            ("x", "string", &["User"]),
            ("x", "Text", &["User"]),
            ("x", "String", &[]),
            ("x", "String", &["user"]),
            ("x", "String", &["ServicePrincipal"]),
            ("x", "String", &["User", "User"]),
        ] {
            assert!(new(name, data_type, targets).is_err(), "{name} {data_type}");
        }
    }

    #[test]
    fn values() {
        let ok = |t: &str, multi: bool, v: Value| property(t, multi).check_value(&v);
        assert_eq!(
            ok("String", false, json!("Patient/1")),
            Ok(json!("Patient/1"))
        );
        assert!(ok("String", false, json!("x".repeat(256))).is_ok());
        assert!(ok("String", false, json!("x".repeat(257))).is_err());
        assert!(ok("String", false, json!(3)).is_err());
        assert!(ok("String", false, json!(["a"])).is_err());
        assert_eq!(ok("String", true, json!(["a", "b"])), Ok(json!(["a", "b"])));
        assert!(ok("String", true, json!("a")).is_err());
        assert!(ok("String", true, json!(["a", 1])).is_err());
        assert!(ok("Boolean", false, json!(true)).is_ok());
        assert!(ok("Boolean", false, json!("true")).is_err());
        assert!(ok("Integer", false, json!(2147483647)).is_ok());
        assert!(ok("Integer", false, json!(2147483648_i64)).is_err());
        assert!(ok("Integer", false, json!(1.5)).is_err());
        assert!(ok("LargeInteger", false, json!(2147483648_i64)).is_ok());
        assert_eq!(
            ok("DateTime", false, json!("2026-01-02T03:04:05+01:00")),
            Ok(json!("2026-01-02T02:04:05Z"))
        );
        assert!(ok("DateTime", false, json!("yesterday")).is_err());
        assert!(ok("Binary", false, json!("AAEC")).is_ok());
        assert!(ok("Binary", false, json!("not base64!")).is_err());
        let big = base64::engine::general_purpose::STANDARD.encode([0u8; 257]);
        assert!(ok("Binary", false, json!(big)).is_err());
    }
}
