//! The secrets of interactive sign-in, each stored only as its keyed digest:
//! browser sessions, refresh tokens, authorization codes and device codes.

use hale_directory::{AppId, ObjectId, TenantId};
use time::OffsetDateTime;

use crate::{Row, StoreError, Tx, params};

/// Who signed in, when and how: what every sign-in secret carries forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authentication {
    pub tenant: TenantId,
    pub user: ObjectId,
    pub authenticated_at: OffsetDateTime,
    /// `amr` values, space-separated (e.g. `pwd`).
    pub methods: String,
}

/// A browser session (the SSO cookie).
pub fn insert_session(
    tx: &mut dyn Tx,
    digest: &[u8],
    auth: &Authentication,
    expires_at: OffsetDateTime,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO sign_in_sessions (digest, tenant_id, user_id, authenticated_at, methods, expires_at, revoked)
         VALUES ($1, $2, $3, $4, $5, $6, 0)",
        params![digest, auth.tenant.0, auth.user.0, auth.authenticated_at, &auth.methods, expires_at],
    )
    .map(drop)
}

/// The live session with this digest.
pub fn session(
    tx: &mut dyn Tx,
    digest: &[u8],
    now: OffsetDateTime,
) -> Result<Option<Authentication>, StoreError> {
    tx.query_opt(
        "SELECT tenant_id, user_id, authenticated_at, methods FROM sign_in_sessions
         WHERE digest = $1 AND revoked = 0 AND expires_at > $2",
        params![digest, now],
    )?
    .as_ref()
    .map(authentication_from_row)
    .transpose()
}

/// Ends a session (sign-out).
pub fn end_session(tx: &mut dyn Tx, digest: &[u8]) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE sign_in_sessions SET revoked = 1 WHERE digest = $1",
        params![digest],
    )
    .map(drop)
}

fn authentication_from_row(row: &Row) -> Result<Authentication, StoreError> {
    Ok(Authentication {
        tenant: TenantId(row.get(0)?),
        user: ObjectId(row.get(1)?),
        authenticated_at: row.get(2)?,
        methods: row.get(3)?,
    })
}

/// A stored refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub auth: Authentication,
    pub client: AppId,
    pub last_used_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// Records a new refresh token.
pub fn insert_refresh_token(
    tx: &mut dyn Tx,
    digest: &[u8],
    client: AppId,
    auth: &Authentication,
    now: OffsetDateTime,
    expires_at: OffsetDateTime,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO refresh_tokens (digest, tenant_id, user_id, client_app_id, authenticated_at, methods, created_at, last_used_at, expires_at, revoked)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, 0)",
        params![digest, auth.tenant.0, auth.user.0, client.0, auth.authenticated_at, &auth.methods, now, expires_at],
    )
    .map(drop)
}

/// The unrevoked refresh token with this digest (expired ones included: the
/// caller tells "expired" from "unknown").
pub fn refresh_token(tx: &mut dyn Tx, digest: &[u8]) -> Result<Option<RefreshToken>, StoreError> {
    tx.query_opt(
        "SELECT tenant_id, user_id, authenticated_at, methods, client_app_id, last_used_at, expires_at
         FROM refresh_tokens WHERE digest = $1 AND revoked = 0",
        params![digest],
    )?
    .map(|row| {
        Ok(RefreshToken {
            auth: authentication_from_row(&row)?,
            client: AppId(row.get(4)?),
            last_used_at: row.get(5)?,
            expires_at: row.get(6)?,
        })
    })
    .transpose()
}

/// Revokes one refresh token (strict rotation: the used token dies).
pub fn revoke_refresh_token(tx: &mut dyn Tx, digest: &[u8]) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE refresh_tokens SET revoked = 1 WHERE digest = $1",
        params![digest],
    )
    .map(drop)
}

/// Revokes every refresh token and session of a user (password change,
/// `revokeSignInSessions`, account disabled). Returns how many died.
pub fn revoke_user(tx: &mut dyn Tx, user: ObjectId) -> Result<u64, StoreError> {
    let tokens = tx.execute(
        "UPDATE refresh_tokens SET revoked = 1 WHERE user_id = $1 AND revoked = 0",
        params![user.0],
    )?;
    let sessions = tx.execute(
        "UPDATE sign_in_sessions SET revoked = 1 WHERE user_id = $1 AND revoked = 0",
        params![user.0],
    )?;
    Ok(tokens + sessions)
}

/// An authorization code as issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    pub auth: Authentication,
    pub client: AppId,
    pub redirect_uri: String,
    pub scope: String,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub nonce: Option<String>,
    pub expires_at: OffsetDateTime,
}

/// Records an issued authorization code.
pub fn insert_code(
    tx: &mut dyn Tx,
    digest: &[u8],
    code: &AuthorizationCode,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO authorization_codes (digest, tenant_id, client_app_id, user_id, redirect_uri, scope, code_challenge, code_challenge_method, nonce, authenticated_at, methods, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        params![
            digest,
            code.auth.tenant.0,
            code.client.0,
            code.auth.user.0,
            &code.redirect_uri,
            &code.scope,
            code.code_challenge.clone(),
            code.code_challenge_method.clone(),
            code.nonce.clone(),
            code.auth.authenticated_at,
            &code.auth.methods,
            code.expires_at
        ],
    )
    .map(drop)
}

/// What redeeming a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption {
    Unknown,
    AlreadyRedeemed,
    Redeemed(Box<AuthorizationCode>),
}

const CODE_COLUMNS: &str =
    "tenant_id, user_id, authenticated_at, methods, client_app_id, redirect_uri, scope,
                code_challenge, code_challenge_method, nonce, expires_at, redeemed_at";

fn code_from_row(row: &Row) -> Result<AuthorizationCode, StoreError> {
    Ok(AuthorizationCode {
        auth: authentication_from_row(row)?,
        client: AppId(row.get(4)?),
        redirect_uri: row.get(5)?,
        scope: row.get(6)?,
        code_challenge: row.get(7)?,
        code_challenge_method: row.get(8)?,
        nonce: row.get(9)?,
        expires_at: row.get(10)?,
    })
}

/// Looks a code up without redeeming it (to authenticate the client it was
/// issued to before spending it): `Unknown`, `AlreadyRedeemed`, or the code
/// as `Redeemed`, though it is still unspent.
pub fn peek_code(tx: &mut dyn Tx, digest: &[u8]) -> Result<Redemption, StoreError> {
    let Some(row) = tx.query_opt(
        &format!("SELECT {CODE_COLUMNS} FROM authorization_codes WHERE digest = $1"),
        params![digest],
    )?
    else {
        return Ok(Redemption::Unknown);
    };
    if row.get::<Option<OffsetDateTime>>(11)?.is_some() {
        return Ok(Redemption::AlreadyRedeemed);
    }
    Ok(Redemption::Redeemed(Box::new(code_from_row(&row)?)))
}

/// Redeems a code: marks it used, once. A second redemption is refused.
pub fn redeem_code(
    tx: &mut dyn Tx,
    digest: &[u8],
    now: OffsetDateTime,
) -> Result<Redemption, StoreError> {
    let Some(row) = tx.query_opt(
        &format!("SELECT {CODE_COLUMNS} FROM authorization_codes WHERE digest = $1"),
        params![digest],
    )?
    else {
        return Ok(Redemption::Unknown);
    };
    if row.get::<Option<OffsetDateTime>>(11)?.is_some() {
        return Ok(Redemption::AlreadyRedeemed);
    }
    // Conditional, so that of two concurrent redemptions only one succeeds.
    let claimed = tx.execute(
        "UPDATE authorization_codes SET redeemed_at = $1 WHERE digest = $2 AND redeemed_at IS NULL",
        params![now, digest],
    )?;
    if claimed == 0 {
        return Ok(Redemption::AlreadyRedeemed);
    }
    Ok(Redemption::Redeemed(Box::new(code_from_row(&row)?)))
}

/// Where a device authorization stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStatus {
    Pending,
    Approved,
    Declined,
    Redeemed,
}

impl DeviceStatus {
    fn text(self) -> &'static str {
        match self {
            DeviceStatus::Pending => "pending",
            DeviceStatus::Approved => "approved",
            DeviceStatus::Declined => "declined",
            DeviceStatus::Redeemed => "redeemed",
        }
    }

    fn parse(text: &str) -> Result<DeviceStatus, StoreError> {
        Ok(match text {
            "pending" => DeviceStatus::Pending,
            "approved" => DeviceStatus::Approved,
            "declined" => DeviceStatus::Declined,
            "redeemed" => DeviceStatus::Redeemed,
            other => return Err(StoreError::Decode(format!("device status {other:?}"))),
        })
    }
}

/// A device authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCode {
    pub user_code: String,
    /// The tenant the request was made to; `None` for `common`/`organizations`.
    pub tenant: Option<TenantId>,
    pub client: AppId,
    pub scope: String,
    pub status: DeviceStatus,
    /// Set once a user approved it.
    pub auth: Option<Authentication>,
    pub expires_at: OffsetDateTime,
}

/// Records a new device authorization request.
pub fn insert_device_code(
    tx: &mut dyn Tx,
    digest: &[u8],
    d: &DeviceCode,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO device_codes (digest, user_code, tenant_id, client_app_id, scope, status, expires_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        params![digest, &d.user_code, d.tenant.map(|t| t.0), d.client.0, &d.scope, d.status.text(), d.expires_at, now],
    )
    .map(drop)
}

const DEVICE_COLUMNS: &str =
    "user_code, tenant_id, client_app_id, scope, status, user_id, authenticated_at, expires_at";

fn device_from_row(row: &Row) -> Result<DeviceCode, StoreError> {
    let tenant: Option<uuid::Uuid> = row.get(1)?;
    let user: Option<uuid::Uuid> = row.get(5)?;
    let at: Option<OffsetDateTime> = row.get(6)?;
    let auth = match (tenant, user, at) {
        (Some(t), Some(u), Some(at)) => Some(Authentication {
            tenant: TenantId(t),
            user: ObjectId(u),
            authenticated_at: at,
            methods: "pwd".into(),
        }),
        _ => None,
    };
    Ok(DeviceCode {
        user_code: row.get(0)?,
        tenant: tenant.map(TenantId),
        client: AppId(row.get(2)?),
        scope: row.get(3)?,
        status: DeviceStatus::parse(&row.get::<String>(4)?)?,
        auth,
        expires_at: row.get(7)?,
    })
}

/// A device request by its device code's digest (what the device polls with).
pub fn device_code(tx: &mut dyn Tx, digest: &[u8]) -> Result<Option<DeviceCode>, StoreError> {
    tx.query_opt(
        &format!("SELECT {DEVICE_COLUMNS} FROM device_codes WHERE digest = $1"),
        params![digest],
    )?
    .as_ref()
    .map(device_from_row)
    .transpose()
}

/// A device request by the code the user types.
pub fn device_code_by_user_code(
    tx: &mut dyn Tx,
    user_code: &str,
) -> Result<Option<DeviceCode>, StoreError> {
    tx.query_opt(
        &format!("SELECT {DEVICE_COLUMNS} FROM device_codes WHERE user_code = $1"),
        params![user_code],
    )?
    .as_ref()
    .map(device_from_row)
    .transpose()
}

/// Records the user's answer to a pending device request. Returns false if it
/// was no longer pending.
pub fn answer_device_code(
    tx: &mut dyn Tx,
    user_code: &str,
    approved_by: Option<&Authentication>,
) -> Result<bool, StoreError> {
    let changed = match approved_by {
        Some(auth) => tx.execute(
            "UPDATE device_codes SET status = 'approved', tenant_id = $1, user_id = $2, authenticated_at = $3
             WHERE user_code = $4 AND status = 'pending'",
            params![auth.tenant.0, auth.user.0, auth.authenticated_at, user_code],
        )?,
        None => tx.execute(
            "UPDATE device_codes SET status = 'declined' WHERE user_code = $1 AND status = 'pending'",
            params![user_code],
        )?,
    };
    Ok(changed > 0)
}

/// Marks an approved device request redeemed; false if it was not approved
/// (a concurrent poll got there first).
pub fn redeem_device_code(tx: &mut dyn Tx, digest: &[u8]) -> Result<bool, StoreError> {
    Ok(tx.execute(
        "UPDATE device_codes SET status = 'redeemed' WHERE digest = $1 AND status = 'approved'",
        params![digest],
    )? > 0)
}

/// Deletes sign-in secrets that expired before `cutoff`.
pub fn purge_expired(tx: &mut dyn Tx, cutoff: OffsetDateTime) -> Result<u64, StoreError> {
    let mut n = 0;
    for table in [
        "sign_in_sessions",
        "refresh_tokens",
        "authorization_codes",
        "device_codes",
    ] {
        n += tx.execute(
            &format!("DELETE FROM {table} WHERE expires_at < $1"),
            params![cutoff],
        )?;
    }
    Ok(n)
}
