//! `/v1.0/users`: list, get (by ID or user principal name), create, update,
//! delete, `memberOf` and `transitiveMemberOf`. Passwords go in through
//! `passwordProfile` and never come out.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use hale_directory::access;
use hale_directory::membership::{Member, MemberKind};
use hale_directory::{
    DirectoryError, ObjectId, PasswordHash, USER_DEFAULT_PROPERTIES, USER_PROFILE_PROPERTIES, User,
    UserProfile, check_password_policy, extension_short_name, validate_mail_nickname,
    validate_user_principal_name,
};
use hale_store::{StoreError, Tx, extension_properties, users};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::Failure;
use super::collection::{self, Listed, Resource};
use super::directory::{
    Depth, MEMBER_OF, MemberIds, UserKey, bool_prop, no_content, require, string_prop,
    strings_prop, unknown_property,
};
use super::{GraphError, context, json as respond};
use crate::http::AppState;
use crate::http::auth::Caller;

pub(super) const USERS: Resource = Resource {
    name: "User",
    type_name: "microsoft.graph.user",
    filterable: &[
        "id",
        "userPrincipalName",
        "displayName",
        "accountEnabled",
        "givenName",
        "surname",
        "mail",
        "mailNickname",
        "otherMails",
        "jobTitle",
        "department",
        "companyName",
        "employeeId",
        "officeLocation",
        "city",
        "state",
        "country",
        "usageLocation",
        "preferredLanguage",
        "businessPhones",
        "mobilePhone",
        "userType",
        "createdDateTime",
    ],
    sortable: &["displayName", "userPrincipalName"],
    selectable: &[
        "id",
        "userPrincipalName",
        "displayName",
        "accountEnabled",
        "createdDateTime",
        "userType",
        "passwordProfile",
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
        "onPremisesExtensionAttributes",
    ],
    directory_extensions: true,
};

/// Properties set through the user's own fields rather than its profile.
const CORE: &[&str] = &[
    "accountEnabled",
    "displayName",
    "userPrincipalName",
    "passwordProfile",
];
/// A profile property patched attribute by attribute rather than replaced.
const EXTENSION_ATTRIBUTES: &str = "onPremisesExtensionAttributes";
const READ_ONLY: &[&str] = &["id", "createdDateTime", "userType"];

fn not_found(key: &UserKey) -> GraphError {
    match key {
        UserKey::Id(id) => GraphError::not_found(&id.to_string()),
        UserKey::Upn(upn) => GraphError::not_found(upn),
    }
}

/// Finds the user `key` names in the caller's tenant.
pub(super) fn find(tx: &mut dyn Tx, caller: &Caller, key: &UserKey) -> Result<User, Failure> {
    let found = match key {
        UserKey::Id(id) => users::get(tx, caller.tenant_id, ObjectId(*id))?,
        UserKey::Upn(upn) => users::by_upn(tx, caller.tenant_id, upn)?,
    };
    found.ok_or_else(|| Failure::Graph(not_found(key)))
}

/// A user as a single-object answer: default properties or `$select`.
pub(super) fn entity(
    state: &AppState,
    user: &User,
    query: &[(String, String)],
) -> Result<Value, GraphError> {
    let select = collection::entity_select_extensible(query, USERS.selectable, USERS.type_name)?;
    let listed = Listed {
        full: user.to_graph(),
        default: Some(USER_DEFAULT_PROPERTIES),
    };
    let mut value = listed.shown(select.as_deref());
    value["@odata.context"] = json!(context(state, "users/$entity"));
    Ok(value)
}

pub(super) async fn list(
    state: &AppState,
    caller: &Caller,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Response, GraphError> {
    require(access::may_read_users(
        &caller.principal,
        &caller.permissions,
    ))?;
    let q = collection::parse(&USERS, query, headers)?;
    let tenant = caller.tenant_id;
    let all = state.store.read(move |tx| users::list(tx, tenant)).await?;
    let items = all
        .iter()
        .map(|u| Listed {
            full: u.to_graph(),
            default: Some(USER_DEFAULT_PROPERTIES),
        })
        .collect();
    collection::respond_page(state, &q, headers, query, items, "users", "users")
}

pub(super) async fn get(
    state: &AppState,
    caller: &Caller,
    key: UserKey,
    query: &[(String, String)],
) -> Result<Response, GraphError> {
    let own = matches!(&key, UserKey::Id(id) if ObjectId(*id) == caller.object_id);
    require(
        access::may_read_users(&caller.principal, &caller.permissions)
            || (own && access::may_read_self(&caller.principal, &caller.permissions)),
    )?;
    let c = caller.clone();
    let user = state
        .store
        .read(move |tx| find(tx, &c, &key))
        .await
        .map_err(GraphError::from)?;
    Ok(respond(StatusCode::OK, entity(state, &user, query)?))
}

/// Refuses properties that do not exist or cannot be set.
fn check_properties(body: &Map<String, Value>) -> Result<(), GraphError> {
    for name in body.keys() {
        if name == "@odata.type"
            || name == EXTENSION_ATTRIBUTES
            || extension_short_name(name).is_some()
            || CORE.contains(&name.as_str())
            || USER_PROFILE_PROPERTIES.contains(&name.as_str())
        {
            continue;
        }
        if READ_ONLY.contains(&name.as_str()) {
            return Err(GraphError::bad_request(format!(
                "Property '{name}' is read-only and cannot be set."
            )));
        }
        return Err(unknown_property(name));
    }
    Ok(())
}

fn required(name: &str) -> GraphError {
    GraphError::bad_request(format!(
        "Invalid value specified for property '{name}' of resource 'User'."
    ))
}

/// A `passwordProfile`: the new password (checked against the policy) and
/// whether it must be changed at next sign-in.
fn password_profile(body: &Map<String, Value>) -> Result<Option<(String, bool)>, GraphError> {
    let profile = match body.get("passwordProfile") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(required("passwordProfile")),
    };
    if let Some(other) = profile.keys().find(|k| {
        !matches!(
            k.as_str(),
            "password"
                | "forceChangePasswordNextSignIn"
                | "forceChangePasswordNextSignInWithMfa"
                | "@odata.type"
        )
    }) {
        return Err(unknown_property(&format!("passwordProfile.{other}")));
    }
    let password = string_prop(profile, "password")?.ok_or_else(|| required("passwordProfile"))?;
    check_password_policy(&password)?;
    let force = bool_prop(profile, "forceChangePasswordNextSignIn")?.unwrap_or(true);
    Ok(Some((password, force)))
}

/// `profile` with the body's profile properties merged in (string properties
/// replace, `null` clears; collections replace; extension attributes merge).
fn merged_profile(
    profile: &UserProfile,
    body: &Map<String, Value>,
) -> Result<UserProfile, GraphError> {
    let mut value = serde_json::to_value(profile).map_err(|_| GraphError::internal())?;
    for name in USER_PROFILE_PROPERTIES {
        if !body.contains_key(*name) {
            continue;
        }
        let new = if matches!(*name, "otherMails" | "businessPhones") {
            json!(strings_prop(body, name)?.unwrap_or_default())
        } else {
            json!(string_prop(body, name)?)
        };
        value[*name] = new;
    }
    let mut merged: UserProfile =
        serde_json::from_value(value).map_err(|_| GraphError::internal())?;
    // Only the attributes named change; `null` clears one (Graph's partial
    // update of this complex property).
    match body.get(EXTENSION_ATTRIBUTES) {
        None => {}
        Some(Value::Object(patch)) => {
            merged.on_premises_extension_attributes =
                profile.on_premises_extension_attributes.patched(patch)?;
        }
        Some(_) => {
            return Err(GraphError::bad_request(format!(
                "Invalid value specified for property '{EXTENSION_ATTRIBUTES}': it must be an object of extensionAttribute1 to extensionAttribute15."
            )));
        }
    }
    if let Some(nickname) = &merged.mail_nickname {
        validate_mail_nickname(nickname)?;
    }
    Ok(merged)
}

/// The most directory extension values one user may hold (Graph: 100 per
/// object, across all applications).
const MAX_EXTENSION_VALUES: usize = 100;

/// Sets the directory extension values the body names on `user`: each must
/// be an extension of the tenant that targets users, and the value of its
/// type (`null` clears it). Read in the write transaction, so an extension
/// deleted meanwhile cannot gain a value.
fn set_extensions(
    tx: &mut dyn Tx,
    user: &mut User,
    body: &Map<String, Value>,
) -> Result<(), Failure> {
    let named: Vec<(&String, &Value)> = body
        .iter()
        .filter(|(k, _)| extension_short_name(k).is_some())
        .collect();
    if named.is_empty() {
        return Ok(());
    }
    let registered = extension_properties::list(tx, user.tenant_id)?;
    for (name, value) in named {
        let property = registered
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name) && p.targets_users())
            .ok_or_else(|| Failure::Graph(unknown_property(name)))?;
        let extensions = &mut user.profile.extensions;
        extensions.retain(|k, _| !k.eq_ignore_ascii_case(&property.name));
        if !value.is_null() {
            let value = property.check_value(value)?;
            extensions.insert(property.name.clone(), value);
        }
    }
    if user.profile.extensions.len() > MAX_EXTENSION_VALUES {
        return Err(Failure::Graph(GraphError::bad_request(format!(
            "A user may hold at most {MAX_EXTENSION_VALUES} directory extension values."
        ))));
    }
    Ok(())
}

fn display_name(name: &str) -> Result<(), DirectoryError> {
    if name.trim().is_empty() || name.chars().count() > 256 {
        return Err(DirectoryError::InvalidProperty {
            property: "displayName".into(),
            why: "must be 1 to 256 characters".into(),
        });
    }
    Ok(())
}

fn duplicate_upn() -> GraphError {
    GraphError::bad_request(
        "Another object with the same value for property userPrincipalName already exists.",
    )
}

/// Hashes a password off the async workers (argon2id takes tens of ms).
async fn hash(password: String) -> Result<PasswordHash, GraphError> {
    tokio::task::spawn_blocking(move || PasswordHash::create(&password))
        .await
        .map_err(|_| GraphError::internal())?
        .map_err(GraphError::from)
}

/// Stores `user`, refusing a user principal name already in use.
fn store_user(tx: &mut dyn Tx, user: &User, new: bool) -> Result<(), Failure> {
    if let Some(existing) = users::by_upn(tx, user.tenant_id, &user.user_principal_name)?
        && existing.id != user.id
    {
        return Err(Failure::Graph(duplicate_upn()));
    }
    let result = if new {
        users::insert(tx, user)
    } else {
        users::update(tx, user).map(drop)
    };
    match result {
        Err(StoreError::Conflict(_)) => Err(Failure::Graph(duplicate_upn())),
        other => Ok(other?),
    }
}

pub(super) async fn create(
    state: &AppState,
    caller: &Caller,
    body: Map<String, Value>,
) -> Result<Response, GraphError> {
    require(access::may_write_users(
        &caller.principal,
        &caller.permissions,
    ))?;
    check_properties(&body)?;
    let account_enabled =
        bool_prop(&body, "accountEnabled")?.ok_or_else(|| required("accountEnabled"))?;
    let name = string_prop(&body, "displayName")?.ok_or_else(|| required("displayName"))?;
    display_name(&name)?;
    if string_prop(&body, "mailNickname")?.is_none() {
        return Err(required("mailNickname"));
    }
    let upn =
        string_prop(&body, "userPrincipalName")?.ok_or_else(|| required("userPrincipalName"))?;
    let upn = validate_user_principal_name(&upn, &caller.tenant_domain)?;
    let (password, force) = password_profile(&body)?.ok_or_else(|| required("passwordProfile"))?;
    let mut profile = merged_profile(&UserProfile::default(), &body)?;
    profile.force_change_password_next_sign_in = force;
    let user = User {
        id: ObjectId::new(),
        tenant_id: caller.tenant_id,
        user_principal_name: upn,
        display_name: name,
        password: Some(hash(password).await?),
        account_enabled,
        created_at: OffsetDateTime::now_utc(),
        profile,
    };
    let mut stored = user.clone();
    let user = state
        .store
        .write(move |tx| {
            set_extensions(tx, &mut stored, &body)?;
            store_user(tx, &stored, true)?;
            Ok::<_, Failure>(stored)
        })
        .await
        .map_err(GraphError::from)?;
    tracing::info!(user = %user.id, by = %caller.object_id, "user created");
    Ok(respond(StatusCode::CREATED, entity(state, &user, &[])?))
}

pub(super) async fn update(
    state: &AppState,
    caller: &Caller,
    key: UserKey,
    body: Map<String, Value>,
) -> Result<Response, GraphError> {
    require(access::may_write_users(
        &caller.principal,
        &caller.permissions,
    ))?;
    check_properties(&body)?;
    let account_enabled = bool_prop(&body, "accountEnabled")?;
    if body.get("accountEnabled") == Some(&Value::Null) {
        return Err(required("accountEnabled"));
    }
    let name = match body.get("displayName") {
        None => None,
        Some(_) => Some(string_prop(&body, "displayName")?.ok_or_else(|| required("displayName"))?),
    };
    if let Some(name) = &name {
        display_name(name)?;
    }
    let upn = match body.get("userPrincipalName") {
        None => None,
        Some(_) => {
            let upn = string_prop(&body, "userPrincipalName")?
                .ok_or_else(|| required("userPrincipalName"))?;
            Some(validate_user_principal_name(&upn, &caller.tenant_domain)?)
        }
    };
    if body.get("mailNickname") == Some(&Value::Null) {
        return Err(required("mailNickname"));
    }
    let password = match password_profile(&body)? {
        Some((password, force)) => Some((hash(password).await?, force)),
        None => None,
    };
    let c = caller.clone();
    state
        .store
        .write(move |tx| {
            let mut user = find(tx, &c, &key)?;
            let force = user.profile.force_change_password_next_sign_in;
            user.profile = merged_profile(&user.profile, &body)?;
            user.profile.force_change_password_next_sign_in = force;
            set_extensions(tx, &mut user, &body)?;
            if let Some(enabled) = account_enabled {
                user.account_enabled = enabled;
            }
            if let Some(name) = name {
                user.display_name = name;
            }
            if let Some(upn) = upn {
                user.user_principal_name = upn;
            }
            let revoke = password.is_some() || !user.account_enabled;
            if let Some((hash, force)) = password {
                user.password = Some(hash);
                user.profile.force_change_password_next_sign_in = force;
            }
            store_user(tx, &user, false)?;
            // A new password or a disabled account ends every session and
            // refresh token, on every replica, at once.
            if revoke {
                hale_store::sign_in::revoke_user(tx, user.id)?;
            }
            Ok::<_, Failure>(())
        })
        .await
        .map_err(GraphError::from)?;
    Ok(no_content())
}

pub(super) async fn delete(
    state: &AppState,
    caller: &Caller,
    key: UserKey,
) -> Result<Response, GraphError> {
    require(access::may_write_users(
        &caller.principal,
        &caller.permissions,
    ))?;
    let c = caller.clone();
    state
        .store
        .write(move |tx| {
            let user = find(tx, &c, &key)?;
            users::delete(tx, user.tenant_id, user.id)?;
            hale_store::sign_in::revoke_user(tx, user.id)?;
            hale_store::grants::forget_object(tx, user.id)?;
            Ok::<_, Failure>(())
        })
        .await
        .map_err(GraphError::from)?;
    Ok(no_content())
}

/// `users/{key}/revokeSignInSessions`: ends the user's sessions and refresh
/// tokens (Graph answers `{"value": true}`).
pub(super) async fn revoke_sign_in_sessions(
    state: &AppState,
    caller: &Caller,
    key: UserKey,
) -> Result<Response, GraphError> {
    require(access::may_write_users(
        &caller.principal,
        &caller.permissions,
    ))?;
    let c = caller.clone();
    let revoked = state
        .store
        .write(move |tx| {
            let user = find(tx, &c, &key)?;
            Ok::<_, Failure>(hale_store::sign_in::revoke_user(tx, user.id)?)
        })
        .await
        .map_err(GraphError::from)?;
    tracing::info!(revoked, by = %caller.object_id, "sign-in sessions revoked");
    Ok(super::json(
        axum::http::StatusCode::OK,
        serde_json::json!({
            "@odata.context": super::context(state, "Edm.Boolean"),
            "value": true,
        }),
    ))
}

/// `POST users/{key}/getMemberGroups` and `…/getMemberObjects`: the ids of
/// the groups the user is in, directly or through nested groups (and of its
/// directory roles, for `getMemberObjects`), as an application whose token
/// carries a groups overage claim asks for them. `securityEnabledOnly`
/// (required) keeps security groups only. Who may list the user's
/// `memberOf` may call them.
pub(super) async fn member_ids(
    state: &AppState,
    caller: &Caller,
    key: UserKey,
    ids: MemberIds,
    body: Map<String, Value>,
) -> Result<Response, GraphError> {
    require_memberships(caller, &key)?;
    if let Some(other) = body.keys().find(|k| k.as_str() != "securityEnabledOnly") {
        return Err(unknown_property(other));
    }
    let security_only = bool_prop(&body, "securityEnabledOnly")?.ok_or_else(|| {
        GraphError::bad_request("The parameter 'securityEnabledOnly' is required.")
    })?;
    let listed = memberships(state, caller, key, Depth::Transitive).await?;
    let value: Vec<&Value> = listed
        .iter()
        .filter(|l| {
            let group = l.full["@odata.type"] == "#microsoft.graph.group";
            if security_only {
                group && l.full["securityEnabled"] == true
            } else {
                group || ids == MemberIds::Objects
            }
        })
        .map(|l| &l.full["id"])
        .collect();
    Ok(respond(
        StatusCode::OK,
        json!({
            "@odata.context": context(state, "Collection(Edm.String)"),
            "value": value,
        }),
    ))
}

/// Who may see the user `key`'s memberships: a caller who may read groups,
/// or the user itself.
fn require_memberships(caller: &Caller, key: &UserKey) -> Result<(), GraphError> {
    let own = matches!(key, UserKey::Id(id) if ObjectId(*id) == caller.object_id);
    require(
        access::may_read_groups(&caller.principal, &caller.permissions)
            || (own && access::may_read_self(&caller.principal, &caller.permissions)),
    )
}

/// The groups and directory roles the user `key` belongs to.
async fn memberships(
    state: &AppState,
    caller: &Caller,
    key: UserKey,
    depth: Depth,
) -> Result<Vec<Listed>, GraphError> {
    let c = caller.clone();
    state
        .store
        .read(move |tx| {
            let user = find(tx, &c, &key)?;
            let member = Member {
                id: user.id,
                kind: MemberKind::User,
            };
            Ok::<_, Failure>(super::directory::member_of(tx, c.tenant_id, member, depth)?)
        })
        .await
        .map_err(GraphError::from)
}

/// `users/{key}/memberOf` and `transitiveMemberOf`: the groups and directory
/// roles the user belongs to.
pub(super) async fn member_of(
    state: &AppState,
    caller: &Caller,
    key: UserKey,
    depth: Depth,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Response, GraphError> {
    require_memberships(caller, &key)?;
    let q = collection::parse(&MEMBER_OF, query, headers)?;
    let path_key = match &key {
        UserKey::Id(id) => id.to_string(),
        UserKey::Upn(upn) => upn.clone(),
    };
    let items = memberships(state, caller, key, depth).await?;
    let nav = match depth {
        Depth::Direct => "memberOf",
        Depth::Transitive => "transitiveMemberOf",
    };
    collection::respond_page(
        state,
        &q,
        headers,
        query,
        items,
        "directoryObjects",
        &format!("users/{path_key}/{nav}"),
    )
}
