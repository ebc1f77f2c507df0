//! SMART on FHIR clinical scopes, as the FHIR service applies them to callers
//! holding the `smart` data action (role "FHIR SMART User"): the role alone
//! grants nothing; each request needs a scope that names its resource type
//! (or `*`) with the permission it exercises.
//!
//! Grammar (Azure's): `(patient|user|system)(/|.)(Type|*|all).(read|write|*|all|[cruds]+)`,
//! the `.` separator because Entra scope names cannot hold `/`
//! (`user.Observation.read`). SMART v1 `read` is `rs`, `write` is `cud`;
//! SMART v2 letters are create, read (by id), update, delete, search.
//!
//! What Hale does not do yet, and so refuses rather than over-grants:
//! `patient/` scopes restrict access to the patient compartment of the
//! `fhirUser` claim, which Hale's tokens do not carry, so they grant
//! nothing; scopes with search-parameter restrictions (`?category=…`) grant
//! nothing. `user/` and `system/` scopes grant by resource type.

/// One permission letter, as a bit.
pub const CREATE: u8 = 1;
pub const READ: u8 = 2;
pub const UPDATE: u8 = 4;
pub const DELETE: u8 = 8;
pub const SEARCH: u8 = 16;
/// Every permission.
pub const ALL: u8 = CREATE | READ | UPDATE | DELETE | SEARCH;

/// Whose data a scope speaks of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Patient,
    User,
    System,
}

/// One clinical scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub context: Context,
    /// `None`: every resource type (`*` or `all`).
    pub resource_type: Option<String>,
    /// Permission bits.
    pub permissions: u8,
    /// Restricted to resources matching search parameters (`?…`).
    pub restricted: bool,
}

impl Scope {
    /// Parses one scope; `None` for anything that is not a clinical scope
    /// (`openid`, `launch/patient`, `user_impersonation`, …).
    pub fn parse(text: &str) -> Option<Scope> {
        let (text, query) = match text.split_once('?') {
            Some((t, q)) => (t, Some(q)),
            None => (text, None),
        };
        let (context, rest) = ["patient", "user", "system"].iter().find_map(|c| {
            let rest = text.strip_prefix(c)?;
            let rest = rest.strip_prefix('/').or_else(|| rest.strip_prefix('.'))?;
            Some((*c, rest))
        })?;
        let (resource, permission) = rest.rsplit_once('.')?;
        let resource_type = match resource {
            "*" | "all" => None,
            t if !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphabetic()) => Some(t.to_owned()),
            _ => return None,
        };
        let permissions = match permission {
            "read" => READ | SEARCH,
            "write" => CREATE | UPDATE | DELETE,
            "*" | "all" => ALL,
            // SMART v2 letters (Azure accepts them in any order).
            letters if !letters.is_empty() => letters
                .chars()
                .map(|ch| "cruds".find(ch).map(|at| 1u8 << at))
                .sum::<Option<u8>>()
                .map(|_| {
                    letters
                        .chars()
                        .filter_map(|ch| "cruds".find(ch))
                        .fold(0, |bits, at| bits | 1 << at)
                })?,
            _ => return None,
        };
        Some(Scope {
            context: match context {
                "patient" => Context::Patient,
                "user" => Context::User,
                _ => Context::System,
            },
            resource_type,
            permissions,
            restricted: query.is_some_and(|q| !q.is_empty()),
        })
    }

    /// Whether this scope grants `permissions` on `resource_type` (`None`:
    /// every type, as system-level interactions need).
    fn grants(&self, resource_type: Option<&str>, permissions: u8) -> bool {
        if self.context == Context::Patient || self.restricted {
            return false;
        }
        let type_ok = match (&self.resource_type, resource_type) {
            (None, _) => true,
            (Some(mine), Some(wanted)) => mine == wanted,
            (Some(_), None) => false,
        };
        type_ok && self.permissions & permissions == permissions
    }
}

/// The clinical scopes of a token: its delegated `scp` (space-separated)
/// and, for applications, its `roles`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(pub Vec<Scope>);

impl Scopes {
    pub fn from_claims<'a>(
        scp: Option<&'a str>,
        roles: impl IntoIterator<Item = &'a str>,
    ) -> Scopes {
        Scopes(
            scp.unwrap_or_default()
                .split_ascii_whitespace()
                .chain(roles)
                .filter_map(Scope::parse)
                .collect(),
        )
    }

    /// Whether some scope grants `permissions` on `resource_type`.
    pub fn permit(&self, resource_type: Option<&str>, permissions: u8) -> bool {
        self.0.iter().any(|s| s.grants(resource_type, permissions))
    }

    /// Whether every need of a request is granted.
    pub fn permit_all(&self, needs: &[Need]) -> bool {
        needs
            .iter()
            .all(|n| self.permit(n.resource_type.as_deref(), n.permissions))
    }
}

/// What a request needs: permissions on a resource type (`None`: every type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub resource_type: Option<String>,
    pub permissions: u8,
}

fn need(resource_type: Option<&str>, permissions: u8) -> Need {
    Need {
        resource_type: resource_type.map(str::to_owned),
        permissions,
    }
}

/// What a FHIR request (`method`, path segments below the service URL)
/// needs from SMART scopes. Interactions across types (batches and
/// transactions, system search and history, `$everything`) need every
/// permission, or read and search, on every type; operations other than
/// `$validate` need every permission on their type.
pub fn fhir_needs(method: &str, path: &[&str]) -> Vec<Need> {
    let method = method.to_ascii_uppercase();
    let reads = matches!(method.as_str(), "GET" | "HEAD");
    let is_type = |s: &str| s.bytes().next().is_some_and(|b| b.is_ascii_uppercase());
    match path {
        [] if reads => vec![need(None, SEARCH)],
        [] => vec![need(None, ALL)],
        ["_search"] | ["_history"] => vec![need(None, SEARCH)],
        [op] if op.starts_with('$') => vec![need(None, ALL)],
        [t, rest @ ..] if is_type(t) => {
            let t = Some(*t);
            match (method.as_str(), rest) {
                (_, [op]) | (_, [_, op]) if *op == "$validate" => vec![need(t, READ)],
                // The patient and its whole compartment, of every type.
                (_, [_, "$everything"]) => vec![need(None, READ | SEARCH)],
                (_, [op]) | (_, [_, op]) if op.starts_with('$') => vec![need(t, ALL)],
                ("GET" | "HEAD", []) | ("POST", ["_search"]) => vec![need(t, SEARCH)],
                ("GET" | "HEAD", ["_history"]) => vec![need(t, SEARCH)],
                ("GET" | "HEAD", [_id]) => vec![need(t, READ)],
                ("GET" | "HEAD", [_id, "_history", ..]) => vec![need(t, READ)],
                // Compartment search: the compartment resource, then the type.
                ("GET" | "HEAD", [_id, inner]) | ("POST", [_id, inner, "_search"])
                    if is_type(inner) =>
                {
                    vec![need(t, READ), need(Some(inner), SEARCH)]
                }
                ("POST", []) => vec![need(t, CREATE)],
                ("PUT" | "PATCH", _) => vec![need(t, UPDATE)],
                ("DELETE", _) => vec![need(t, DELETE)],
                _ => vec![need(t, ALL)],
            }
        }
        _ => vec![need(None, ALL)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(t: &str) -> Scope {
        Scope::parse(t).unwrap_or_else(|| panic!("{t} should parse"))
    }

    #[test]
    fn scopes_parse_as_azure_accepts_them() {
        let s = scope("user/Observation.read");
        assert_eq!(
            (s.context, s.resource_type.as_deref(), s.permissions),
            (Context::User, Some("Observation"), READ | SEARCH)
        );
        assert_eq!(scope("user.Observation.read"), s);
        assert_eq!(
            scope("system/*.write").permissions,
            CREATE | UPDATE | DELETE
        );
        assert_eq!(scope("system.all.all").resource_type, None);
        assert_eq!(scope("system/*.*").permissions, ALL);
        assert_eq!(scope("patient/Patient.rs").permissions, READ | SEARCH);
        assert_eq!(scope("user/Encounter.cruds").permissions, ALL);
        assert_eq!(
            scope("user/Encounter.cud").permissions,
            CREATE | UPDATE | DELETE
        );
        assert_eq!(scope("user/Encounter.sr").permissions, READ | SEARCH);
        assert!(scope("user/Observation.rs?category=laboratory").restricted);
        for not_clinical in [
            "openid",
            "offline_access",
            "launch/patient",
            "user_impersonation",
            "fhirUser",
            "user/Observation",
            "user/Observation.x",
            "practitioner/Observation.read",
            "user/Obs-1.read",
        ] {
            assert_eq!(Scope::parse(not_clinical), None, "{not_clinical}");
        }
    }

    #[test]
    fn requests_need_the_permission_they_exercise() {
        let n = |m: &str, p: &[&str]| fhir_needs(m, p);
        assert_eq!(
            n("GET", &["Patient", "1"]),
            vec![need(Some("Patient"), READ)]
        );
        assert_eq!(n("GET", &["Patient"]), vec![need(Some("Patient"), SEARCH)]);
        assert_eq!(
            n("POST", &["Patient", "_search"]),
            vec![need(Some("Patient"), SEARCH)]
        );
        assert_eq!(n("POST", &["Patient"]), vec![need(Some("Patient"), CREATE)]);
        assert_eq!(
            n("PUT", &["Patient", "1"]),
            vec![need(Some("Patient"), UPDATE)]
        );
        assert_eq!(
            n("PATCH", &["Patient", "1"]),
            vec![need(Some("Patient"), UPDATE)]
        );
        assert_eq!(
            n("DELETE", &["Patient", "1"]),
            vec![need(Some("Patient"), DELETE)]
        );
        assert_eq!(
            n("GET", &["Patient", "1", "_history", "2"]),
            vec![need(Some("Patient"), READ)]
        );
        assert_eq!(
            n("GET", &["Patient", "1", "Observation"]),
            vec![
                need(Some("Patient"), READ),
                need(Some("Observation"), SEARCH)
            ]
        );
        assert_eq!(
            n("POST", &["Patient", "$validate"]),
            vec![need(Some("Patient"), READ)]
        );
        assert_eq!(n("POST", &[]), vec![need(None, ALL)]);
        assert_eq!(n("GET", &[]), vec![need(None, SEARCH)]);
        assert_eq!(n("GET", &["_history"]), vec![need(None, SEARCH)]);
        assert_eq!(n("POST", &["$export"]), vec![need(None, ALL)]);
        assert_eq!(
            n("GET", &["Patient", "1", "$everything"]),
            vec![need(None, READ | SEARCH)]
        );
    }

    #[test]
    fn decisions() {
        let scopes = Scopes::from_claims(
            Some("openid user/Observation.read user.Patient.r patient/Encounter.read"),
            ["system.Condition.c"],
        );
        assert!(scopes.permit_all(&fhir_needs("GET", &["Observation"])));
        assert!(scopes.permit_all(&fhir_needs("GET", &["Observation", "o1"])));
        assert!(!scopes.permit_all(&fhir_needs("POST", &["Observation"])));
        assert!(scopes.permit_all(&fhir_needs("GET", &["Patient", "p1"])));
        // `r` is read by id only, not search.
        assert!(!scopes.permit_all(&fhir_needs("GET", &["Patient"])));
        assert!(scopes.permit_all(&fhir_needs("GET", &["Patient", "p1", "Observation"])));
        // Patient-context scopes need the fhirUser compartment: not granted.
        assert!(!scopes.permit_all(&fhir_needs("GET", &["Encounter", "e1"])));
        // Application roles count as scopes too.
        assert!(scopes.permit_all(&fhir_needs("POST", &["Condition"])));
        assert!(!scopes.permit_all(&fhir_needs("GET", &["Condition"])));
        // Across types: only a wildcard scope.
        assert!(!scopes.permit_all(&fhir_needs("POST", &[])));
        let all = Scopes::from_claims(Some("system/*.*"), []);
        assert!(all.permit_all(&fhir_needs("POST", &[])));
        assert!(all.permit_all(&fhir_needs("DELETE", &["Observation", "o1"])));
        // Restricted scopes grant nothing yet.
        let restricted = Scopes::from_claims(Some("user/Observation.rs?category=vital-signs"), []);
        assert!(!restricted.permit_all(&fhir_needs("GET", &["Observation"])));
        assert!(!Scopes::default().permit(Some("Patient"), READ));
    }
}
