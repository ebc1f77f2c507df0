//! `/v1.0/applications`: list, create, get, update, delete, addPassword,
//! removePassword (extension properties: `extension_properties`).

use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use hale_directory::{
    Application, KeyCredential, ObjectId, new_key_credential, new_password_credential,
};
use hale_store::{Tx, applications};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::directory::unknown_property;
use super::{Failure, GraphError, Key, context, json as respond};
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
    "optionalClaims",
    "tags",
    "keyCredentials",
];
/// Properties Graph computes, or manages through actions.
const READ_ONLY: &[&str] = &[
    "id",
    "appId",
    "createdDateTime",
    "publisherDomain",
    "passwordCredentials",
];

fn not_found(key: Key) -> GraphError {
    match key {
        Key::Id(id) => GraphError::not_found(&id.to_string()),
        Key::AppId(id) => GraphError::not_found(&format!("applications(appId='{id}')")),
    }
}

/// Finds the application `key` names in the caller's tenant.
pub(super) fn find(tx: &mut dyn Tx, caller: &Caller, key: Key) -> Result<Application, Failure> {
    let found = match key {
        Key::Id(id) => applications::get(tx, caller.tenant_id, ObjectId(id))?,
        Key::AppId(app_id) => {
            applications::by_app_id(tx, app_id.into())?.filter(|a| a.tenant_id == caller.tenant_id)
        }
    };
    found.ok_or_else(|| Failure::Graph(not_found(key)))
}

/// An application as Graph shows it: certificates' `key` only when
/// `keyCredentials` is `$select`ed, as in Graph.
pub(super) fn graph_value(app: &Application, select: Option<&[String]>) -> Value {
    let mut value = serde_json::to_value(app).unwrap_or_default();
    if let Value::Object(map) = &mut value {
        map.remove("owners");
    }
    let keys_selected = select.is_some_and(|names| {
        names
            .iter()
            .any(|n| n.eq_ignore_ascii_case("keyCredentials"))
    });
    if !keys_selected && let Some(Value::Array(keys)) = value.get_mut("keyCredentials") {
        for key in keys {
            key["key"] = Value::Null;
        }
    }
    value
}

/// Refuses `$select`ed names that are not application properties.
pub(super) fn check_select(caller: &Caller, select: &[String]) -> Result<(), GraphError> {
    let known = serde_json::to_value(Application::new(caller.tenant_id, "x".into(), "x"))
        .unwrap_or_default();
    let names: Vec<&str> = known
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    hale_odata::validate_select(select, &names, "microsoft.graph.application")
        .map_err(super::collection::odata_error)
}

/// [`graph_value`] cut down to the `$select`ed properties.
fn selected(value: Value, select: Option<&[String]>) -> Value {
    match select {
        Some(names) => hale_odata::apply_select(&value, names),
        None => value,
    }
}

fn entity(state: &AppState, app: &Application, select: Option<&[String]>) -> Value {
    let mut value = selected(graph_value(app, select), select);
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
    query: &[(String, String)],
) -> Result<Response, GraphError> {
    caller.require_read_applications()?;
    let select = match query.iter().find(|(k, _)| k == "$select") {
        Some((_, list)) => {
            let names: Vec<String> = list.split(',').map(|n| n.trim().to_owned()).collect();
            check_select(caller, &names)?;
            Some(names)
        }
        None => None,
    };
    if let Some((other, _)) = query
        .iter()
        .find(|(k, _)| k.starts_with('$') && k != "$select")
    {
        return Err(GraphError::bad_request(format!(
            "Query option '{other}' is not allowed when reading a single application."
        )));
    }
    let caller_copy = caller.clone();
    let app = state
        .store
        .read(move |tx| find(tx, &caller_copy, key))
        .await
        .map_err(GraphError::from)?;
    Ok(respond(
        StatusCode::OK,
        entity(state, &app, select.as_deref()),
    ))
}

pub(super) async fn create(
    state: &AppState,
    caller: &Caller,
    body: Map<String, Value>,
) -> Result<Response, GraphError> {
    caller.require(hale_directory::access::may_write_owned_applications)?;
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
    // The creator owns what it registers, as in Entra.
    app.owners = vec![caller.object_id];
    app.validate()?;
    let stored = app.clone();
    state
        .store
        .write(move |tx| {
            check_identifier_uris(tx, &stored)?;
            check_required_resources(tx, &stored)?;
            applications::insert(tx, &stored)?;
            Ok::<_, Failure>(())
        })
        .await
        .map_err(GraphError::from)?;
    tracing::info!(app_id = %app.app_id, by = %caller.object_id, "application created");
    Ok(respond(StatusCode::CREATED, entity(state, &app, None)))
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
        check_required_resources(tx, &updated)?;
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
        // Its directory extensions, and users' values of them, go with it.
        hale_store::extension_properties::forget_application(tx, app.tenant_id, app.id)?;
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

/// The audience of `addKey`/`removeKey` proofs: Azure AD Graph's app ID.
const PROOF_AUDIENCE: &str = "00000002-0000-0000-c000-000000000000";
/// The longest a proof may be valid (`exp - nbf`).
const PROOF_LIFETIME: f64 = 600.0;

/// Checks an `addKey`/`removeKey` proof: a JWT signed with the key of one of
/// the application's current certificates, `iss` = the application's object
/// ID, `aud` = Azure AD Graph, valid at most ten minutes.
fn check_proof(app: &Application, proof: &str) -> Result<(), GraphError> {
    let bad = |why: &str| {
        GraphError::bad_request(format!("The proof of possession is not valid: {why}."))
    };
    let verified =
        hale_identity::assertion::verify(proof, &app.key_credentials, OffsetDateTime::now_utc())
            .map_err(|e| {
                use hale_identity::assertion::AssertionError as E;
                bad(match e {
                    E::Malformed(_) => "it is not a signed JWT",
                    E::UnknownCertificate => {
                        "it is not signed with a certificate of this application"
                    }
                    E::CertificateNotCurrent => "the signing certificate is not currently valid",
                    E::BadSignature => "its signature does not verify",
                    E::OutsideValidity => "it has expired or is not yet valid",
                    E::WrongAudience | E::WrongIssuer => "its claims are wrong",
                })
            })?;
    let claims = &verified.claims;
    if claims.get("aud").and_then(Value::as_str) != Some(PROOF_AUDIENCE) {
        return Err(bad(&format!("'aud' must be '{PROOF_AUDIENCE}'")));
    }
    let iss = claims
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !iss.eq_ignore_ascii_case(&app.id.to_string()) {
        return Err(bad("'iss' must be the application's object ID"));
    }
    let nbf = hale_jws::numeric_date(claims, "nbf").ok_or_else(|| bad("'nbf' is required"))?;
    let exp = hale_jws::numeric_date(claims, "exp").unwrap_or(f64::MAX);
    if exp - nbf > PROOF_LIFETIME {
        return Err(bad("it may be valid for at most 10 minutes"));
    }
    Ok(())
}

fn proof_of(body: &Map<String, Value>) -> Result<String, GraphError> {
    body.get("proof")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| GraphError::bad_request("Property 'proof' is required: a JWT signed with an existing certificate of the application."))
}

/// `addKey`: adds a certificate, proven by a JWT signed with one the
/// application already has (an application with none uses PATCH instead).
pub(super) async fn add_key(
    state: &AppState,
    caller: &Caller,
    key: Key,
    body: Map<String, Value>,
) -> Result<Response, GraphError> {
    if let Some(other) = body
        .keys()
        .find(|k| !matches!(k.as_str(), "keyCredential" | "passwordCredential" | "proof"))
    {
        return Err(unknown_property(other));
    }
    if !matches!(body.get("passwordCredential"), None | Some(Value::Null)) {
        return Err(GraphError::bad_request(
            "Password-protected certificates (X509CertAndPassword) are not supported; 'passwordCredential' must be null.",
        ));
    }
    let entry = body
        .get("keyCredential")
        .filter(|v| v.get("key").is_some_and(|k| !k.is_null()))
        .cloned()
        .ok_or_else(|| {
            GraphError::bad_request("Property 'keyCredential' with its 'key' is required.")
        })?;
    let proof = proof_of(&body)?;
    let added = change_application(state, caller, key, move |tx, mut app| {
        check_proof(&app, &proof)?;
        let credential = key_credential(&app, &entry, OffsetDateTime::now_utc())?;
        let mut list = app.key_credentials.clone();
        if list.iter().any(|c| {
            c.custom_key_identifier == credential.custom_key_identifier
                || c.key_id == credential.key_id
        }) {
            return Err(Failure::Graph(GraphError::bad_request(
                "The application already has this certificate.",
            )));
        }
        if list.len() >= MAX_KEY_CREDENTIALS {
            return Err(Failure::Graph(GraphError::bad_request(format!(
                "An application may have at most {MAX_KEY_CREDENTIALS} key credentials."
            ))));
        }
        list.push(credential.clone());
        app.key_credentials = list;
        applications::update(tx, &app)?;
        Ok(credential)
    })
    .await?;
    let mut value = serde_json::to_value(&added).unwrap_or_default();
    value["key"] = Value::Null;
    value["@odata.context"] = json!(context(state, "microsoft.graph.keyCredential"));
    Ok(respond(StatusCode::OK, value))
}

/// `removeKey`: removes a certificate, proven as for `addKey`.
pub(super) async fn remove_key(
    state: &AppState,
    caller: &Caller,
    key: Key,
    body: Map<String, Value>,
) -> Result<Response, GraphError> {
    if let Some(other) = body
        .keys()
        .find(|k| !matches!(k.as_str(), "keyId" | "proof"))
    {
        return Err(unknown_property(other));
    }
    let key_id = body
        .get("keyId")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| {
            GraphError::bad_request("Property 'keyId' is required and must be a GUID.")
        })?;
    let proof = proof_of(&body)?;
    change_application(state, caller, key, move |tx, mut app| {
        check_proof(&app, &proof)?;
        let before = app.key_credentials.len();
        app.key_credentials.retain(|c| c.key_id != key_id);
        if app.key_credentials.len() == before {
            return Err(Failure::Graph(GraphError::bad_request(format!(
                "No key credential found with keyId '{key_id}'."
            ))));
        }
        Ok(applications::update(tx, &app)?)
    })
    .await?;
    Ok(no_content())
}

/// Whether the caller manages every application (an application-managing
/// permission and, for a user, role); `false` when it may change only the
/// applications it owns; 403 when neither.
pub(super) fn manages_applications(caller: &Caller) -> Result<bool, GraphError> {
    let manager = caller.require_write_applications().is_ok();
    if !manager {
        caller.require(hale_directory::access::may_write_owned_applications)?;
    }
    Ok(manager)
}

/// Checks that the caller may write applications, then runs `change` on the
/// application `key` names, in one write transaction.
pub(super) async fn change_application<F, T>(
    state: &AppState,
    caller: &Caller,
    key: Key,
    change: F,
) -> Result<T, GraphError>
where
    F: FnOnce(&mut dyn Tx, Application) -> Result<T, Failure> + Send + 'static,
    T: Send + 'static,
{
    let manager = manages_applications(caller)?;
    let caller = caller.clone();
    state
        .store
        .write(move |tx| {
            let app = find(tx, &caller, key)?;
            // Without an application-managing role, only an owner may change it.
            if !manager && !app.owners.contains(&caller.object_id) {
                return Err(Failure::Graph(GraphError::forbidden()));
            }
            change(tx, app)
        })
        .await
        .map_err(GraphError::from)
}

fn no_content() -> Response {
    axum::response::IntoResponse::into_response(StatusCode::NO_CONTENT)
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
    super::directory::check_properties(body, WRITABLE, READ_ONLY)
}

/// `current` with `patch` merged in: nested objects merge property by property,
/// everything else is replaced. Rejects nested properties that do not exist and
/// values of the wrong type.
fn merged(current: &Application, patch: &Map<String, Value>) -> Result<Application, GraphError> {
    let mut value = serde_json::to_value(current).map_err(|_| GraphError::internal())?;
    let mut patch = patch.clone();
    patch.remove("@odata.type");
    let key_credentials = match patch.remove("keyCredentials") {
        Some(list) => key_credentials(current, &list)?,
        None => current.key_credentials.clone(),
    };
    merge(&mut value, &Value::Object(patch.clone()));
    let mut app: Application = serde_json::from_value(value)
        .map_err(|e| GraphError::bad_request(format!("Invalid value in the request body: {e}.")))?;
    // Fields the JSON body never carries.
    app.tenant_id = current.tenant_id;
    app.password_credentials = current.password_credentials.clone();
    app.key_credentials = key_credentials;
    let round_trip = serde_json::to_value(&app).map_err(|_| GraphError::internal())?;
    if let Some(path) = unknown_path(&Value::Object(patch), &round_trip, String::new()) {
        return Err(unknown_property(&path));
    }
    Ok(app)
}

/// The most certificates an application may hold.
const MAX_KEY_CREDENTIALS: usize = 20;

/// `keyCredentials` from a PATCH: the new collection. An entry with a `key`
/// is a certificate upload; an entry naming an existing `keyId` without a
/// `key` keeps that certificate; certificates not listed are removed.
fn key_credentials(current: &Application, list: &Value) -> Result<Vec<KeyCredential>, GraphError> {
    let Value::Array(entries) = list else {
        return Err(GraphError::bad_request(
            "Property 'keyCredentials' must be an array.",
        ));
    };
    if entries.len() > MAX_KEY_CREDENTIALS {
        return Err(GraphError::bad_request(format!(
            "An application may have at most {MAX_KEY_CREDENTIALS} key credentials."
        )));
    }
    let now = OffsetDateTime::now_utc();
    let mut out: Vec<KeyCredential> = Vec::new();
    for entry in entries {
        let credential = key_credential(current, entry, now)?;
        if out.iter().any(|c| {
            c.key_id == credential.key_id
                || c.custom_key_identifier == credential.custom_key_identifier
        }) {
            return Err(GraphError::bad_request(
                "keyCredentials holds the same certificate or keyId twice.",
            ));
        }
        out.push(credential);
    }
    Ok(out)
}

/// One `keyCredential` from a request body.
fn key_credential(
    current: &Application,
    entry: &Value,
    now: OffsetDateTime,
) -> Result<KeyCredential, GraphError> {
    let Value::Object(map) = entry else {
        return Err(GraphError::bad_request(
            "Each keyCredential must be an object.",
        ));
    };
    const KNOWN: &[&str] = &[
        "keyId",
        "type",
        "usage",
        "key",
        "displayName",
        "customKeyIdentifier",
        "startDateTime",
        "endDateTime",
        "@odata.type",
    ];
    if let Some(other) = map.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(unknown_property(&format!("keyCredentials.{other}")));
    }
    let text = |name: &str| -> Result<Option<&str>, GraphError> {
        match map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(GraphError::bad_request(format!(
                "Property 'keyCredentials.{name}' must be a string."
            ))),
        }
    };
    let key_id = text("keyId")?
        .map(|s| {
            Uuid::parse_str(s).map_err(|_| {
                GraphError::bad_request(format!(
                    "Property 'keyCredentials.keyId' value '{s}' is not a GUID."
                ))
            })
        })
        .transpose()?;
    if let Some(kind) = text("type")?
        && kind != "AsymmetricX509Cert"
    {
        return Err(GraphError::bad_request(format!(
            "keyCredentials.type '{kind}' is not supported; use 'AsymmetricX509Cert'."
        )));
    }
    if let Some(usage) = text("usage")?
        && usage != "Verify"
    {
        return Err(GraphError::bad_request(format!(
            "keyCredentials.usage '{usage}' is not supported; use 'Verify' (a certificate the application signs client assertions with)."
        )));
    }
    match text("key")? {
        Some(encoded) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded.split_whitespace().collect::<String>())
                .map_err(|_| {
                    GraphError::bad_request(
                        "Property 'keyCredentials.key' must be the base64 of a certificate (DER or PEM).",
                    )
                })?;
            Ok(new_key_credential(
                &bytes,
                key_id,
                text("displayName")?.map(str::to_owned),
                now,
            )?)
        }
        None => {
            let key_id = key_id.ok_or_else(|| {
                GraphError::bad_request(
                    "A keyCredential needs a 'key' (the certificate), or the 'keyId' of one the application already has.",
                )
            })?;
            current
                .key_credentials
                .iter()
                .find(|c| c.key_id == key_id)
                .cloned()
                .ok_or_else(|| {
                    GraphError::bad_request(format!(
                        "No key credential found with keyId '{key_id}'; upload the certificate as 'key'."
                    ))
                })
        }
    }
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

/// API permissions (`requiredResourceAccess`) on first-party APIs must name
/// permissions those APIs have, and an API that appears in a tenant only with
/// a service ("Azure Healthcare APIs" with a FHIR service, "Azure API for
/// DICOM" with a DICOM service) can be asked for only once it is there, as the
/// portal offers it under "APIs my organization uses" only then.
fn check_required_resources(tx: &mut dyn Tx, app: &Application) -> Result<(), Failure> {
    use hale_directory::first_party;
    for required in &app.required_resource_access {
        let Some(api) = first_party::by_app_id(hale_directory::AppId(required.resource_app_id))
        else {
            continue;
        };
        if api.provisioned != first_party::Provisioned::Always
            && hale_store::principals::by_app_id(tx, app.tenant_id, api.app_id)?.is_none()
        {
            return Err(Failure::Graph(GraphError::bad_request(format!(
                "The API '{}' ({}) is not available in this tenant yet: it appears once a {} service exists.",
                api.display_name,
                api.app_id,
                if api.provisioned == first_party::Provisioned::WithDicomService {
                    "DICOM"
                } else {
                    "FHIR"
                }
            ))));
        }
        for access in &required.resource_access {
            let known = match access.kind.as_str() {
                "Scope" => api.scopes.iter().any(|p| p.id == access.id),
                "Role" => api.roles.iter().any(|p| p.id == access.id),
                _ => false,
            };
            if !known {
                return Err(Failure::Graph(GraphError::bad_request(format!(
                    "The API '{}' has no {} permission with ID '{}'.",
                    api.display_name,
                    if access.kind == "Role" {
                        "application"
                    } else {
                        "delegated"
                    },
                    access.id
                ))));
            }
        }
    }
    Ok(())
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

/// A directory object as a Graph navigation lists it (`owners`).
fn directory_object(
    tx: &mut dyn Tx,
    caller: &Caller,
    id: ObjectId,
) -> Result<Option<Value>, hale_store::StoreError> {
    if let Some(user) = hale_store::users::get(tx, caller.tenant_id, id)? {
        return Ok(Some(json!({
            "@odata.type": "#microsoft.graph.user",
            "id": user.id,
            "displayName": user.display_name,
            "userPrincipalName": user.user_principal_name,
        })));
    }
    if let Some(sp) = hale_store::principals::get(tx, caller.tenant_id, id)? {
        return Ok(Some(json!({
            "@odata.type": "#microsoft.graph.servicePrincipal",
            "id": sp.id,
            "appId": sp.app_id,
            "displayName": sp.display_name,
        })));
    }
    Ok(None)
}

/// `GET /applications/{id}/owners`.
pub(super) async fn owners(
    state: &AppState,
    caller: &Caller,
    key: Key,
) -> Result<Response, GraphError> {
    caller.require_read_applications()?;
    let c = caller.clone();
    let listed = state
        .store
        .read(move |tx| {
            let app = find(tx, &c, key)?;
            let mut out = Vec::new();
            for owner in &app.owners {
                if let Some(v) = directory_object(tx, &c, *owner)? {
                    out.push(v);
                }
            }
            Ok::<_, Failure>(out)
        })
        .await
        .map_err(GraphError::from)?;
    Ok(respond(
        StatusCode::OK,
        json!({"@odata.context": context(state, "directoryObjects"), "value": listed}),
    ))
}

/// `POST /applications/{id}/owners/$ref`: a user or service principal becomes
/// an owner.
pub(super) async fn add_owner(
    state: &AppState,
    caller: &Caller,
    key: Key,
    body: Map<String, Value>,
) -> Result<Response, GraphError> {
    let owner = super::directory::reference(&body)?;
    let c = caller.clone();
    change_application(state, caller, key, move |tx, mut app| {
        if directory_object(tx, &c, owner)?.is_none() {
            return Err(Failure::Graph(GraphError::bad_request(format!(
                "The owner '{owner}' is not a user or service principal of this tenant."
            ))));
        }
        if app.owners.contains(&owner) {
            return Err(Failure::Graph(GraphError::bad_request(
                "One or more added object references already exist for the following modified properties: 'owners'.",
            )));
        }
        app.owners.push(owner);
        Ok(applications::update(tx, &app)?)
    })
    .await?;
    Ok(no_content())
}

/// `DELETE /applications/{id}/owners/{ownerId}/$ref`.
pub(super) async fn remove_owner(
    state: &AppState,
    caller: &Caller,
    key: Key,
    owner: ObjectId,
) -> Result<Response, GraphError> {
    change_application(state, caller, key, move |tx, mut app| {
        let before = app.owners.len();
        app.owners.retain(|o| *o != owner);
        if app.owners.len() == before {
            return Err(Failure::Graph(GraphError::not_found(&owner.to_string())));
        }
        Ok(applications::update(tx, &app)?)
    })
    .await?;
    Ok(no_content())
}
