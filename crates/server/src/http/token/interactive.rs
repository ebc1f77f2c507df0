//! What the interactive flows (device code, authorization code) share: checking
//! a user's password, and deciding and recording consent.

use hale_directory::{AppId, DirectoryRole, TenantId, User, first_party};
use hale_store::{StoreError, Tx, applications, principals, users};

use super::resource::{DelegatedRequest, Resource, record_consent};
use crate::http::AppState;

/// A user whose password checked out, with their directory roles.
pub(crate) struct Verified {
    pub user: User,
    pub roles: Vec<DirectoryRole>,
}

impl Verified {
    /// Whether the user may consent for the whole tenant.
    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| {
            matches!(
                r,
                DirectoryRole::GlobalAdministrator
                    | DirectoryRole::ApplicationAdministrator
                    | DirectoryRole::CloudApplicationAdministrator
            )
        })
    }
}

/// Why a sign-in failed, in words for the page.
pub(crate) const BAD_CREDENTIALS: &str = "Your account or password is incorrect.";
pub(crate) const DISABLED: &str = "Your account has been disabled. Contact your administrator.";

/// How a password attempt went, with smart lockout: ten failures in a row
/// lock the user name for a minute on every replica (AADSTS50053).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attempt {
    Right,
    Wrong,
    Locked,
}

pub(crate) const LOCKED: &str = "Your account is temporarily locked to prevent unauthorized use. Try again later. (AADSTS50053)";

/// Checks `password` against `hash` for `upn`, unless the name is locked;
/// counts failures and clears them on success. argon2id runs off the async
/// workers.
pub(crate) async fn password_attempt(
    state: &AppState,
    tenant: TenantId,
    upn: &str,
    hash: Option<hale_directory::PasswordHash>,
    password: String,
) -> Result<Attempt, StoreError> {
    use hale_store::sign_in_log;
    let name = upn.to_owned();
    let now = time::OffsetDateTime::now_utc();
    let locked = state
        .store
        .read(move |tx| sign_in_log::locked_until(tx, tenant, &name, now))
        .await?;
    if locked.is_some() {
        return Ok(Attempt::Locked);
    }
    let valid = tokio::task::spawn_blocking(move || hash.is_some_and(|h| h.verify(&password)))
        .await
        .unwrap_or(false);
    let name = upn.to_owned();
    if valid {
        state
            .store
            .write(move |tx| sign_in_log::clear_failures(tx, tenant, &name))
            .await?;
        Ok(Attempt::Right)
    } else {
        let locked = state
            .store
            .write(move |tx| sign_in_log::record_failure(tx, tenant, &name, now))
            .await?;
        if locked {
            tracing::warn!(tenant = %tenant, "a user name was locked after repeated failed sign-ins");
        }
        Ok(Attempt::Wrong)
    }
}

/// What stopped a sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Shown on the sign-in page.
    Message(String),
    /// The password is right but must be changed first
    /// (`forceChangePasswordNextSignIn`): show the change-password form.
    MustChangePassword,
}

impl From<&str> for Refusal {
    fn from(message: &str) -> Self {
        Refusal::Message(message.to_owned())
    }
}

/// A new password and its confirmation, from the change-password form.
pub(crate) struct NewPassword {
    pub password: String,
    pub confirmation: String,
}

/// Checks `username`/`password` in `tenant`; argon2id runs off the async
/// workers. A user who must change the password first gets
/// [`Refusal::MustChangePassword`] unless `new` carries an acceptable new
/// one, which then replaces the old (ending the user's other sessions).
pub(crate) async fn check_password(
    state: &AppState,
    tenant: TenantId,
    username: &str,
    password: String,
    new: Option<NewPassword>,
    sign_in: SignInContext,
) -> Result<Result<Verified, Refusal>, StoreError> {
    let outcome = check_password_inner(state, tenant, username, password, new).await?;
    let (user_id, code, reason) = match &outcome {
        Ok(v) => (Some(v.user.id.0), 0, None),
        Err(Refusal::MustChangePassword) => (
            None,
            50055,
            Some("The password must be changed.".to_owned()),
        ),
        Err(Refusal::Message(m)) if m == BAD_CREDENTIALS => (None, 50126, Some(m.clone())),
        Err(Refusal::Message(m)) if m == LOCKED => (None, 50053, Some(m.clone())),
        Err(Refusal::Message(m)) if m == DISABLED => (None, 50057, Some(m.clone())),
        Err(Refusal::Message(m)) => (None, 50126, Some(m.clone())),
    };
    state.sign_ins.record(hale_store::sign_in_log::SignInEvent {
        id: uuid::Uuid::new_v4(),
        tenant,
        created_at: time::OffsetDateTime::now_utc(),
        app_id: Some(sign_in.client.to_string()),
        app_display_name: None,
        user_id,
        user_principal_name: Some(username.to_owned()),
        ip_address: sign_in.ip,
        client_app_used: sign_in.flow.to_owned(),
        resource: None,
        error_code: code,
        failure_reason: reason,
    });
    Ok(outcome)
}

/// What the sign-in log records about an interactive sign-in.
pub(crate) struct SignInContext {
    pub client: AppId,
    /// `authorization_code` or `device_code`.
    pub flow: &'static str,
    pub ip: Option<String>,
}

async fn check_password_inner(
    state: &AppState,
    tenant: TenantId,
    username: &str,
    password: String,
    new: Option<NewPassword>,
) -> Result<Result<Verified, Refusal>, StoreError> {
    let upn = username.to_owned();
    let found = state
        .store
        .read(move |tx| {
            let Some(user) = users::by_upn(tx, tenant, &upn)? else {
                return Ok(None);
            };
            let roles = principals::roles_of(tx, tenant, user.id)?;
            Ok::<_, StoreError>(Some((user, roles)))
        })
        .await?;
    let Some((mut user, roles)) = found else {
        return Ok(Err(BAD_CREDENTIALS.into()));
    };
    match password_attempt(state, tenant, username, user.password.clone(), password).await? {
        Attempt::Right => {}
        Attempt::Wrong => return Ok(Err(BAD_CREDENTIALS.into())),
        Attempt::Locked => return Ok(Err(LOCKED.into())),
    }
    if !user.account_enabled {
        return Ok(Err(DISABLED.into()));
    }
    if user.profile.force_change_password_next_sign_in {
        let Some(new) = new else {
            return Ok(Err(Refusal::MustChangePassword));
        };
        if new.password != new.confirmation {
            return Ok(Err(Refusal::Message(
                "The new passwords don't match.".into(),
            )));
        }
        if let Err(e) = hale_directory::check_password_policy(&new.password) {
            return Ok(Err(Refusal::Message(e.to_string())));
        }
        let hashed = tokio::task::spawn_blocking(move || {
            hale_directory::PasswordHash::create(&new.password)
        })
        .await
        .map_err(|e| StoreError::Decode(e.to_string()))?
        .map_err(|e| StoreError::Decode(e.to_string()))?;
        user.password = Some(hashed);
        user.profile.force_change_password_next_sign_in = false;
        let updated = user.clone();
        state
            .store
            .write(move |tx| {
                users::update(tx, &updated)?;
                hale_store::sign_in::revoke_user(tx, updated.id)?;
                Ok::<_, StoreError>(())
            })
            .await?;
        tracing::info!(user = %user.id, "password changed at sign-in");
    }
    Ok(Ok(Verified { user, roles }))
}

/// The change-password fields, for a sign-in form that must show them.
pub(crate) fn change_password_fields(username: &str) -> String {
    format!(
        r#"<p>You need to update your password because this is the first time you are signing in, or because your password has expired.</p>
<input type="hidden" name="username" value="{}">
<label for="password">Current password</label><input type="password" id="password" name="password" autocomplete="current-password" required>
<label for="new_password">New password</label><input type="password" id="new_password" name="new_password" autocomplete="new-password" required>
<label for="confirm_password">Confirm password</label><input type="password" id="confirm_password" name="confirm_password" autocomplete="new-password" required>"#,
        crate::http::pages::escape(username)
    )
}

/// Where consent stands for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Consent {
    /// Everything asked is consented (now, if it was just recorded).
    Granted,
    /// The user must accept these scopes first.
    Needed(Vec<String>),
    /// Some scopes need an administrator, and the user is not one.
    NeedsAdmin,
    /// The resource does not expose these scopes.
    Unknown(Vec<String>),
    /// The client has no service principal in the tenant.
    NoServicePrincipal,
}

impl Consent {
    /// The refusal for the page, if consent cannot be had here.
    pub fn refusal(&self, resource: &Resource) -> Option<String> {
        match self {
            Consent::Granted | Consent::Needed(_) => None,
            Consent::NeedsAdmin => Some("This app needs permission to access resources in your organization that only an admin can grant. Ask an admin to grant permission to this app before you can use it. (AADSTS90094)".to_owned()),
            Consent::Unknown(scopes) => Some(format!(
                "The app asks for permissions that {} does not have: {}. (AADSTS65005)",
                resource.display_name,
                scopes.join(", ")
            )),
            Consent::NoServicePrincipal => Some(
                "The app is not set up in your organization: an administrator must add its service principal first. (AADSTS650052)".to_owned(),
            ),
        }
    }
}

/// Decides consent for `request` by `user` and, when `accept` is set (the user
/// pressed "Accept"), records what is missing: per user, or for the tenant
/// when admin-only scopes are involved and the user is an administrator.
pub(crate) fn decide_consent(
    tx: &mut dyn Tx,
    tenant: TenantId,
    client: AppId,
    resource: &Resource,
    request: &DelegatedRequest,
    verified: &Verified,
    accept: bool,
) -> Result<Consent, StoreError> {
    let user = verified.user.id;
    let client_sp = principals::by_app_id(tx, tenant, client)?.map(|sp| sp.id);
    let consented = resource.consented(tx, client, client_sp, user)?;
    let wanted: Vec<String> = if request.names.iter().any(|n| n == ".default") {
        required_scopes(tx, client, resource)?
    } else {
        match resource.known_scopes(&request.names) {
            Ok(known) => known,
            Err(unknown) => return Ok(Consent::Unknown(unknown)),
        }
    };
    let missing: Vec<String> = wanted
        .into_iter()
        .filter(|w| !consented.iter().any(|c| c.eq_ignore_ascii_case(w)))
        .collect();
    if missing.is_empty() {
        return Ok(Consent::Granted);
    }
    let needs_admin = missing.iter().any(|m| {
        resource
            .admin_scopes
            .iter()
            .any(|a| a.eq_ignore_ascii_case(m))
    });
    if needs_admin && !verified.is_admin() {
        return Ok(Consent::NeedsAdmin);
    }
    let Some(client_sp) = client_sp else {
        return Ok(Consent::NoServicePrincipal);
    };
    if !accept {
        return Ok(Consent::Needed(missing));
    }
    record_consent(tx, tenant, client_sp, resource, user, &missing, needs_admin)?;
    Ok(Consent::Granted)
}

/// The scopes a client's registration requests on `resource`
/// (`requiredResourceAccess`): what `.default` consent covers.
fn required_scopes(
    tx: &mut dyn Tx,
    client: AppId,
    resource: &Resource,
) -> Result<Vec<String>, StoreError> {
    let Some(app) = applications::by_app_id(tx, client)? else {
        return Ok(Vec::new());
    };
    let declared: Vec<(uuid::Uuid, String)> = match first_party::by_app_id(resource.app_id) {
        Some(fp) => fp
            .scopes
            .iter()
            .map(|p| (p.id, p.value.to_owned()))
            .collect(),
        None => applications::by_app_id(tx, resource.app_id)?
            .map(|api| {
                api.api
                    .oauth2_permission_scopes
                    .iter()
                    .map(|s| (s.id, s.value.clone()))
                    .collect()
            })
            .unwrap_or_default(),
    };
    Ok(app
        .required_resource_access
        .iter()
        .filter(|r| AppId(r.resource_app_id) == resource.app_id)
        .flat_map(|r| r.resource_access.iter())
        .filter(|a| a.kind == "Scope")
        .filter_map(|a| {
            declared
                .iter()
                .find(|(id, _)| *id == a.id)
                .map(|(_, v)| v.clone())
        })
        .collect())
}

/// The display name of a client application, for pages.
pub(crate) fn client_name(tx: &mut dyn Tx, client: AppId) -> Result<String, StoreError> {
    Ok(match first_party::by_app_id(client) {
        Some(fp) => fp.display_name.to_owned(),
        None => applications::by_app_id(tx, client)?
            .map(|a| a.display_name)
            .unwrap_or_else(|| client.to_string()),
    })
}
