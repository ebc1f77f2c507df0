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
//! `patient/` and `user/` scopes grant by resource type too, but only inside
//! the compartment of the token's `fhirUser` (a Patient's or a
//! Practitioner's), as the FHIR service does: [`Access::from_claims`] reads
//! the claim when such a scope is present and no `system/` scope is (the
//! service stops looking for it at the first `system/` scope), and refuses
//! the request (400) when it is missing or names anything else.
//!
//! What Hale does not do yet, and so refuses rather than over-grants:
//! scopes with search-parameter restrictions (`?category=…`) grant nothing.

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
        if self.restricted {
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

    /// Whether the scopes confine the caller to its `fhirUser`'s
    /// compartment: some scope is `patient/` or `user/` and none is
    /// `system/` (a `system/` scope makes the service skip the claim).
    pub fn need_fhir_user(&self) -> bool {
        let mut any = false;
        for scope in &self.0 {
            match scope.context {
                Context::System => return false,
                Context::Patient | Context::User => any = true,
            }
        }
        any
    }
}

/// The resource a `fhirUser` claim names, whose compartment confines a
/// caller with `patient/` or `user/` scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FhirUser {
    /// `Patient` or `Practitioner`: also the compartment's type.
    pub resource_type: String,
    pub id: String,
}

impl FhirUser {
    /// Parses the claim: an absolute URL (`https://host/fhir/ws/svc/Patient/1`)
    /// or a relative one (`Patient/1`), whose last two path segments are the
    /// type and the id. Only a Patient or a Practitioner has a compartment
    /// the scopes can mean.
    pub fn parse(claim: &str) -> Result<FhirUser, FhirUserFault> {
        let invalid = || FhirUserFault::Invalid(claim.to_owned());
        let path = claim.trim();
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let mut segments = path.trim_end_matches('/').rsplit('/');
        let (Some(id), Some(resource_type)) = (segments.next(), segments.next()) else {
            return Err(invalid());
        };
        let id_ok = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !id_ok {
            return Err(invalid());
        }
        match resource_type {
            "Patient" | "Practitioner" => Ok(FhirUser {
                resource_type: resource_type.to_owned(),
                id: id.to_owned(),
            }),
            _ => Err(invalid()),
        }
    }
}

/// Why a caller that needs a `fhirUser` claim cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FhirUserFault {
    /// Neither `fhirUser` nor `extension_fhirUser` holds a value.
    Missing,
    /// The claim names no Patient or Practitioner (its text).
    Invalid(String),
}

impl std::fmt::Display for FhirUserFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FhirUserFault::Missing => f.write_str(
                "The fhirUser or extension_fhirUser claim is required for patient and user scopes.",
            ),
            FhirUserFault::Invalid(claim) => write!(
                f,
                "The fhirUser claim '{claim}' is not a reference to a Patient or a Practitioner."
            ),
        }
    }
}

/// What a SMART caller may do: its scopes, and the compartment they are
/// confined to (`None`: only `system/` scopes, no confinement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub scopes: Scopes,
    pub fhir_user: Option<FhirUser>,
}

impl Access {
    /// The scopes of `scp` and `roles`, and, when they need it, the
    /// `fhirUser` claim (or `extension_fhirUser` when that one is absent or
    /// empty, as Entra's directory extensions name it).
    pub fn from_claims<'a>(
        scp: Option<&'a str>,
        roles: impl IntoIterator<Item = &'a str>,
        fhir_user: Option<&str>,
        extension_fhir_user: Option<&str>,
    ) -> Result<Access, FhirUserFault> {
        let scopes = Scopes::from_claims(scp, roles);
        if !scopes.need_fhir_user() {
            return Ok(Access {
                scopes,
                fhir_user: None,
            });
        }
        let claim = [fhir_user, extension_fhir_user]
            .into_iter()
            .flatten()
            .find(|c| !c.trim().is_empty())
            .ok_or(FhirUserFault::Missing)?;
        Ok(Access {
            fhir_user: Some(FhirUser::parse(claim)?),
            scopes,
        })
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
        // Patient-context scopes grant their types (the compartment is
        // enforced where the data is).
        assert!(scopes.permit_all(&fhir_needs("GET", &["Encounter", "e1"])));
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

    #[test]
    fn fhir_user_claims() {
        let patient = |id: &str| FhirUser {
            resource_type: "Patient".into(),
            id: id.into(),
        };
        assert_eq!(FhirUser::parse("Patient/a"), Ok(patient("a")));
        assert_eq!(
            FhirUser::parse("https://h/fhir/ws/svc/Patient/a-1.2"),
            Ok(patient("a-1.2"))
        );
        assert_eq!(
            FhirUser::parse("https://h/Practitioner/d").map(|u| u.resource_type),
            Ok("Practitioner".to_owned())
        );
        for bad in [
            "",
            "Patient",
            "Patient/",
            "Organization/x",
            "a/b/c",
            "Patient/a b",
        ] {
            assert!(FhirUser::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn which_scopes_need_a_fhir_user() {
        let access = |scp: &str, user: Option<&str>, ext: Option<&str>| {
            Access::from_claims(Some(scp), [], user, ext)
        };
        // System scopes alone: no claim read.
        assert_eq!(access("system/*.read", None, None).unwrap().fhir_user, None);
        // A system scope alongside others: skipped too, as the service does.
        assert_eq!(
            access("patient/*.read system/Patient.r", None, None)
                .unwrap()
                .fhir_user,
            None
        );
        assert_eq!(
            access("patient/*.read", None, None),
            Err(FhirUserFault::Missing)
        );
        assert_eq!(
            access("user/*.read", Some(""), Some("Practitioner/d"))
                .unwrap()
                .fhir_user
                .unwrap()
                .id,
            "d"
        );
        assert!(matches!(
            access("patient/*.read", Some("Organization/x"), None),
            Err(FhirUserFault::Invalid(_))
        ));
        // No clinical scope: nothing to confine (and nothing granted).
        assert_eq!(access("openid", None, None).unwrap().fhir_user, None);
    }
}
