//! First start: the default tenant, its administrator, the first-party service
//! principals, the default subscription and resource group, the administrator's
//! Owner role, and the first token signing key, all in one transaction.
//!
//! Idempotent: when the default tenant exists nothing is created and every ID is
//! kept. Replicas starting together on one PostgreSQL database race safely: the
//! loser's insert conflicts, and it reads what the winner made.

use hale_arm::{PrincipalType, ResourceGroup, RoleAssignment, Subscription, builtin_roles};
use hale_directory::{
    DirectoryRole, ObjectId, PasswordHash, ServicePrincipal, Tenant, TenantId, User, UserProfile,
    first_party, generate_password, validate_domain,
};
use hale_keys::{MasterKey, SigningKey};
use hale_store::signing_keys::StoredSigningKey;
use hale_store::{Store, StoreError, Tx, arm, meta, principals, signing_keys, tenants, users};
use time::OffsetDateTime;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::StartError;
use crate::settings::Secret;

/// The name of the default resource group.
pub const DEFAULT_RESOURCE_GROUP: &str = "hale-default";
/// The location Hale gives the resources it creates.
pub const DEFAULT_LOCATION: &str = "local";
/// Lifetime of the signing key made at first start.
use crate::signing::SIGNING_KEY_LIFETIME;
/// Shortest administrator password accepted from `HALE_ADMIN_PASSWORD`.
const MIN_PASSWORD_LEN: usize = 8;

const MASTER_KEY_CHECK: &str = "master-key-check";
const MASTER_KEY_CHECK_VALUE: &[u8] = b"hale master key check";

/// What first start found or made.
#[derive(Debug)]
pub struct Installation {
    pub tenant: Tenant,
    pub admin_user_principal_name: String,
    pub subscription_id: Uuid,
    /// True when this start created the tenant.
    pub created: bool,
    /// The administrator password, when this start generated it (print it once).
    pub generated_admin_password: Option<Zeroizing<String>>,
}

/// Everything first start writes, prepared outside the transaction (hashing
/// and key generation are slow; the write itself is quick).
struct Plan {
    tenant: Tenant,
    admin: User,
    service_principals: Vec<ServicePrincipal>,
    subscription: Subscription,
    resource_group: ResourceGroup,
    owner: RoleAssignment,
    signing_key: StoredSigningKey,
    master_key_check: Vec<u8>,
}

/// Runs first start if it has not run, and checks that `master_key` is the key
/// this database was set up with.
pub async fn ensure(
    store: &Store,
    master_key: &MasterKey,
    tenant_domain: &str,
    admin_password: Option<&Secret>,
) -> Result<Installation, StartError> {
    if let Some(found) = existing(store, master_key).await? {
        return Ok(found);
    }
    let domain = validate_domain(tenant_domain).map_err(|e| StartError::Setting {
        name: "tenant-domain",
        why: e.to_string(),
    })?;
    let (password, generated) = match admin_password {
        Some(secret) if secret.expose().chars().count() >= MIN_PASSWORD_LEN => {
            (Zeroizing::new(secret.expose().to_owned()), None)
        }
        Some(_) => {
            return Err(StartError::Setting {
                name: "HALE_ADMIN_PASSWORD",
                why: format!("must be at least {MIN_PASSWORD_LEN} characters"),
            });
        }
        None => {
            let p = generate_password();
            (p.clone(), Some(p))
        }
    };
    // Slow (RSA key generation, argon2id) but run once, before anything is served.
    let key = SigningKey::generate(SIGNING_KEY_LIFETIME)?;
    let sealed = key.seal(master_key)?;
    let check = master_key.seal(MASTER_KEY_CHECK, MASTER_KEY_CHECK_VALUE)?;
    let plan = plan(&domain, &password, key, sealed, check)?;

    let admin_upn = plan.admin.user_principal_name.clone();
    let written = store
        .write(move |tx| {
            if tenants::default_tenant(tx)?.is_some() {
                return Ok(false);
            }
            write(tx, &plan)?;
            Ok::<_, StoreError>(true)
        })
        .await;
    match written {
        Ok(true) => {
            let found = existing(store, master_key).await?.ok_or_else(|| {
                StartError::Bootstrap("the default tenant vanished after first start".into())
            })?;
            tracing::info!(tenant = %found.tenant.id, admin = %admin_upn, "first start: created the default tenant");
            Ok(Installation {
                created: true,
                generated_admin_password: generated,
                ..found
            })
        }
        // Another replica finished first start between our check and our write.
        Ok(false) | Err(StoreError::Conflict(_)) => {
            existing(store, master_key).await?.ok_or_else(|| {
                StartError::Bootstrap("first start conflicted but no tenant exists".into())
            })
        }
        Err(e) => Err(StartError::Database(e)),
    }
}

pub(crate) async fn existing(
    store: &Store,
    master_key: &MasterKey,
) -> Result<Option<Installation>, StartError> {
    let found = store
        .read(|tx| {
            let check = meta::get(tx, MASTER_KEY_CHECK)?;
            let Some(tenant) = tenants::default_tenant(tx)? else {
                return Ok::<_, StoreError>((check, None));
            };
            let admin = users::by_upn(tx, tenant.id, &admin_upn(&tenant.domain))?;
            let subscription = arm::subscriptions(tx, tenant.id)?.into_iter().next();
            Ok((check, Some((tenant, admin, subscription))))
        })
        .await?;
    let (check, found) = found;
    if let Some(sealed) = check {
        match master_key.open(MASTER_KEY_CHECK, &sealed) {
            Ok(value) if value.as_slice() == MASTER_KEY_CHECK_VALUE => {}
            _ => {
                return Err(StartError::MasterKeyMismatch(format!(
                    "{:?}",
                    master_key.source()
                )));
            }
        }
    }
    Ok(found.map(|(tenant, admin, subscription)| Installation {
        admin_user_principal_name: admin
            .map(|a| a.user_principal_name)
            .unwrap_or_else(|| admin_upn(&tenant.domain)),
        subscription_id: subscription.map(|s| s.id).unwrap_or_default(),
        tenant,
        created: false,
        generated_admin_password: None,
    }))
}

fn admin_upn(domain: &str) -> String {
    format!("admin@{domain}")
}

fn plan(
    domain: &str,
    password: &str,
    key: SigningKey,
    sealed_private_key: Vec<u8>,
    master_key_check: Vec<u8>,
) -> Result<Plan, StartError> {
    let now = OffsetDateTime::now_utc();
    let tenant = Tenant {
        id: TenantId::new(),
        domain: domain.to_owned(),
        display_name: "Default Directory".into(),
        is_default: true,
        created_at: now,
    };
    let admin = User {
        id: ObjectId::new(),
        tenant_id: tenant.id,
        user_principal_name: admin_upn(domain),
        display_name: "Administrator".into(),
        password: Some(
            PasswordHash::create(password).map_err(|e| StartError::Bootstrap(e.to_string()))?,
        ),
        account_enabled: true,
        created_at: now,
        profile: UserProfile {
            mail_nickname: Some("admin".into()),
            ..UserProfile::default()
        },
    };
    let service_principals = first_party::provisioned_at_tenant_creation()
        .map(|app| app.service_principal(tenant.id, now))
        .collect();
    let subscription = Subscription {
        id: Uuid::new_v4(),
        tenant_id: tenant.id,
        display_name: "Hale default subscription".into(),
        state: "Enabled".into(),
        created_at: now,
    };
    let resource_group = ResourceGroup {
        subscription_id: subscription.id,
        name: DEFAULT_RESOURCE_GROUP.into(),
        location: DEFAULT_LOCATION.into(),
        tags: Default::default(),
        created_at: now,
    };
    let owner = RoleAssignment {
        id: Uuid::new_v4(),
        tenant_id: tenant.id,
        scope: subscription.resource_id(),
        role_definition_id: builtin_roles::OWNER,
        principal_id: admin.id,
        principal_type: PrincipalType::User,
        description: None,
        created_by: None,
        created_at: now,
        updated_at: now,
    };
    let signing_key = StoredSigningKey {
        kid: key.kid.clone(),
        algorithm: SigningKey::ALGORITHM.into(),
        certificate: key.certificate_der.clone(),
        sealed_private_key,
        not_before: key.not_before,
        not_after: key.not_after,
        created_at: now,
    };
    Ok(Plan {
        tenant,
        admin,
        service_principals,
        subscription,
        resource_group,
        owner,
        signing_key,
        master_key_check,
    })
}

fn write(tx: &mut dyn Tx, plan: &Plan) -> Result<(), StoreError> {
    if meta::get(tx, MASTER_KEY_CHECK)?.is_none() {
        meta::insert(tx, MASTER_KEY_CHECK, &plan.master_key_check)?;
    }
    tenants::insert(tx, &plan.tenant)?;
    users::insert(tx, &plan.admin)?;
    principals::add_role_member(
        tx,
        plan.tenant.id,
        DirectoryRole::GlobalAdministrator,
        plan.admin.id,
    )?;
    for sp in &plan.service_principals {
        principals::insert(tx, sp)?;
    }
    arm::insert_subscription(tx, &plan.subscription)?;
    arm::insert_resource_group(tx, &plan.resource_group)?;
    arm::insert_role_assignment(tx, &plan.owner)?;
    if signing_keys::list(tx)?.is_empty() {
        signing_keys::insert(tx, &plan.signing_key)?;
    }
    Ok(())
}
