//! User passwords, kept only as argon2id hashes.

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::Rng;
use rand::rngs::OsRng;
use zeroize::Zeroizing;

use crate::DirectoryError;

/// An argon2id hash in PHC string form (`$argon2id$v=19$m=…`).
///
/// Parameters: 19 MiB, 2 passes, 1 lane (OWASP's first recommended argon2id
/// configuration), about 20 ms per hash on the reference machine.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

impl PasswordHash {
    /// Hashes `password` with a fresh random salt.
    pub fn create(password: &str) -> Result<Self, DirectoryError> {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| PasswordHash(h.to_string()))
            .map_err(|e| DirectoryError::PasswordHash(e.to_string()))
    }

    /// Wraps a hash read back from storage.
    pub fn from_phc(phc: String) -> Self {
        PasswordHash(phc)
    }

    /// The PHC string, for storage.
    pub fn as_phc(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` is the password (constant-time comparison inside argon2).
    pub fn verify(&self, candidate: &str) -> bool {
        match argon2::password_hash::PasswordHash::new(&self.0) {
            Ok(parsed) => hasher()
                .verify_password(candidate.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        }
    }
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(argon2id)")
    }
}

/// A random password for a generated administrator: 24 characters from an
/// alphabet without look-alikes, about 139 bits.
pub fn generate_password() -> Zeroizing<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = OsRng;
    Zeroizing::new(
        (0..24)
            .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_and_nothing_else() {
        let hash = PasswordHash::create("correct horse").unwrap();
        assert!(hash.as_phc().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(hash.verify("correct horse"));
        assert!(!hash.verify("correct horse "));
        assert!(!hash.verify(""));
        assert!(!PasswordHash::from_phc("not a hash".into()).verify("x"));
    }

    #[test]
    fn generated_passwords_differ_and_have_full_length() {
        let (a, b) = (generate_password(), generate_password());
        assert_eq!(a.len(), 24);
        assert_ne!(*a, *b);
    }
}
