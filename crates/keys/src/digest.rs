//! Keyed digests of generated secrets (client secrets).

use aws_lc_rs::hmac;

use crate::MasterKey;

/// HMAC-SHA256 under a key derived from the master key. Generated secrets carry
/// 200+ random bits, so a fast keyed digest is as strong as a slow hash and costs
/// about a microsecond per token request; without the master key a stolen
/// database yields nothing to test guesses against.
pub struct SecretDigester {
    key: hmac::Key,
}

impl SecretDigester {
    /// The digester for client secrets.
    pub fn for_client_secrets(master: &MasterKey) -> SecretDigester {
        SecretDigester {
            key: hmac::Key::new(
                hmac::HMAC_SHA256,
                master.derive("client-secret-digest").as_ref(),
            ),
        }
    }

    /// The digest to store.
    pub fn digest(&self, secret: &str) -> Vec<u8> {
        hmac::sign(&self.key, secret.as_bytes()).as_ref().to_vec()
    }

    /// Whether `secret` has digest `stored`, compared in constant time.
    pub fn verify(&self, secret: &str, stored: &[u8]) -> bool {
        hmac::verify(&self.key, secret.as_bytes(), stored).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;

    fn key(byte: u8) -> MasterKey {
        let encoded = base64::engine::general_purpose::STANDARD.encode([byte; 32]);
        MasterKey::load_or_create(Some(&encoded), std::path::Path::new("/unused"))
            .unwrap()
            .0
    }

    #[test]
    fn digests_verify_only_the_same_secret_under_the_same_master_key() {
        let d = SecretDigester::for_client_secrets(&key(1));
        let stored = d.digest("abc1Q~secret");
        assert_eq!(stored.len(), 32);
        assert!(d.verify("abc1Q~secret", &stored));
        assert!(!d.verify("abc1Q~secreT", &stored));
        assert!(!d.verify("", &stored));
        assert!(!d.verify("abc1Q~secret", &stored[..31]));
        let other = SecretDigester::for_client_secrets(&key(2));
        assert!(!other.verify("abc1Q~secret", &stored));
        assert_ne!(*key(1).derive("a"), *key(1).derive("b"));
    }
}
