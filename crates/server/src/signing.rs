//! Token signing keys over time: which key signs now, which keys JWKS
//! publishes, and rotation.
//!
//! A key is published in JWKS from the moment it is stored, signs from its
//! certificate's `notBefore` (the newest such key signs), and stays published
//! until the tokens it signed have expired: [`RETIRE_AFTER`] after its
//! successor began signing. Every replica re-reads the keys every
//! `Settings::signing_key_refresh` (30 s) on the request path (a read, never a write), so a
//! rotation made by `hale keys rotate` or another replica is picked up without
//! a restart.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use hale_keys::{MasterKey, SigningKey};
use hale_store::Store;
use hale_store::signing_keys::{self, StoredSigningKey};
use time::{Duration, OffsetDateTime};

use crate::StartError;
use crate::http::TokenSigner;

/// How long a replaced key stays in JWKS: longer than any token it signed lives.
pub const RETIRE_AFTER: Duration = Duration::hours(2);
/// Lifetime of a signing key's certificate.
pub const SIGNING_KEY_LIFETIME: Duration = Duration::days(730);

/// The key that signs at `now`: the newest whose validity has begun.
pub fn active(keys: &[StoredSigningKey], now: OffsetDateTime) -> Option<&StoredSigningKey> {
    keys.iter()
        .filter(|k| k.not_before <= now && now < k.not_after)
        .max_by_key(|k| (k.not_before, k.created_at))
}

/// The keys JWKS publishes at `now`: every unexpired key, except those whose
/// successor has been signing for longer than [`RETIRE_AFTER`]. The signing
/// key comes first.
pub fn published(keys: &[StoredSigningKey], now: OffsetDateTime) -> Vec<&StoredSigningKey> {
    let signing = active(keys, now).map(|k| k.kid.clone());
    let mut out: Vec<&StoredSigningKey> = keys
        .iter()
        .filter(|k| now < k.not_after)
        .filter(|k| {
            let successor_since = keys
                .iter()
                .filter(|s| s.not_before > k.not_before && s.not_before <= now)
                .map(|s| s.not_before)
                .min();
            successor_since.is_none_or(|since| now - since < RETIRE_AFTER)
        })
        .collect();
    out.sort_by_key(|k| {
        (
            Some(&k.kid) != signing.as_ref(),
            std::cmp::Reverse(k.not_before),
        )
    });
    out
}

/// What a replica holds about the keys: the unsealed signer and the
/// certificates JWKS publishes.
pub(crate) struct KeySet {
    pub signer: Arc<TokenSigner>,
    pub published: Arc<Vec<Vec<u8>>>,
}

/// The replica's current [`KeySet`], refreshed from the database every
/// refresh interval by whichever request finds it due.
pub(crate) struct SigningKeys {
    master: MasterKey,
    refresh_seconds: i64,
    current: RwLock<Arc<KeySet>>,
    checked_at: AtomicI64,
}

impl SigningKeys {
    pub(crate) async fn load(
        store: &Store,
        master: MasterKey,
        refresh: std::time::Duration,
    ) -> Result<SigningKeys, StartError> {
        let set = read(store, &master, None).await?;
        Ok(SigningKeys {
            master,
            refresh_seconds: refresh.as_secs().max(1) as i64,
            current: RwLock::new(Arc::new(set)),
            checked_at: AtomicI64::new(OffsetDateTime::now_utc().unix_timestamp()),
        })
    }

    /// The current keys, re-read first when due.
    pub(crate) async fn get(&self, store: &Store) -> Arc<KeySet> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let last = self.checked_at.load(Ordering::Relaxed);
        if now - last >= self.refresh_seconds
            && self
                .checked_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let current = self.current.read().expect("signing keys lock").clone();
            match read(store, &self.master, Some(&current)).await {
                Ok(set) => *self.current.write().expect("signing keys lock") = Arc::new(set),
                Err(e) => {
                    tracing::error!(error = %e, "re-reading the signing keys failed; keeping the current ones")
                }
            }
        }
        self.current.read().expect("signing keys lock").clone()
    }
}

/// Reads the keys and unseals the active one (unless `current` already holds it).
async fn read(
    store: &Store,
    master: &MasterKey,
    current: Option<&KeySet>,
) -> Result<KeySet, StartError> {
    let keys = store.read(signing_keys::list).await?;
    let now = OffsetDateTime::now_utc();
    let stored = active(&keys, now)
        .ok_or_else(|| StartError::Bootstrap("no token signing key is valid now".into()))?;
    let signer = match current {
        Some(set) if set.signer.kid == stored.kid => set.signer.clone(),
        _ => {
            let key = SigningKey::unseal(
                stored.certificate.clone(),
                &stored.sealed_private_key,
                master,
                stored.not_before,
                stored.not_after,
            )?;
            let signer = hale_jws::RsaSigner::from_pkcs8(key.pkcs8_der())
                .map_err(|e| StartError::Bootstrap(format!("signing key: {e}")))?;
            if current.is_some() {
                tracing::info!(kid = %key.kid, "signing tokens with the next key");
            }
            Arc::new(TokenSigner {
                kid: key.kid.clone(),
                signer,
            })
        }
    };
    let published = published(&keys, now)
        .into_iter()
        .map(|k| k.certificate.clone())
        .collect();
    Ok(KeySet {
        signer,
        published: Arc::new(published),
    })
}

/// A signing key as `hale keys list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub kid: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// `signing`, `next`, `published` (being retired) or `retired`.
    pub state: &'static str,
}

fn describe(keys: &[StoredSigningKey], now: OffsetDateTime) -> Vec<KeyInfo> {
    let signing = active(keys, now).map(|k| k.kid.clone());
    let shown: Vec<String> = published(keys, now).iter().map(|k| k.kid.clone()).collect();
    keys.iter()
        .map(|k| KeyInfo {
            kid: k.kid.clone(),
            not_before: k.not_before,
            not_after: k.not_after,
            state: if Some(&k.kid) == signing.as_ref() {
                "signing"
            } else if k.not_before > now {
                "next"
            } else if shown.contains(&k.kid) {
                "published"
            } else {
                "retired"
            },
        })
        .collect()
}

/// Opens the installation `settings` name for an offline key operation: the
/// master key must exist and match the database.
async fn open(settings: &crate::Settings) -> Result<(Store, MasterKey), StartError> {
    let settings = crate::Settings {
        data_dir: crate::absolute(&settings.data_dir),
        ..settings.clone()
    };
    let key_file = settings.master_key_file();
    let from_env = settings.master_key.as_ref().map(|s| s.expose());
    if from_env.is_none() && !key_file.exists() {
        return Err(StartError::DataDir {
            path: settings.data_dir.display().to_string(),
            why: "no master key here; is this the data directory `hale serve` uses?".into(),
        });
    }
    let (master, _) = MasterKey::load_or_create(from_env, &key_file)?;
    let store = Store::open(&settings.effective_database_url()).await?;
    if crate::bootstrap::existing(&store, &master).await?.is_none() {
        return Err(StartError::Bootstrap(
            "this database has not been set up: run `hale serve` once first".into(),
        ));
    }
    Ok((store, master))
}

/// `hale keys rotate`: stores a new signing key, published at once and
/// signing after `activate_after` (every replica switches within its
/// refresh interval of that). Returns the keys as they now stand.
pub async fn rotate_signing_key(
    settings: &crate::Settings,
    activate_after: Duration,
) -> Result<Vec<KeyInfo>, StartError> {
    let (store, master) = open(settings).await?;
    let starts = OffsetDateTime::now_utc() + activate_after;
    let key = tokio::task::spawn_blocking(move || {
        SigningKey::generate_from(starts, SIGNING_KEY_LIFETIME)
    })
    .await
    .map_err(|e| StartError::Bootstrap(e.to_string()))??;
    let stored = StoredSigningKey {
        kid: key.kid.clone(),
        algorithm: SigningKey::ALGORITHM.into(),
        certificate: key.certificate_der.clone(),
        sealed_private_key: key.seal(&master)?,
        not_before: key.not_before,
        not_after: key.not_after,
        created_at: OffsetDateTime::now_utc(),
    };
    store
        .write(move |tx| signing_keys::insert(tx, &stored))
        .await?;
    tracing::info!(kid = %key.kid, activates = %starts, "stored the next signing key");
    list_signing_keys_in(&store).await
}

/// `hale keys list`.
pub async fn list_signing_keys(settings: &crate::Settings) -> Result<Vec<KeyInfo>, StartError> {
    let (store, _) = open(settings).await?;
    list_signing_keys_in(&store).await
}

async fn list_signing_keys_in(store: &Store) -> Result<Vec<KeyInfo>, StartError> {
    let keys = store.read(signing_keys::list).await?;
    Ok(describe(&keys, OffsetDateTime::now_utc()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &str, starts: i64, created: i64) -> StoredSigningKey {
        let t = |s: i64| OffsetDateTime::from_unix_timestamp(1_800_000_000 + s).unwrap();
        StoredSigningKey {
            kid: kid.into(),
            algorithm: "RS256".into(),
            certificate: kid.as_bytes().to_vec(),
            sealed_private_key: Vec::new(),
            not_before: t(starts),
            not_after: t(starts + 10 * 86_400),
            created_at: t(created),
        }
    }

    #[test]
    fn rollover() {
        let at = |s: i64| OffsetDateTime::from_unix_timestamp(1_800_000_000 + s).unwrap();
        // "old" signs from 0; "new" is stored at 100 to sign from 3,700.
        let keys = vec![key("old", 0, 0), key("new", 3_700, 100)];
        let kids = |v: Vec<&StoredSigningKey>| v.iter().map(|k| k.kid.clone()).collect::<Vec<_>>();
        // Before activation: old signs, both are published (new already).
        assert_eq!(active(&keys, at(200)).unwrap().kid, "old");
        assert_eq!(kids(published(&keys, at(200))), ["old", "new"]);
        // After activation: new signs and comes first; old still published.
        assert_eq!(active(&keys, at(3_800)).unwrap().kid, "new");
        assert_eq!(kids(published(&keys, at(3_800))), ["new", "old"]);
        // Two hours after: old is retired.
        assert_eq!(kids(published(&keys, at(3_700 + 7_200))), ["new"]);
        let states: Vec<&str> = describe(&keys, at(200)).iter().map(|k| k.state).collect();
        assert_eq!(states, ["signing", "next"]);
        let states: Vec<&str> = describe(&keys, at(3_700 + 7_200))
            .iter()
            .map(|k| k.state)
            .collect();
        assert_eq!(states, ["retired", "signing"]);
        // Expired keys sign nothing and are not published.
        assert!(active(&keys, at(30 * 86_400)).is_none());
        assert!(published(&keys, at(30 * 86_400)).is_empty());
    }
}
