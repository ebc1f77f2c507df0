//! Azure Resource Manager (`/subscriptions/…`, `/providers/…`): the control
//! plane subset of contract 4. Subscriptions and resource groups, health
//! workspaces with their FHIR and DICOM services, and
//! `Microsoft.Authorization` role definitions and role assignments at any of
//! those scopes, with `api-version`, ARM's envelopes and error shape.
//!
//! Every request carries an ARM token (audience `https://management.azure.com/`
//! and its aliases), and is authorized by the caller's role assignments (its
//! own and its groups', read fresh on every request) at the scope it names.
//! ARM paths mix fixed segments of any case with names, so this module parses
//! them itself into a [`Target`].

mod api_versions;
mod authorization;
mod error;
mod groups;
mod workspaces;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use hale_arm::authz::{self, Grant};
use hale_arm::{ResourceId, ServiceKind, Subscription};
use hale_directory::{ObjectId, TenantId, first_party};
use hale_store::{StoreError, arm, tenants};
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

pub(crate) use error::ArmFailure;

use super::AppState;
use super::auth::{self, Bearer};

/// Largest ARM request body accepted.
const MAX_BODY: usize = 256 * 1024;

/// What an ARM URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Subscriptions,
    Subscription(Uuid),
    ResourceGroups(Uuid),
    ResourceGroup(ResourceId),
    /// Workspaces of a subscription (`group` none) or of a resource group.
    Workspaces {
        subscription: Uuid,
        group: Option<String>,
    },
    Workspace(ResourceId),
    /// FHIR or DICOM services of a workspace (the workspace's ID).
    Services(ResourceId, ServiceKind),
    Service(ResourceId),
    /// Role assignments at a scope (none: the tenant root).
    RoleAssignments(Option<ResourceId>),
    RoleAssignment(Option<ResourceId>, String),
    RoleDefinitions(Option<ResourceId>),
    RoleDefinition(Option<ResourceId>, String),
}

fn not_found_path(path: &str) -> ArmFailure {
    ArmFailure::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("No Azure Resource Manager operation of Hale's is found at '{path}'."),
    )
}

fn parse_subscription(text: &str) -> Result<Uuid, ArmFailure> {
    Uuid::parse_str(text).map_err(|_| {
        ArmFailure::bad_request(
            "InvalidSubscriptionId",
            format!("The provided subscription identifier '{text}' is malformed or invalid."),
        )
    })
}

/// Parses a scope (`""` for the tenant root) as a resource ID.
fn parse_scope(scope: &str, path: &str) -> Result<Option<ResourceId>, ArmFailure> {
    if scope.is_empty() {
        return Ok(None);
    }
    ResourceId::parse(scope).map(Some).map_err(|_| {
        // A malformed subscription ID gets ARM's own message.
        let segments: Vec<&str> = scope.trim_matches('/').split('/').collect();
        if let [first, sub, ..] = segments.as_slice()
            && first.eq_ignore_ascii_case("subscriptions")
            && Uuid::parse_str(sub).is_err()
        {
            return parse_subscription(sub).unwrap_err();
        }
        not_found_path(path)
    })
}

/// The path with each segment percent-decoded as UTF-8: SDKs encode names
/// such as `rg(1)` or `Ärzte` (`rg%281%29`), and ARM validates, stores and
/// answers them decoded. A segment that decodes to something other than text
/// without `/` names nothing.
fn decode_path(raw: &str) -> Result<String, ArmFailure> {
    let mut out = String::with_capacity(raw.len());
    for (i, segment) in raw.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        match percent_decode_str(segment).decode_utf8() {
            Ok(decoded) if !decoded.contains('/') => out.push_str(&decoded),
            _ => {
                return Err(ArmFailure::bad_request(
                    "BadRequest",
                    format!(
                        "The path segment '{segment}' is not valid: percent-encoded, it must be UTF-8 text without '/'."
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// Parses a request path as it arrives (percent-encoded).
fn parse_target(raw: &str) -> Result<Target, ArmFailure> {
    let decoded = decode_path(raw)?;
    let path = decoded.as_str();
    let trimmed = path.trim_end_matches('/');
    // `{scope}/providers/Microsoft.Authorization/{collection}[/{name}]`.
    let lower = trimmed.to_ascii_lowercase();
    const AUTHORIZATION: &str = "/providers/microsoft.authorization/";
    if let Some(at) = lower.rfind(AUTHORIZATION) {
        let scope = parse_scope(&trimmed[..at], path)?;
        let rest: Vec<&str> = trimmed[at + AUTHORIZATION.len()..].split('/').collect();
        return match rest.as_slice() {
            [c] if c.eq_ignore_ascii_case("roleAssignments") => Ok(Target::RoleAssignments(scope)),
            [c, name] if c.eq_ignore_ascii_case("roleAssignments") && !name.is_empty() => {
                Ok(Target::RoleAssignment(scope, (*name).to_owned()))
            }
            [c] if c.eq_ignore_ascii_case("roleDefinitions") => Ok(Target::RoleDefinitions(scope)),
            [c, id] if c.eq_ignore_ascii_case("roleDefinitions") && !id.is_empty() => {
                Ok(Target::RoleDefinition(scope, (*id).to_owned()))
            }
            _ => Err(not_found_path(path)),
        };
    }
    let segments: Vec<&str> = trimmed.trim_start_matches('/').split('/').collect();
    let is = |i: usize, word: &str| {
        segments
            .get(i)
            .is_some_and(|s| s.eq_ignore_ascii_case(word))
    };
    if !is(0, "subscriptions") {
        return Err(not_found_path(path));
    }
    match segments.len() {
        1 => return Ok(Target::Subscriptions),
        2 => return Ok(Target::Subscription(parse_subscription(segments[1])?)),
        3 if is(2, "resourceGroups") => {
            return Ok(Target::ResourceGroups(parse_subscription(segments[1])?));
        }
        5 if is(2, "providers") && is(3, hale_arm::HEALTHCARE_PROVIDER) && is(4, "workspaces") => {
            return Ok(Target::Workspaces {
                subscription: parse_subscription(segments[1])?,
                group: None,
            });
        }
        7 if is(2, "resourceGroups")
            && is(4, "providers")
            && is(5, hale_arm::HEALTHCARE_PROVIDER)
            && is(6, "workspaces") =>
        {
            return Ok(Target::Workspaces {
                subscription: parse_subscription(segments[1])?,
                group: Some(segments[3].to_owned()),
            });
        }
        9 => {
            if let Some(kind) = ServiceKind::from_collection(segments[8]) {
                let workspace = parse_scope(&format!("/{}", segments[..8].join("/")), path)?
                    .ok_or_else(|| not_found_path(path))?;
                return Ok(Target::Services(workspace, kind));
            }
        }
        _ => {}
    }
    match parse_scope(trimmed, path)?.ok_or_else(|| not_found_path(path))? {
        id @ ResourceId::ResourceGroup { .. } => Ok(Target::ResourceGroup(id)),
        id @ ResourceId::Workspace { .. } => Ok(Target::Workspace(id)),
        id @ ResourceId::Service { .. } => Ok(Target::Service(id)),
        ResourceId::Subscription { subscription } => Ok(Target::Subscription(subscription)),
    }
}

/// Checks `api-version` as ARM does first: required, and shaped like a date.
/// Returns it; whether the type it names knows it is [`api_versions`]'s check.
fn check_api_version(query: &[(String, String)]) -> Result<&str, ArmFailure> {
    let Some((_, version)) = query
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("api-version"))
    else {
        return Err(ArmFailure::missing_api_version());
    };
    let date = version
        .strip_suffix("-preview")
        .or_else(|| version.strip_suffix("-beta"))
        .unwrap_or(version);
    let b = date.as_bytes();
    let ok = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    if ok {
        Ok(version)
    } else {
        Err(ArmFailure::invalid_api_version(version))
    }
}

/// ARM's token audiences (ARM's App ID URIs, and its client ID for v2 tokens).
fn arm_audience(aud: &str) -> bool {
    let trimmed = aud.trim_end_matches('/');
    first_party::AZURE_RESOURCE_MANAGER
        .identifier_uris
        .iter()
        .any(|u| u.trim_end_matches('/').eq_ignore_ascii_case(trimmed))
        || aud == first_party::AZURE_RESOURCE_MANAGER.app_id.to_string()
}

/// The caller of an ARM request and what it may do: its grants across the
/// tenant (its own and its groups', read for this request).
pub(super) struct Ctx {
    bearer: Bearer,
    grants: Vec<Grant>,
    /// Subscriptions of the caller's tenant.
    subscriptions: Vec<Subscription>,
}

impl Ctx {
    fn tenant(&self) -> TenantId {
        self.bearer.tenant_id
    }

    fn caller(&self) -> ObjectId {
        self.bearer.object_id
    }

    /// The subscription, when it is in the caller's tenant.
    fn subscription(&self, id: Uuid) -> Result<&Subscription, ArmFailure> {
        self.subscriptions
            .iter()
            .find(|s| s.id == id)
            .ok_or_else(|| ArmFailure::subscription_not_found(&id.to_string()))
    }

    fn may(&self, scope: &ResourceId, action: &str) -> bool {
        authz::permits_action(&self.grants, scope, action)
    }

    /// Refuses unless the caller may perform `action` at `scope`.
    fn require(&self, scope: &ResourceId, action: &str) -> Result<(), ArmFailure> {
        if self.may(scope, action) {
            Ok(())
        } else {
            Err(ArmFailure::authorization_failed(
                &self.bearer.display_name(),
                &self.caller().to_string(),
                action,
                &scope.to_string(),
            ))
        }
    }

    /// Whether the caller holds any role at or below `scope` (what makes a
    /// subscription visible to it).
    fn has_any_role_within(&self, scope: &ResourceId) -> bool {
        let key = scope.key();
        self.grants.iter().any(|g| {
            hale_arm::key_is_within(&g.scope, &key) || hale_arm::key_is_within(&key, &g.scope)
        })
    }
}

async fn context(state: &AppState, headers: &HeaderMap) -> Result<Ctx, ArmFailure> {
    let bearer = auth::verify_bearer(state, headers, arm_audience)
        .await
        .map_err(ArmFailure::unauthenticated)?;
    let (tenant, principal) = (bearer.tenant_id, bearer.object_id);
    let (known, grants, subscriptions) = state
        .store
        .read(move |tx| {
            let known = tenants::get(tx, tenant)?.is_some();
            let grants = arm::grants(tx, tenant, principal, None)?;
            let subscriptions = arm::subscriptions(tx, tenant)?;
            Ok::<_, StoreError>((known, grants, subscriptions))
        })
        .await?;
    if !known {
        return Err(ArmFailure::unauthenticated(auth::TokenFault::Tenant));
    }
    Ok(Ctx {
        bearer,
        grants,
        subscriptions,
    })
}

/// Every ARM request.
pub(crate) async fn dispatch(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let head = method == Method::HEAD;
    let result = async {
        let ctx = context(&state, &headers).await?;
        let version = check_api_version(&query)?;
        let target = parse_target(uri.path())?;
        api_versions::check_supported(version, &target, || request_location(&body))?;
        handle(&state, &ctx, method, target, &query, &body).await
    }
    .await;
    result.unwrap_or_else(|failure| {
        let response = failure.into_response();
        if head {
            // A HEAD answer has no body: the status (and headers) say it all.
            let (parts, _) = response.into_parts();
            Response::from_parts(parts, Body::empty())
        } else {
            response
        }
    })
}

/// The location a request names (its JSON body's), else Hale's own, for
/// messages that name one.
fn request_location(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("location")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| crate::bootstrap::DEFAULT_LOCATION.to_owned())
}

/// ARM's check of existence (`HEAD`, as `az group exists` sends): 204 when a
/// GET would find the resource, its 404 (without a body) when not.
fn existence(found: Result<Response, ArmFailure>) -> Result<Response, ArmFailure> {
    found.map(|_| StatusCode::NO_CONTENT.into_response())
}

async fn handle(
    state: &AppState,
    ctx: &Ctx,
    method: Method,
    target: Target,
    query: &[(String, String)],
    body: &[u8],
) -> Result<Response, ArmFailure> {
    use Method as M;
    match (method, target) {
        (M::GET, Target::Subscriptions) => groups::list_subscriptions(state, ctx),
        (M::GET, Target::Subscription(id)) => groups::get_subscription(state, ctx, id),
        (M::GET, Target::ResourceGroups(sub)) => groups::list_groups(state, ctx, sub).await,
        (M::GET, Target::ResourceGroup(id)) => groups::get_group(state, ctx, &id).await,
        (M::HEAD, Target::ResourceGroup(id)) => existence(groups::get_group(state, ctx, &id).await),
        (M::PUT, Target::ResourceGroup(id)) => {
            groups::put_group(state, ctx, &id, json_body(body)?).await
        }
        (M::PATCH, Target::ResourceGroup(id)) => {
            groups::patch_group(state, ctx, &id, json_body(body)?).await
        }
        (M::DELETE, Target::ResourceGroup(id)) => groups::delete_group(state, ctx, &id).await,
        (
            M::GET,
            Target::Workspaces {
                subscription,
                group,
            },
        ) => workspaces::list_workspaces(state, ctx, subscription, group).await,
        (M::GET, Target::Workspace(id)) => workspaces::get_workspace(state, ctx, &id).await,
        (M::HEAD, Target::Workspace(id)) => {
            existence(workspaces::get_workspace(state, ctx, &id).await)
        }
        (M::PUT, Target::Workspace(id)) => {
            workspaces::put_workspace(state, ctx, &id, json_body(body)?).await
        }
        (M::PATCH, Target::Workspace(id)) => {
            workspaces::patch_workspace(state, ctx, &id, json_body(body)?).await
        }
        (M::DELETE, Target::Workspace(id)) => workspaces::delete_workspace(state, ctx, &id).await,
        (M::GET, Target::Services(ws, kind)) => {
            workspaces::list_services(state, ctx, &ws, kind).await
        }
        (M::GET, Target::Service(id)) => workspaces::get_service(state, ctx, &id).await,
        (M::HEAD, Target::Service(id)) => existence(workspaces::get_service(state, ctx, &id).await),
        (M::PUT, Target::Service(id)) => {
            workspaces::put_service(state, ctx, &id, json_body(body)?).await
        }
        (M::PATCH, Target::Service(id)) => {
            workspaces::patch_service(state, ctx, &id, json_body(body)?).await
        }
        (M::DELETE, Target::Service(id)) => workspaces::delete_service(state, ctx, &id).await,
        (M::GET, Target::RoleDefinitions(scope)) => {
            authorization::list_definitions(state, ctx, scope.as_ref(), query).await
        }
        (M::GET, Target::RoleDefinition(scope, id)) => {
            authorization::get_definition(state, ctx, scope.as_ref(), &id).await
        }
        (M::GET, Target::RoleAssignments(scope)) => {
            authorization::list_assignments(state, ctx, scope.as_ref(), query).await
        }
        (M::GET, Target::RoleAssignment(scope, name)) => {
            authorization::get_assignment(state, ctx, scope.as_ref(), &name).await
        }
        (M::PUT, Target::RoleAssignment(scope, name)) => {
            authorization::put_assignment(state, ctx, scope.as_ref(), &name, json_body(body)?).await
        }
        (M::DELETE, Target::RoleAssignment(scope, name)) => {
            authorization::delete_assignment(state, ctx, scope.as_ref(), &name).await
        }
        (method, _) => Err(ArmFailure::method_not_allowed(method.as_str())),
    }
}

/// The request body as a JSON object; an empty body is `{}`.
fn json_body(body: &[u8]) -> Result<Map<String, Value>, ArmFailure> {
    if body.len() > MAX_BODY {
        return Err(ArmFailure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            format!("The request body is larger than {MAX_BODY} bytes."),
        ));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ArmFailure::invalid_content(
            "the body must be a JSON object",
        )),
        Err(e) => Err(ArmFailure::invalid_content(e)),
    }
}

/// `tags` of a request body: absent, or an object of strings.
fn tags_of(
    body: &Map<String, Value>,
) -> Result<Option<std::collections::BTreeMap<String, String>>, ArmFailure> {
    let Some(tags) = body.get("tags") else {
        return Ok(None);
    };
    if tags.is_null() {
        return Ok(Some(Default::default()));
    }
    let Some(map) = tags.as_object() else {
        return Err(ArmFailure::invalid_content(
            "'tags' must be an object of strings",
        ));
    };
    let mut out = std::collections::BTreeMap::new();
    for (k, v) in map {
        let Some(v) = v.as_str() else {
            return Err(ArmFailure::invalid_content(format!(
                "the value of tag '{k}' must be a string"
            )));
        };
        out.insert(k.clone(), v.to_owned());
    }
    hale_arm::validate_tags(&out)
        .map_err(|e| ArmFailure::bad_request("InvalidTag", e.to_string()))?;
    Ok(Some(out))
}

/// `location` of a request body, required for tracked resources.
fn location_of(body: &Map<String, Value>) -> Result<String, ArmFailure> {
    match body.get("location").and_then(Value::as_str).map(str::trim) {
        Some(l) if !l.is_empty() => Ok(l.to_owned()),
        _ => Err(ArmFailure::bad_request(
            "LocationRequired",
            "The location property is required for this definition.",
        )),
    }
}

/// ARM locations compare ignoring case and spaces (`West US` = `westus`).
fn same_location(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_lowercase()
    };
    norm(a) == norm(b)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// A JSON answer.
fn json(status: StatusCode, value: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        value.to_string(),
    )
        .into_response()
}

/// ARM's list envelope.
fn list(items: Vec<Value>) -> Response {
    json(StatusCode::OK, serde_json::json!({ "value": items }))
}

/// The answer to a DELETE of something that was there (ARM's synchronous 200)
/// or not (204).
fn deleted(existed: bool) -> Response {
    if existed {
        StatusCode::OK.into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let sub = "4a1c7e2e-6f21-4b6f-9d8e-0c1b2a3d4e5f";
        let s = Uuid::parse_str(sub).unwrap();
        let ws = ResourceId::parse(&format!(
            "/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.HealthcareApis/workspaces/ws"
        ))
        .unwrap();
        let cases: Vec<(String, Result<Target, &str>)> = vec![
            ("/subscriptions".into(), Ok(Target::Subscriptions)),
            (format!("/subscriptions/{sub}"), Ok(Target::Subscription(s))),
            (
                format!("/subscriptions/{sub}/resourcegroups"),
                Ok(Target::ResourceGroups(s)),
            ),
            (
                format!("/subscriptions/{sub}/resourceGroups/rg"),
                Ok(Target::ResourceGroup(ResourceId::ResourceGroup {
                    subscription: s,
                    group: "rg".into(),
                })),
            ),
            (
                format!("/subscriptions/{sub}/providers/Microsoft.HealthcareApis/workspaces"),
                Ok(Target::Workspaces {
                    subscription: s,
                    group: None,
                }),
            ),
            (
                format!(
                    "/subscriptions/{sub}/resourceGroups/rg/providers/microsoft.healthcareapis/workspaces/"
                ),
                Ok(Target::Workspaces {
                    subscription: s,
                    group: Some("rg".into()),
                }),
            ),
            (format!("{ws}"), Ok(Target::Workspace(ws.clone()))),
            (
                format!("{ws}/fhirservices"),
                Ok(Target::Services(ws.clone(), ServiceKind::Fhir)),
            ),
            (
                format!("{ws}/DICOMSERVICES"),
                Ok(Target::Services(ws.clone(), ServiceKind::Dicom)),
            ),
            (
                format!("{ws}/fhirservices/f1"),
                Ok(Target::Service(
                    ResourceId::parse(&format!("{ws}/fhirservices/f1")).unwrap(),
                )),
            ),
            (
                format!("{ws}/providers/Microsoft.Authorization/roleAssignments"),
                Ok(Target::RoleAssignments(Some(ws.clone()))),
            ),
            (
                format!(
                    "/subscriptions/{sub}/providers/microsoft.authorization/roleassignments/abc"
                ),
                Ok(Target::RoleAssignment(
                    Some(ResourceId::Subscription { subscription: s }),
                    "abc".into(),
                )),
            ),
            (
                "/providers/Microsoft.Authorization/roleDefinitions".into(),
                Ok(Target::RoleDefinitions(None)),
            ),
            (
                format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/x"),
                Ok(Target::RoleDefinition(
                    Some(ResourceId::Subscription { subscription: s }),
                    "x".into(),
                )),
            ),
            (
                format!("/subscriptions/{sub}/resourcegroups/rg%281%29"),
                Ok(Target::ResourceGroup(ResourceId::ResourceGroup {
                    subscription: s,
                    group: "rg(1)".into(),
                })),
            ),
            (
                format!(
                    "/subscriptions/{sub}/resourceGroups/%C3%84rzte/providers/Microsoft.HealthcareApis/workspaces"
                ),
                Ok(Target::Workspaces {
                    subscription: s,
                    group: Some("Ärzte".into()),
                }),
            ),
            (
                format!("/subscriptions/{sub}/resourceGroups/a%2Fb"),
                Err("BadRequest"),
            ),
            (
                format!("/subscriptions/{sub}/resourceGroups/%FF"),
                Err("BadRequest"),
            ),
            ("/subscriptions/nope".into(), Err("InvalidSubscriptionId")),
            (
                "/subscriptions/nope/resourceGroups/rg".into(),
                Err("InvalidSubscriptionId"),
            ),
            (format!("{ws}/iotconnectors"), Err("NotFound")),
            (
                format!("{ws}/providers/Microsoft.Authorization/locks"),
                Err("NotFound"),
            ),
            ("/providers/Microsoft.Compute".into(), Err("NotFound")),
        ];
        for (path, expected) in cases {
            match (parse_target(&path), expected) {
                (Ok(t), Ok(e)) => assert_eq!(t, e, "{path}"),
                (Err(err), Err(code)) => assert_eq!(err.code, code, "{path}"),
                (got, want) => panic!("{path}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn api_versions() {
        let q = |v: &str| vec![("api-version".to_owned(), v.to_owned())];
        for ok in ["2023-11-01", "2022-04-01", "2025-04-01-preview"] {
            assert!(check_api_version(&q(ok)).is_ok(), "{ok}");
        }
        for bad in ["", "latest", "2023-1-01", "2023-11-01-alpha1", "20231101"] {
            assert_eq!(
                check_api_version(&q(bad)).unwrap_err().code,
                "InvalidApiVersionParameter",
                "{bad}"
            );
        }
        assert_eq!(
            check_api_version(&[]).unwrap_err().code,
            "MissingApiVersionParameter"
        );
    }
}
