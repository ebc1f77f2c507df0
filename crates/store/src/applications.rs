//! App registrations, their App ID URIs and their client secrets' digests.

use hale_directory::{AppId, Application, ObjectId, TenantId};
use hale_odata::fold_case;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Dialect, Row, StoreError, Tx, Value, params};

/// A stored client secret digest, for verifying a presented secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretDigest {
    pub key_id: Uuid,
    pub digest: Vec<u8>,
    pub end_date_time: OffsetDateTime,
}

const COLUMNS: &str = "id, tenant_id, body";

fn from_row(row: &Row) -> Result<Application, StoreError> {
    let body: String = row.get(2)?;
    let mut app: Application = serde_json::from_str(&body)
        .map_err(|e| StoreError::Decode(format!("application body: {e}")))?;
    app.id = ObjectId(row.get(0)?);
    app.tenant_id = TenantId(row.get(1)?);
    Ok(app)
}

fn body(app: &Application) -> Result<String, StoreError> {
    serde_json::to_string(app).map_err(|e| StoreError::Decode(e.to_string()))
}

/// The application holding App ID URI `uri` in `tenant` (ignoring case).
pub fn identifier_uri_owner(
    tx: &mut dyn Tx,
    tenant: TenantId,
    uri: &str,
) -> Result<Option<ObjectId>, StoreError> {
    tx.query_opt(
        "SELECT application_id FROM application_identifier_uris WHERE tenant_id = $1 AND uri = $2",
        params![tenant.0, uri.to_lowercase()],
    )?
    .map(|row| row.get(0).map(ObjectId))
    .transpose()
}

/// Adds an application with its App ID URIs and the digests of its new secrets.
pub fn insert(tx: &mut dyn Tx, app: &Application) -> Result<(), StoreError> {
    let now = OffsetDateTime::now_utc();
    tx.execute(
        "INSERT INTO applications (id, tenant_id, app_id, display_name, body, created_at, updated_at, display_name_folded)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        params![app.id.0, app.tenant_id.0, app.app_id.0, &app.display_name, body(app)?, app.created_date_time, now, fold_case(&app.display_name)],
    )?;
    write_children(tx, app)
}

/// Replaces an application's stored state. Secrets no longer listed lose their
/// digests; secrets with a digest in hand (new ones) gain one.
pub fn update(tx: &mut dyn Tx, app: &Application) -> Result<(), StoreError> {
    let changed = tx.execute(
        "UPDATE applications SET display_name = $1, body = $2, updated_at = $3, display_name_folded = $6 WHERE id = $4 AND tenant_id = $5",
        params![&app.display_name, body(app)?, OffsetDateTime::now_utc(), app.id.0, app.tenant_id.0, fold_case(&app.display_name)],
    )?;
    if changed == 0 {
        return Err(StoreError::Decode(format!(
            "application {} does not exist",
            app.id
        )));
    }
    tx.execute(
        "DELETE FROM application_identifier_uris WHERE application_id = $1",
        params![app.id.0],
    )?;
    let kept: Vec<String> = app
        .password_credentials
        .iter()
        .map(|c| c.key_id.to_string())
        .collect();
    for row in tx.query(
        "SELECT key_id FROM application_secrets WHERE application_id = $1",
        params![app.id.0],
    )? {
        let key_id: String = row.get(0)?;
        if !kept.contains(&key_id) {
            tx.execute(
                "DELETE FROM application_secrets WHERE application_id = $1 AND key_id = $2",
                params![app.id.0, key_id],
            )?;
        }
    }
    write_children(tx, app)
}

fn write_children(tx: &mut dyn Tx, app: &Application) -> Result<(), StoreError> {
    for uri in &app.identifier_uris {
        tx.execute(
            "INSERT INTO application_identifier_uris (tenant_id, uri, application_id) VALUES ($1, $2, $3)",
            params![app.tenant_id.0, uri.to_lowercase(), app.id.0],
        )?;
    }
    for credential in app
        .password_credentials
        .iter()
        .filter(|c| !c.digest.is_empty())
    {
        tx.execute(
            "INSERT INTO application_secrets (application_id, key_id, digest, end_date_time) VALUES ($1, $2, $3, $4)",
            params![app.id.0, credential.key_id, credential.digest.as_slice(), credential.end_date_time],
        )?;
    }
    Ok(())
}

/// An application by object ID, within a tenant.
pub fn get(
    tx: &mut dyn Tx,
    tenant: TenantId,
    id: ObjectId,
) -> Result<Option<Application>, StoreError> {
    tx.query_opt(
        &format!("SELECT {COLUMNS} FROM applications WHERE tenant_id = $1 AND id = $2"),
        params![tenant.0, id.0],
    )?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// An application by client ID, in any tenant.
pub fn by_app_id(tx: &mut dyn Tx, app_id: AppId) -> Result<Option<Application>, StoreError> {
    tx.query_opt(
        &format!("SELECT {COLUMNS} FROM applications WHERE app_id = $1"),
        params![app_id.0],
    )?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// A tenant's applications in creation order, starting after `after` (a
/// paging cursor: the last object ID of the previous page), at most `limit`.
pub fn list(
    tx: &mut dyn Tx,
    tenant: TenantId,
    after: Option<ObjectId>,
    limit: usize,
) -> Result<Vec<Application>, StoreError> {
    let rows = match after {
        Some(after) => tx.query(
            &format!(
                "SELECT {COLUMNS} FROM applications WHERE tenant_id = $1 AND
                   (created_at, id) > (SELECT created_at, id FROM applications WHERE id = $2)
                 ORDER BY created_at, id LIMIT $3"
            ),
            params![tenant.0, after.0, limit as i64],
        )?,
        None => tx.query(
            &format!("SELECT {COLUMNS} FROM applications WHERE tenant_id = $1 ORDER BY created_at, id LIMIT $2"),
            params![tenant.0, limit as i64],
        )?,
    };
    rows.iter().map(from_row).collect()
}

/// Removes an application (its URIs and secret digests go with it). Returns
/// whether it existed.
pub fn delete(tx: &mut dyn Tx, tenant: TenantId, id: ObjectId) -> Result<bool, StoreError> {
    Ok(tx.execute(
        "DELETE FROM applications WHERE tenant_id = $1 AND id = $2",
        params![tenant.0, id.0],
    )? > 0)
}

/// The secret digests of an application, for checking a presented secret.
pub fn secret_digests(tx: &mut dyn Tx, id: ObjectId) -> Result<Vec<SecretDigest>, StoreError> {
    tx.query(
        "SELECT key_id, digest, end_date_time FROM application_secrets WHERE application_id = $1 ORDER BY key_id",
        params![id.0],
    )?
    .iter()
    .map(|row| {
        Ok(SecretDigest {
            key_id: row.get(0)?,
            digest: row.get(1)?,
            end_date_time: row.get(2)?,
        })
    })
    .collect()
}

/// Which applications a listing asks for, in terms the database can answer
/// (built by the Graph edge from the `$filter` clauses it can push down).
/// Display names and URIs are given case-folded (`hale_odata::fold_case`,
/// lowercase for URIs), as they are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppFilter {
    All,
    Nothing,
    /// `displayName eq` one of these (folded).
    DisplayNameIn(Vec<String>),
    /// `startswith(displayName, prefix)` (folded).
    DisplayNameStartsWith(String),
    AppIdIn(Vec<Uuid>),
    IdIn(Vec<Uuid>),
    /// `identifierUris/any(x: x eq uri)` (lowercase).
    IdentifierUri(String),
    And(Vec<AppFilter>),
    Or(Vec<AppFilter>),
}

impl AppFilter {
    fn sql(&self, params: &mut Vec<Value>, dialect: Dialect) -> String {
        let bind = |v: Value, params: &mut Vec<Value>| {
            params.push(v);
            format!("${}", params.len())
        };
        let list = |values: Vec<Value>, params: &mut Vec<Value>| -> Option<String> {
            (!values.is_empty()).then(|| {
                values
                    .into_iter()
                    .map(|v| bind(v, params))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
        };
        match self {
            AppFilter::All => "1 = 1".into(),
            AppFilter::Nothing => "1 = 0".into(),
            // Rows written before the folded column existed are always
            // candidates; the caller compares exactly after reading.
            AppFilter::DisplayNameIn(names) => {
                match list(
                    names.iter().map(|n| Value::from(n.as_str())).collect(),
                    params,
                ) {
                    Some(l) => {
                        format!("(display_name_folded IS NULL OR display_name_folded IN ({l}))")
                    }
                    None => "1 = 0".into(),
                }
            }
            AppFilter::DisplayNameStartsWith(prefix) => {
                let n = prefix.chars().count();
                let p = bind(Value::from(prefix.as_str()), params);
                match dialect {
                    // SQLite compares text byte-wise (BINARY), so a range
                    // [prefix, prefix + U+10FFFF) holds exactly the names that
                    // start with it, and lets the index answer; `substr` keeps
                    // the test exact.
                    // Written as two index searches joined by UNION ALL: an OR
                    // with `IS NULL` would make SQLite scan the tenant.
                    Dialect::Sqlite => {
                        let upper = bind(Value::from(format!("{prefix}\u{10FFFF}")), params);
                        format!(
                            "id IN (SELECT id FROM applications WHERE tenant_id = $1 AND display_name_folded IS NULL
                                    UNION ALL
                                    SELECT id FROM applications WHERE tenant_id = $1 AND display_name_folded >= {p}
                                      AND display_name_folded < {upper} AND substr(display_name_folded, 1, {n}) = {p})"
                        )
                    }
                    // PostgreSQL orders by the database's collation, where a
                    // range is not a prefix test: compare the prefix itself.
                    Dialect::Postgres => format!(
                        "(display_name_folded IS NULL OR substr(display_name_folded, 1, {n}) = {p})"
                    ),
                }
            }
            AppFilter::AppIdIn(ids) | AppFilter::IdIn(ids) => {
                let column = if matches!(self, AppFilter::AppIdIn(_)) {
                    "app_id"
                } else {
                    "id"
                };
                match list(ids.iter().map(|u| Value::from(*u)).collect(), params) {
                    Some(l) => format!("{column} IN ({l})"),
                    None => "1 = 0".into(),
                }
            }
            AppFilter::IdentifierUri(uri) => {
                let p = bind(Value::from(uri.as_str()), params);
                format!(
                    "id IN (SELECT application_id FROM application_identifier_uris WHERE uri = {p})"
                )
            }
            AppFilter::And(parts) | AppFilter::Or(parts) => {
                if parts.is_empty() {
                    return if matches!(self, AppFilter::And(_)) {
                        "1 = 1"
                    } else {
                        "1 = 0"
                    }
                    .into();
                }
                let op = if matches!(self, AppFilter::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                let inner: Vec<String> = parts.iter().map(|p| p.sql(params, dialect)).collect();
                format!("({})", inner.join(op))
            }
        }
    }
}

/// A tenant's applications matching `filter`, in creation order, starting
/// after the application `after` (keyset paging), at most `limit`.
pub fn list_where(
    tx: &mut dyn Tx,
    tenant: TenantId,
    filter: &AppFilter,
    after: Option<ObjectId>,
    limit: usize,
) -> Result<Vec<Application>, StoreError> {
    let mut params: Vec<Value> = vec![Value::from(tenant.0)];
    let condition = filter.sql(&mut params, tx.dialect());
    let keyset = match after {
        Some(after) => {
            params.push(Value::from(after.0));
            format!(
                " AND (created_at, id) > (SELECT created_at, id FROM applications WHERE id = ${})",
                params.len()
            )
        }
        None => String::new(),
    };
    params.push(Value::from(limit.min(i64::MAX as usize) as i64));
    // On SQLite `+tenant_id` keeps the planner from scanning the tenant's
    // index for the outer query when the condition names the rows by ID.
    let tenant_column = match tx.dialect() {
        Dialect::Sqlite => "+tenant_id",
        Dialect::Postgres => "tenant_id",
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM applications WHERE {tenant_column} = $1 AND {condition}{keyset}
         ORDER BY created_at, id LIMIT ${}",
        params.len()
    );
    tx.query(&sql, &params)?.iter().map(from_row).collect()
}
