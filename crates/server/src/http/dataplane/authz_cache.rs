//! What data-plane authorization reads (the service a path names, the
//! caller's grants there), kept in memory for as long as the database's
//! authorization epoch ([`hale_store::arm::authz_epoch`]) says it is current.
//!
//! The epoch is raised by triggers in the same transaction as any change to
//! role assignments, group members, workspaces or services, on whichever
//! replica (or tool) makes it. On SQLite every request reads the epoch, one
//! keyed row; on PostgreSQL each raise is announced to every replica, which
//! then needs no read at all while its listener is connected (see
//! [`hale_store::Store::known_authz_epoch`]). What the cache saves is the
//! service join and the recursive group walk. Decisions are not cached: they
//! are taken from the inputs on every request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hale_arm::authz::Grant;
use hale_arm::{HealthService, ServiceKind};
use hale_directory::{ObjectId, TenantId};

/// Entries kept at most; past that the cache starts over (callers are few
/// compared to this; an attacker cycling tokens only costs itself reads).
const MAX_ENTRIES: usize = 4096;

/// Whose request, to which service.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Key {
    pub kind: ServiceKind,
    /// Lowercased, as service names match.
    pub workspace: String,
    pub name: String,
    /// The verified token's tenant and object ID, when it verified.
    pub caller: Option<(TenantId, ObjectId)>,
}

/// The inputs of one decision, read at `epoch`.
#[derive(Debug)]
pub(super) struct Inputs {
    pub epoch: i64,
    /// `None`: no such service.
    pub service: Option<HealthService>,
    /// The caller's grants at the service and above; `None` when there is
    /// no verified caller of the service's tenant.
    pub grants: Option<Vec<Grant>>,
}

#[derive(Default)]
pub(crate) struct AuthzCache {
    entries: Mutex<HashMap<Key, Arc<Inputs>>>,
}

impl AuthzCache {
    pub(crate) fn new() -> AuthzCache {
        AuthzCache::default()
    }

    /// The inputs for `key` if they were read at `epoch`.
    pub(super) fn get(&self, key: &Key, epoch: i64) -> Option<Arc<Inputs>> {
        let entries = self.entries.lock().ok()?;
        entries.get(key).filter(|i| i.epoch == epoch).cloned()
    }

    pub(super) fn put(&self, key: Key, inputs: Arc<Inputs>) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
                // Entries of older epochs go first; if all are current, all go.
                let epoch = inputs.epoch;
                entries.retain(|_, i| i.epoch == epoch);
                if entries.len() >= MAX_ENTRIES {
                    entries.clear();
                }
            }
            entries.insert(key, inputs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: usize) -> Key {
        Key {
            kind: ServiceKind::Fhir,
            workspace: "ws".into(),
            name: format!("svc{n}"),
            caller: None,
        }
    }

    fn inputs(epoch: i64) -> Arc<Inputs> {
        Arc::new(Inputs {
            epoch,
            service: None,
            grants: None,
        })
    }

    #[test]
    fn an_entry_counts_only_at_its_epoch() {
        let cache = AuthzCache::new();
        cache.put(key(1), inputs(7));
        assert!(cache.get(&key(1), 7).is_some());
        assert!(cache.get(&key(1), 8).is_none());
        assert!(cache.get(&key(2), 7).is_none());
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = AuthzCache::new();
        for n in 0..MAX_ENTRIES {
            cache.put(key(n), inputs(1));
        }
        cache.put(key(MAX_ENTRIES), inputs(2));
        let len = cache.entries.lock().unwrap().len();
        assert_eq!(len, 1, "stale entries dropped when full");
        for n in 0..MAX_ENTRIES {
            cache.put(key(n), inputs(2));
        }
        cache.put(key(MAX_ENTRIES + 1), inputs(2));
        assert!(cache.entries.lock().unwrap().len() <= MAX_ENTRIES);
        assert!(cache.get(&key(MAX_ENTRIES + 1), 2).is_some());
    }
}
