//! The sign-in log and smart lockout counters.

use hale_directory::TenantId;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::{Row, StoreError, Tx, params};

/// One sign-in attempt, as Graph's `signIn` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInEvent {
    pub id: Uuid,
    pub tenant: TenantId,
    pub created_at: OffsetDateTime,
    pub app_id: Option<String>,
    pub app_display_name: Option<String>,
    pub user_id: Option<Uuid>,
    pub user_principal_name: Option<String>,
    pub ip_address: Option<String>,
    /// The grant or page: `client_credentials`, `password`, `device_code`, …
    pub client_app_used: String,
    pub resource: Option<String>,
    /// 0 for success, else the AADSTS code.
    pub error_code: i64,
    pub failure_reason: Option<String>,
}

const COLUMNS: &str = "id, tenant_id, created_at, app_id, app_display_name, user_id, user_principal_name, ip_address, client_app_used, resource, error_code, failure_reason";

/// Appends events (a batch, in one transaction).
pub fn insert(tx: &mut dyn Tx, events: &[SignInEvent]) -> Result<(), StoreError> {
    for e in events {
        tx.execute(
            &format!("INSERT INTO sign_in_events ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"),
            params![
                e.id,
                e.tenant.0,
                e.created_at,
                e.app_id.clone(),
                e.app_display_name.clone(),
                e.user_id,
                e.user_principal_name.clone(),
                e.ip_address.clone(),
                &e.client_app_used,
                e.resource.clone(),
                e.error_code,
                e.failure_reason.clone()
            ],
        )?;
    }
    Ok(())
}

fn from_row(row: &Row) -> Result<SignInEvent, StoreError> {
    Ok(SignInEvent {
        id: row.get(0)?,
        tenant: TenantId(row.get(1)?),
        created_at: row.get(2)?,
        app_id: row.get(3)?,
        app_display_name: row.get(4)?,
        user_id: row.get(5)?,
        user_principal_name: row.get(6)?,
        ip_address: row.get(7)?,
        client_app_used: row.get(8)?,
        resource: row.get(9)?,
        error_code: row.get(10)?,
        failure_reason: row.get(11)?,
    })
}

/// A tenant's most recent events, newest first, at most `limit`.
pub fn recent(
    tx: &mut dyn Tx,
    tenant: TenantId,
    limit: usize,
) -> Result<Vec<SignInEvent>, StoreError> {
    tx.query(
        &format!("SELECT {COLUMNS} FROM sign_in_events WHERE tenant_id = $1 ORDER BY created_at DESC, id LIMIT $2"),
        params![tenant.0, limit as i64],
    )?
    .iter()
    .map(from_row)
    .collect()
}

/// Failed attempts in a row that lock a user name.
pub const LOCKOUT_THRESHOLD: i64 = 10;
/// How long a lockout lasts.
pub const LOCKOUT_DURATION: Duration = Duration::seconds(60);
/// Failures older than this no longer count.
pub const FAILURE_WINDOW: Duration = Duration::hours(1);

/// Until when `upn` is locked, if it is.
pub fn locked_until(
    tx: &mut dyn Tx,
    tenant: TenantId,
    upn: &str,
    now: OffsetDateTime,
) -> Result<Option<OffsetDateTime>, StoreError> {
    let row = tx.query_opt(
        "SELECT locked_until FROM sign_in_lockouts WHERE tenant_id = $1 AND user_principal_name = $2",
        params![tenant.0, upn.to_lowercase()],
    )?;
    Ok(match row {
        Some(row) => row.get::<Option<OffsetDateTime>>(0)?.filter(|t| *t > now),
        None => None,
    })
}

/// Counts a failed password for `upn`; returns whether it is now locked.
pub fn record_failure(
    tx: &mut dyn Tx,
    tenant: TenantId,
    upn: &str,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let upn = upn.to_lowercase();
    let current = tx.query_opt(
        "SELECT failures, last_failure_at FROM sign_in_lockouts WHERE tenant_id = $1 AND user_principal_name = $2",
        params![tenant.0, &upn],
    )?;
    let failures = match current {
        Some(row) => {
            let (n, last): (i64, OffsetDateTime) = (row.get(0)?, row.get(1)?);
            if now - last > FAILURE_WINDOW {
                1
            } else {
                n + 1
            }
        }
        None => 1,
    };
    let locked = failures >= LOCKOUT_THRESHOLD;
    let until = locked.then_some(now + LOCKOUT_DURATION);
    // After a lockout the count starts again, so each further ten failures lock again.
    let stored = if locked { 0 } else { failures };
    tx.execute(
        "DELETE FROM sign_in_lockouts WHERE tenant_id = $1 AND user_principal_name = $2",
        params![tenant.0, &upn],
    )?;
    tx.execute(
        "INSERT INTO sign_in_lockouts (tenant_id, user_principal_name, failures, last_failure_at, locked_until) VALUES ($1, $2, $3, $4, $5)",
        params![tenant.0, &upn, stored, now, until],
    )?;
    Ok(locked)
}

/// Forgets the failures of `upn` after a successful sign-in.
pub fn clear_failures(tx: &mut dyn Tx, tenant: TenantId, upn: &str) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM sign_in_lockouts WHERE tenant_id = $1 AND user_principal_name = $2 AND locked_until IS NULL",
        params![tenant.0, upn.to_lowercase()],
    )
    .map(drop)
}
