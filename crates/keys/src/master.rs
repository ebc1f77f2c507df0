//! The master key and sealing.

use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::{KeyError, write_atomic};

/// Where the master key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterKeySource {
    /// The `HALE_MASTER_KEY` environment variable.
    Environment,
    /// A key file (created at first start if absent).
    File(PathBuf),
}

/// The AES-256-GCM key that seals secrets at rest.
pub struct MasterKey {
    key: LessSafeKey,
    /// The raw key, kept only to derive purpose-specific keys from.
    raw: Zeroizing<[u8; 32]>,
    source: MasterKeySource,
}

/// Sealed format version, first byte of every sealed value.
const FORMAT: u8 = 1;

impl MasterKey {
    /// Uses `from_env` (base64 of 32 bytes) if given; otherwise reads `file`,
    /// creating it with a fresh random key if it does not exist. Returns whether a
    /// new key file was created.
    pub fn load_or_create(
        from_env: Option<&str>,
        file: &Path,
    ) -> Result<(MasterKey, bool), KeyError> {
        if let Some(encoded) = from_env {
            let bytes = Zeroizing::new(
                STANDARD
                    .decode(encoded.trim())
                    .map_err(|e| KeyError::BadMasterKey(e.to_string()))?,
            );
            return Ok((
                Self::from_bytes(&bytes, MasterKeySource::Environment)?,
                false,
            ));
        }
        match std::fs::read(file) {
            Ok(contents) => {
                let text = Zeroizing::new(String::from_utf8_lossy(&contents).into_owned());
                let bytes =
                    Zeroizing::new(STANDARD.decode(text.trim()).map_err(|e| {
                        KeyError::file(file, format!("not a base64 master key: {e}"))
                    })?);
                let key = Self::from_bytes(&bytes, MasterKeySource::File(file.to_owned()))
                    .map_err(|e| KeyError::file(file, e))?;
                Ok((key, false))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = Zeroizing::new([0u8; 32]);
                SystemRandom::new()
                    .fill(bytes.as_mut())
                    .map_err(|_| KeyError::Generation("no randomness".into()))?;
                let encoded = Zeroizing::new(format!("{}\n", STANDARD.encode(bytes.as_ref())));
                write_atomic(file, encoded.as_bytes(), true)?;
                Ok((
                    Self::from_bytes(bytes.as_ref(), MasterKeySource::File(file.to_owned()))?,
                    true,
                ))
            }
            Err(e) => Err(KeyError::file(file, e)),
        }
    }

    fn from_bytes(bytes: &[u8], source: MasterKeySource) -> Result<MasterKey, KeyError> {
        if bytes.len() != 32 {
            return Err(KeyError::BadMasterKey(format!("got {} bytes", bytes.len())));
        }
        let key = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|e| KeyError::BadMasterKey(e.to_string()))?;
        let mut raw = Zeroizing::new([0u8; 32]);
        raw.copy_from_slice(bytes);
        Ok(MasterKey {
            key: LessSafeKey::new(key),
            raw,
            source,
        })
    }

    /// A 32-byte key for one `purpose`, derived with HKDF-SHA256: every replica
    /// sharing the master key derives the same one, and purposes never share keys.
    pub fn derive(&self, purpose: &str) -> Zeroizing<[u8; 32]> {
        struct Len32;
        impl hkdf::KeyType for Len32 {
            fn len(&self) -> usize {
                32
            }
        }
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"hale master key derivation")
            .extract(self.raw.as_ref());
        let mut out = Zeroizing::new([0u8; 32]);
        prk.expand(&[purpose.as_bytes()], Len32)
            .and_then(|okm| okm.fill(out.as_mut()))
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        out
    }

    /// Where this key came from.
    pub fn source(&self) -> &MasterKeySource {
        &self.source
    }

    /// Encrypts `plaintext`, binding it to `context` (which must be given again to
    /// open it): `version || nonce || ciphertext || tag`.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| KeyError::Generation("no randomness".into()))?;
        let mut buffer = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buffer,
            )
            .map_err(|_| KeyError::Generation("sealing failed".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buffer.len());
        out.push(FORMAT);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buffer);
        Ok(out)
    }

    /// Decrypts what [`MasterKey::seal`] made with the same `context`.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != FORMAT {
            return Err(KeyError::WrongMasterKey);
        }
        let nonce = Nonce::try_assume_unique_for_key(&sealed[1..1 + NONCE_LEN])
            .map_err(|_| KeyError::WrongMasterKey)?;
        let mut buffer = Zeroizing::new(sealed[1 + NONCE_LEN..].to_vec());
        let len = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
            .map_err(|_| KeyError::WrongMasterKey)?
            .len();
        buffer.truncate(len);
        Ok(buffer)
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({:?})", self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_opens_only_with_the_same_key_and_context() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let (key, created) = MasterKey::load_or_create(None, &path).unwrap();
        assert!(created);
        let sealed = key.seal("signing-key:abc", b"secret").unwrap();
        assert_eq!(&*key.open("signing-key:abc", &sealed).unwrap(), b"secret");
        assert!(matches!(
            key.open("signing-key:other", &sealed),
            Err(KeyError::WrongMasterKey)
        ));

        let (again, created) = MasterKey::load_or_create(None, &path).unwrap();
        assert!(!created);
        assert_eq!(&*again.open("signing-key:abc", &sealed).unwrap(), b"secret");

        let other = STANDARD.encode([7u8; 32]);
        let (env_key, _) = MasterKey::load_or_create(Some(&other), &path).unwrap();
        assert_eq!(env_key.source(), &MasterKeySource::Environment);
        assert!(matches!(
            env_key.open("signing-key:abc", &sealed),
            Err(KeyError::WrongMasterKey)
        ));
    }

    #[test]
    fn bad_master_keys_are_refused() {
        let path = Path::new("/nonexistent/master.key");
        assert!(matches!(
            MasterKey::load_or_create(Some("not base64!"), path),
            Err(KeyError::BadMasterKey(_))
        ));
        let short = STANDARD.encode([1u8; 16]);
        assert!(matches!(
            MasterKey::load_or_create(Some(&short), path),
            Err(KeyError::BadMasterKey(_))
        ));
    }

    #[cfg(unix)]
    #[test]
    fn the_key_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        MasterKey::load_or_create(None, &path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
