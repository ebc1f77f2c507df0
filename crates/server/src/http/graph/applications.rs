//! `/v1.0/applications`: list, create, get, update, delete, addPassword,
//! removePassword.

use axum::http::StatusCode;
use axum::response::Response;
use hale_directory::{Application, DirectoryError, ObjectId, new_password_credential};
use hale_store::{StoreError, Tx, applications};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::{GraphError, Key, context, json as respond};
use crate::http::AppState;
use crate::http::auth::Caller;

/// Properties a client may set on create and update.
const WRITABLE: &[&str] = &[
    "displayName",
    "description",
    "signInAudience",
    "identifierUris",
    "isFallbackPublicClient",
    "web",
    "spa",
    "publicClient",
    "api",
    "appRoles",
    "requiredResourceAccess",
    "groupMembershipClaims",
    "tags",
];
/// Properties Graph computes, or manages through actions.
const READ_ONLY: &[&str] = &[
    "id",
    "appId",
    "createdDateTime",
    "publisherDomain",
    "passwordCredentials",
];

/// Work that failed inside a transaction: a Graph answer, or storage trouble.
enum Failure {
    Graph(GraphError),
    Store(StoreError),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}
impl From<GraphError> for Failure {
    fn from(e: GraphError) -> Self {
        Failure::Graph(e)
    }
}
impl From<DirectoryError> for Failure {
    fn from(e: DirectoryError) -> Self {
        Failure::Graph(e.into())
    }
}
impl From<Failure> for GraphError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Graph(e) => e,
            Failure::Store(e) => e.into(),
        }
    }
}

fn not_found(key: Key) -> GraphError {
    match key {
        Key::Id(id) => GraphError::not_found(&id.to_string()),
        Key::AppId(id) => GraphError::not_found(&format!("applications(appId='{id}')")),
    }
}

/// Finds the application `key` names in the caller's tenant.
fn find(tx: &mut dyn Tx, caller: &Caller, key: Key) -> Result<Application, Failure> {
    let found = match key {
        Key::Id(id) => applications::get(tx, caller.tenant_id, ObjectId(id))?,
        Key::AppId(app_id) => {
            applications::by_app_id(tx, app_id.into())?.filter(|a| a.tenant_id == caller.tenant_id)
        }
    };
    found.ok_or_else(|| Failure::Graph(not_found(key)))
}

fn entity(state: &AppState, app: &Application) -> Value {
    let mut value = serde_json::to_value(app).unwrap_or_default();
    if let Value::Object(map) = &mut value {
        map.insert(
            "@odata.context".into(),
            json!(context(state, "applications/$entity")),
        );
    }
    value
}

// Listing, with `$filter` pushed down to the database where it can be, lives
// in `application_query`.
pub(super) use super::application_query::list;

pub(super) async fn get(
    state: &AppState,
    caller: &Caller,
    key: Key,
    _query: &[(String, String)],
) -> Result<Response, GraphError> {
    caller.require_read_applications()?;
    let caller_copy = caller.clone();
    let app = state
        .store
        .read(move |tx| find(tx, &caller_copy, key))
        .await
        .map_err(GraphError::from)?;
    Ok(respond(StatusCode::OK, entity(state, &app)))
}

pub(super) async fn create(
    state: &AppState,
    caller: &Caller,
    body: Map<String, Value>,
) -> Result<Response, GraphError> {
    caller.require_write_applications()?;
    check_properties(&body)?;
    let publisher = caller.tenant_domain.clone();
    let display_name = body
        .get("displayName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if display_name.trim().is_empty() {
        return Err(GraphError::bad_request(
            "Property 'displayName' is required.",
        ));
    }
    let mut app = Application::new(caller.tenant_id, display_name, &publisher);
    app = merged(&app, &body)?;
    app.validate()?;
    let stored = app.clone();
    state
        .store
        .write(move |tx| {
            check_identifier_uris(tx, &stored)?;
            applications::insert(tx, &stored)?;
            Ok::<_, Failure>(())
        })
        .await
        .map_err(GraphError::from)?;
    tracing::info!(app_id = %app.app_id, by = %caller.object_id, "application created");
    Ok(respond(StatusCode::CREATED, entity(state, &app)))
}

pub(super) async fn update(
    state: &AppState,
    caller: &Caller,
    key: Key,
    body: Map<String, Value>,
) -> Result<Response, GraphError> {
    check_properties(&body)?;
    change_application(state, caller, key, move |tx, current| {
        let updated = merged(&current, &body)?;
        updated.validate()?;
        check_identifier_uris(tx, &updated)?;
        Ok(applications::update(tx, &updated)?)
    })
    .await?;
    Ok(no_content())
}

pub(super) async fn delete(
    state: &AppState,
    caller: &Caller,
    key: Key,
) -> Result<Response, GraphError> {
    change_application(state, caller, key, |tx, app| {
        applications::delete(tx, app.tenant_id, app.id)?;
        Ok(())
    })
    .await?;
    Ok(no_content())
}

pub(super) async fn add_password(
    state: &AppState,
    caller: &Caller,
    key: Key,
    body: Map<String, Value>,
) -> Result<Response, GraphError> {
    caller.require_write_applications()?;
    let request = match body.get("passwordCredential") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => {
            return Err(GraphError::bad_request(
                "Property 'passwordCredential' must be an object.",
            ));
        }
    };
    if let Some(other) = body.keys().find(|k| k.as_str() != "passwordCredential") {
        return Err(unknown_property(other));
    }
    if let Some(other) = request.keys().find(|k| {
        !matches!(
            k.as_str(),
            "displayName" | "startDateTime" | "endDateTime" | "@odata.type"
        )
    }) {
        return Err(unknown_property(other));
    }
    let display_name = match request.get("displayName") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(GraphError::bad_request(
                "Property 'displayName' must be a string.",
            ));
        }
    };
    let start = date_property(&request, "startDateTime")?;
    let end = date_property(&request, "endDateTime")?;
    let digester = state.secret_digester.clone();
    let (mut credential, secret) =
        new_password_credential(display_name, start, end, state.max_secret_lifetime, |s| {
            digester.digest(s)
        })?;
    let stored = credential.clone();
    change_application(state, caller, key, move |tx, mut app| {
        app.password_credentials.push(stored);
        Ok(applications::update(tx, &app)?)
    })
    .await?;
    credential.secret_text = Some(secret.expose().to_owned());
    let mut value = serde_json::to_value(&credential).unwrap_or_default();
    value["@odata.context"] = json!(context(state, "microsoft.graph.passwordCredential"));
    Ok(respond(StatusCode::OK, value))
}

pub(super) async fn remove_password(
    state: &AppState,
    caller: &Caller,
    key: Key,
    body: Map<String, Value>,
) -> Result<Response, GraphError> {
    caller.require_write_applications()?;
    if let Some(other) = body.keys().find(|k| k.as_str() != "keyId") {
        return Err(unknown_property(other));
    }
    let key_id = body
        .get("keyId")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| {
            GraphError::bad_request("Property 'keyId' is required and must be a GUID.")
        })?;
    change_application(state, caller, key, move |tx, mut app| {
        let before = app.password_credentials.len();
        app.password_credentials.retain(|c| c.key_id != key_id);
        if app.password_credentials.len() == before {
            return Err(Failure::Graph(GraphError::bad_request(format!(
                "No password credential found with keyId '{key_id}'."
            ))));
        }
        Ok(applications::update(tx, &app)?)
    })
    .await?;
    Ok(no_content())
}

/// Checks that the caller may write applications, then runs `change` on the
/// application `key` names, in one write transaction.
async fn change_application<F>(
    state: &AppState,
    caller: &Caller,
    key: Key,
    change: F,
) -> Result<(), GraphError>
where
    F: FnOnce(&mut dyn Tx, Application) -> Result<(), Failure> + Send + 'static,
{
    caller.require_write_applications()?;
    let caller = caller.clone();
    state
        .store
        .write(move |tx| {
            let app = find(tx, &caller, key)?;
            change(tx, app)
        })
        .await
        .map_err(GraphError::from)
}

fn no_content() -> Response {
    axum::response::IntoResponse::into_response(StatusCode::NO_CONTENT)
}

fn unknown_property(name: &str) -> GraphError {
    GraphError::bad_request(format!(
        "Property '{name}' does not exist as a declared property or extension property."
    ))
}

fn date_property(
    map: &Map<String, Value>,
    name: &str,
) -> Result<Option<OffsetDateTime>, GraphError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => OffsetDateTime::parse(s, &Rfc3339)
            .map(Some)
            .map_err(|_| GraphError::bad_request(format!("Invalid value specified for property '{name}': '{s}' is not an ISO 8601 date and time."))),
        Some(_) => Err(GraphError::bad_request(format!("Property '{name}' must be a date-time string."))),
    }
}

/// Refuses properties that do not exist or cannot be set.
fn check_properties(body: &Map<String, Value>) -> Result<(), GraphError> {
    for name in body.keys() {
        if name == "@odata.type" || WRITABLE.contains(&name.as_str()) {
            continue;
        }
        if READ_ONLY.contains(&name.as_str()) {
            return Err(GraphError::bad_request(format!(
                "Property '{name}' is read-only and cannot be set."
            )));
        }
        if name == "keyCredentials" {
            // FIXME(issue 4): certificate upload (X.509 parsing, thumbprints) is not built yet.
            return Err(GraphError {
                status: StatusCode::NOT_IMPLEMENTED,
                code: "Request_UnsupportedQuery",
                message:
                    "Uploading certificates (keyCredentials) is not supported by this Hale yet."
                        .into(),
            });
        }
        return Err(unknown_property(name));
    }
    Ok(())
}

/// `current` with `patch` merged in: nested objects merge property by property,
/// everything else is replaced. Rejects nested properties that do not exist and
/// values of the wrong type.
fn merged(current: &Application, patch: &Map<String, Value>) -> Result<Application, GraphError> {
    let mut value = serde_json::to_value(current).map_err(|_| GraphError::internal())?;
    let mut patch = patch.clone();
    patch.remove("@odata.type");
    merge(&mut value, &Value::Object(patch.clone()));
    let mut app: Application = serde_json::from_value(value)
        .map_err(|e| GraphError::bad_request(format!("Invalid value in the request body: {e}.")))?;
    // Fields the JSON body never carries.
    app.tenant_id = current.tenant_id;
    app.password_credentials = current.password_credentials.clone();
    let round_trip = serde_json::to_value(&app).map_err(|_| GraphError::internal())?;
    if let Some(path) = unknown_path(&Value::Object(patch), &round_trip, String::new()) {
        return Err(unknown_property(&path));
    }
    Ok(app)
}

fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                match target.get_mut(key) {
                    Some(existing) if existing.is_object() && value.is_object() => {
                        merge(existing, value)
                    }
                    _ => {
                        target.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

/// The first property path in `input` that the parsed object dropped.
fn unknown_path(input: &Value, parsed: &Value, prefix: String) -> Option<String> {
    match (input, parsed) {
        (Value::Object(input), Value::Object(parsed)) => input.iter().find_map(|(key, value)| {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            match parsed.get(key) {
                None if key.starts_with("@odata.") => None,
                None => Some(path),
                Some(inner) => unknown_path(value, inner, path),
            }
        }),
        (Value::Array(input), Value::Array(parsed)) => input
            .iter()
            .zip(parsed)
            .find_map(|(i, p)| unknown_path(i, p, prefix.clone())),
        _ => None,
    }
}

/// App ID URIs must be unused by any other application of the tenant.
fn check_identifier_uris(tx: &mut dyn Tx, app: &Application) -> Result<(), Failure> {
    for uri in &app.identifier_uris {
        if let Some(owner) = applications::identifier_uri_owner(tx, app.tenant_id, uri)?
            && owner != app.id
        {
            return Err(Failure::Graph(GraphError::bad_request(
                "Another object with the same value for property identifierUris already exists.",
            )));
        }
    }
    Ok(())
}
