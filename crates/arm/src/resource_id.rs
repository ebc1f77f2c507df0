//! ARM resource IDs for the resources Hale holds, and the scopes role
//! assignments are made at: `/subscriptions/{sub}`, `…/resourceGroups/{rg}`,
//! `…/providers/Microsoft.HealthcareApis/workspaces/{ws}` and
//! `…/workspaces/{ws}/fhirservices/{name}` or `…/dicomservices/{name}`.
//!
//! ARM compares IDs ignoring case: [`ResourceId::parse`] accepts any case for
//! the fixed segments, and [`ResourceId::key`] is the lowercased form that
//! scopes are stored and compared by.

use std::fmt;

use uuid::Uuid;

use crate::ArmError;

/// The resource provider of health workspaces.
pub const HEALTHCARE_PROVIDER: &str = "Microsoft.HealthcareApis";

/// Which data-plane service a workspace child is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceKind {
    Fhir,
    Dicom,
}

impl ServiceKind {
    /// The collection segment in resource IDs: `fhirservices`, `dicomservices`.
    pub fn collection(self) -> &'static str {
        match self {
            ServiceKind::Fhir => "fhirservices",
            ServiceKind::Dicom => "dicomservices",
        }
    }

    /// ARM's resource type.
    pub fn resource_type(self) -> &'static str {
        match self {
            ServiceKind::Fhir => "Microsoft.HealthcareApis/workspaces/fhirservices",
            ServiceKind::Dicom => "Microsoft.HealthcareApis/workspaces/dicomservices",
        }
    }

    /// The first segment of the service's data-plane path on Hale's origin.
    pub fn path_prefix(self) -> &'static str {
        match self {
            ServiceKind::Fhir => "fhir",
            ServiceKind::Dicom => "dicom",
        }
    }

    /// The stored name of the kind (`fhir`, `dicom`).
    pub fn as_str(self) -> &'static str {
        self.path_prefix()
    }

    /// The kind stored as `s`.
    pub fn parse(s: &str) -> Option<ServiceKind> {
        match s {
            "fhir" => Some(ServiceKind::Fhir),
            "dicom" => Some(ServiceKind::Dicom),
            _ => None,
        }
    }

    /// The kind whose collection segment is `segment` (any case).
    pub fn from_collection(segment: &str) -> Option<ServiceKind> {
        [ServiceKind::Fhir, ServiceKind::Dicom]
            .into_iter()
            .find(|k| k.collection().eq_ignore_ascii_case(segment))
    }
}

/// A resource of Hale's resource manager, or a scope of a role assignment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ResourceId {
    Subscription {
        subscription: Uuid,
    },
    ResourceGroup {
        subscription: Uuid,
        group: String,
    },
    Workspace {
        subscription: Uuid,
        group: String,
        workspace: String,
    },
    Service {
        subscription: Uuid,
        group: String,
        workspace: String,
        kind: ServiceKind,
        name: String,
    },
}

impl ResourceId {
    /// Parses an ID such as `/subscriptions/{sub}/resourceGroups/{rg}`; the
    /// fixed segments in any case, one trailing slash tolerated.
    pub fn parse(id: &str) -> Result<ResourceId, ArmError> {
        let invalid = || ArmError::InvalidResourceId(id.to_owned());
        let trimmed = id.strip_suffix('/').unwrap_or(id);
        let Some(rest) = trimmed.strip_prefix('/') else {
            return Err(invalid());
        };
        let segments: Vec<&str> = rest.split('/').collect();
        if segments.iter().any(|s| s.is_empty()) {
            return Err(invalid());
        }
        let is = |i: usize, word: &str| {
            segments
                .get(i)
                .is_some_and(|s| s.eq_ignore_ascii_case(word))
        };
        if !is(0, "subscriptions") || segments.len() < 2 {
            return Err(invalid());
        }
        let subscription = Uuid::parse_str(segments[1]).map_err(|_| invalid())?;
        match segments.len() {
            2 => return Ok(ResourceId::Subscription { subscription }),
            4 if is(2, "resourceGroups") => {
                return Ok(ResourceId::ResourceGroup {
                    subscription,
                    group: segments[3].to_owned(),
                });
            }
            _ => {}
        }
        if !(is(2, "resourceGroups")
            && is(4, "providers")
            && is(5, HEALTHCARE_PROVIDER)
            && is(6, "workspaces"))
        {
            return Err(invalid());
        }
        let group = segments[3].to_owned();
        let workspace = segments.get(7).ok_or_else(invalid)?.to_string();
        match segments.len() {
            8 => Ok(ResourceId::Workspace {
                subscription,
                group,
                workspace,
            }),
            10 => {
                let kind = ServiceKind::from_collection(segments[8]).ok_or_else(invalid)?;
                Ok(ResourceId::Service {
                    subscription,
                    group,
                    workspace,
                    kind,
                    name: segments[9].to_owned(),
                })
            }
            _ => Err(invalid()),
        }
    }

    /// The subscription the resource is in.
    pub fn subscription(&self) -> Uuid {
        match self {
            ResourceId::Subscription { subscription }
            | ResourceId::ResourceGroup { subscription, .. }
            | ResourceId::Workspace { subscription, .. }
            | ResourceId::Service { subscription, .. } => *subscription,
        }
    }

    /// The resource group, below subscription level.
    pub fn resource_group(&self) -> Option<&str> {
        match self {
            ResourceId::Subscription { .. } => None,
            ResourceId::ResourceGroup { group, .. }
            | ResourceId::Workspace { group, .. }
            | ResourceId::Service { group, .. } => Some(group),
        }
    }

    /// The scope one level up; `None` for a subscription.
    pub fn parent(&self) -> Option<ResourceId> {
        match self.clone() {
            ResourceId::Subscription { .. } => None,
            ResourceId::ResourceGroup { subscription, .. } => {
                Some(ResourceId::Subscription { subscription })
            }
            ResourceId::Workspace {
                subscription,
                group,
                ..
            } => Some(ResourceId::ResourceGroup {
                subscription,
                group,
            }),
            ResourceId::Service {
                subscription,
                group,
                workspace,
                ..
            } => Some(ResourceId::Workspace {
                subscription,
                group,
                workspace,
            }),
        }
    }

    /// This scope and every scope above it, nearest first: the scopes whose
    /// role assignments apply here.
    pub fn self_and_ancestors(&self) -> Vec<ResourceId> {
        let mut out = vec![self.clone()];
        while let Some(up) = out.last().and_then(ResourceId::parent) {
            out.push(up);
        }
        out
    }

    /// The lowercased ID: what scopes are stored and compared by.
    pub fn key(&self) -> String {
        self.to_string().to_ascii_lowercase()
    }

    /// Whether this resource is `scope` or lies below it.
    pub fn is_within(&self, scope: &ResourceId) -> bool {
        key_is_within(&self.key(), &scope.key())
    }
}

/// Whether the scope key `inner` is `outer` or lies below it (both lowercased).
pub fn key_is_within(inner: &str, outer: &str) -> bool {
    inner == outer
        || (inner.len() > outer.len()
            && inner.starts_with(outer)
            && inner.as_bytes()[outer.len()] == b'/')
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResourceId::Subscription { subscription } => write!(f, "/subscriptions/{subscription}"),
            ResourceId::ResourceGroup {
                subscription,
                group,
            } => write!(f, "/subscriptions/{subscription}/resourceGroups/{group}"),
            ResourceId::Workspace {
                subscription,
                group,
                workspace,
            } => write!(
                f,
                "/subscriptions/{subscription}/resourceGroups/{group}/providers/{HEALTHCARE_PROVIDER}/workspaces/{workspace}"
            ),
            ResourceId::Service {
                subscription,
                group,
                workspace,
                kind,
                name,
            } => write!(
                f,
                "/subscriptions/{subscription}/resourceGroups/{group}/providers/{HEALTHCARE_PROVIDER}/workspaces/{workspace}/{}/{name}",
                kind.collection()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "4a1c7e2e-6f21-4b6f-9d8e-0c1b2a3d4e5f";

    #[test]
    fn parse_and_format_round_trip_in_canonical_case() {
        let cases = [
            (
                format!("/subscriptions/{SUB}"),
                format!("/subscriptions/{SUB}"),
            ),
            (
                format!("/SUBSCRIPTIONS/{SUB}/resourcegroups/My-RG/"),
                format!("/subscriptions/{SUB}/resourceGroups/My-RG"),
            ),
            (
                format!(
                    "/subscriptions/{SUB}/resourceGroups/rg/providers/microsoft.healthcareapis/WORKSPACES/ws1"
                ),
                format!(
                    "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.HealthcareApis/workspaces/ws1"
                ),
            ),
            (
                format!(
                    "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.HealthcareApis/workspaces/ws1/FhirServices/Fhir1"
                ),
                format!(
                    "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.HealthcareApis/workspaces/ws1/fhirservices/Fhir1"
                ),
            ),
            (
                format!(
                    "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.HealthcareApis/workspaces/ws1/dicomservices/d1"
                ),
                format!(
                    "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.HealthcareApis/workspaces/ws1/dicomservices/d1"
                ),
            ),
        ];
        for (input, canonical) in cases {
            let id = ResourceId::parse(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(id.to_string(), canonical);
            assert_eq!(ResourceId::parse(&canonical).unwrap(), id);
        }
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            String::new(),
            "/".into(),
            "subscriptions/x".into(),
            "/subscriptions/not-a-guid".into(),
            format!("/subscriptions/{SUB}/resourceGroups"),
            format!("/subscriptions/{SUB}/resourceGroups//x"),
            format!(
                "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/s"
            ),
            format!(
                "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.HealthcareApis/workspaces"
            ),
            format!(
                "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.HealthcareApis/workspaces/ws/iotconnectors/x"
            ),
            format!(
                "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.HealthcareApis/workspaces/ws/fhirservices/f/extra"
            ),
        ] {
            assert!(ResourceId::parse(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ancestry() {
        let service = ResourceId::parse(&format!(
            "/subscriptions/{SUB}/resourceGroups/RG/providers/Microsoft.HealthcareApis/workspaces/ws/fhirservices/f"
        ))
        .unwrap();
        let chain: Vec<String> = service
            .self_and_ancestors()
            .iter()
            .map(ResourceId::key)
            .collect();
        assert_eq!(
            chain,
            [
                format!(
                    "/subscriptions/{SUB}/resourcegroups/rg/providers/microsoft.healthcareapis/workspaces/ws/fhirservices/f"
                ),
                format!(
                    "/subscriptions/{SUB}/resourcegroups/rg/providers/microsoft.healthcareapis/workspaces/ws"
                ),
                format!("/subscriptions/{SUB}/resourcegroups/rg"),
                format!("/subscriptions/{SUB}"),
            ]
        );
        let group = ResourceId::parse(&format!("/subscriptions/{SUB}/resourceGroups/rg")).unwrap();
        assert!(service.is_within(&group));
        assert!(group.is_within(&group));
        assert!(!group.is_within(&service));
        // A sibling whose name extends this one's is not inside it.
        let rg2 = ResourceId::parse(&format!("/subscriptions/{SUB}/resourceGroups/rg2")).unwrap();
        assert!(!rg2.is_within(&group));
        assert!(!key_is_within("/a/bc", "/a/b"));
        assert!(key_is_within("/a/b/c", "/a/b"));
    }
}
