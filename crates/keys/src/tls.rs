//! The local certificate authority and the server's TLS certificate.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use crate::{KeyError, write_atomic};

const CA_CERT: &str = "ca.pem";
const CA_KEY: &str = "ca-key.pem";
const CA_BUNDLE: &str = "ca-bundle.pem";
const SERVER_CERT: &str = "server.pem";
const SERVER_KEY: &str = "server-key.pem";

/// A leaf certificate is replaced at start when it has less than this left.
const RENEW_BEFORE: Duration = Duration::days(30);
/// Lifetime of a server certificate (the most browsers accept).
const SERVER_LIFETIME: Duration = Duration::days(397);
const CA_LIFETIME: Duration = Duration::days(3650);

/// Where Hale's TLS files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The local CA's certificate: what clients must trust.
    pub ca_cert: PathBuf,
    /// The system's trusted roots plus the local CA, for `REQUESTS_CA_BUNDLE`.
    pub ca_bundle: PathBuf,
    /// The server certificate followed by the CA certificate.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

impl TlsFiles {
    /// The file layout under `dir`.
    pub fn in_dir(dir: &Path) -> TlsFiles {
        TlsFiles {
            ca_cert: dir.join(CA_CERT),
            ca_bundle: dir.join(CA_BUNDLE),
            server_cert: dir.join(SERVER_CERT),
            server_key: dir.join(SERVER_KEY),
        }
    }
}

/// The local certificate authority.
pub struct LocalCa {
    cert_pem: String,
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn random_serial() -> Result<SerialNumber, KeyError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| KeyError::Generation("no randomness".into()))?;
    bytes[0] &= 0x7f; // keep it a positive integer
    Ok(SerialNumber::from_slice(&bytes))
}

fn read(path: &Path) -> Result<Option<String>, KeyError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(KeyError::file(path, e)),
    }
}

impl LocalCa {
    /// Loads the CA kept in `dir`, or creates one (ECDSA P-256, ten years).
    /// Returns whether it was created.
    pub fn load_or_create(dir: &Path) -> Result<(LocalCa, bool), KeyError> {
        let files = TlsFiles::in_dir(dir);
        let key_path = dir.join(CA_KEY);
        if let (Some(cert_pem), Some(key_pem)) = (read(&files.ca_cert)?, read(&key_path)?) {
            let key = KeyPair::from_pem(&key_pem).map_err(|e| KeyError::file(&key_path, e))?;
            let params = CertificateParams::from_ca_cert_pem(&cert_pem)
                .map_err(|e| KeyError::file(&files.ca_cert, e))?;
            // Re-creating the rcgen certificate object gives an issuer with the same
            // name and key; the certificate file on disk stays the one clients trust.
            let cert = params
                .self_signed(&key)
                .map_err(|e| KeyError::Certificate(e.to_string()))?;
            return Ok((
                LocalCa {
                    cert_pem,
                    cert,
                    key,
                },
                false,
            ));
        }
        std::fs::create_dir_all(dir).map_err(|e| KeyError::file(dir, e))?;
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
            .map_err(|e| KeyError::Generation(e.to_string()))?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::OrganizationName, "Hale");
        name.push(
            DnType::CommonName,
            format!("Hale local CA {}", OffsetDateTime::now_utc().date()),
        );
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.serial_number = Some(random_serial()?);
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        params.not_after = now + CA_LIFETIME;
        let cert = params
            .self_signed(&key)
            .map_err(|e| KeyError::Certificate(e.to_string()))?;
        let cert_pem = cert.pem();
        write_atomic(&key_path, key.serialize_pem().as_bytes(), true)?;
        write_atomic(&files.ca_cert, cert_pem.as_bytes(), false)?;
        Ok((
            LocalCa {
                cert_pem,
                cert,
                key,
            },
            true,
        ))
    }

    /// The CA certificate in PEM form.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }
}

/// Makes sure `dir` holds a server certificate from `ca` that covers `names`
/// (DNS names or IP addresses) and is not about to expire, issuing a new one if
/// not; also refreshes the CA bundle. Returns the files and whether a new
/// certificate was issued.
pub fn ensure_server_certificate(
    ca: &LocalCa,
    dir: &Path,
    names: &[String],
) -> Result<(TlsFiles, bool), KeyError> {
    let files = TlsFiles::in_dir(dir);
    write_bundle(ca, &files.ca_bundle)?;
    if let (Some(cert_pem), Some(_)) = (read(&files.server_cert)?, read(&files.server_key)?)
        && still_good(&cert_pem, ca, names)
    {
        return Ok((files, false));
    }
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
        .map_err(|e| KeyError::Generation(e.to_string()))?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Hale");
    dn.push(
        DnType::CommonName,
        names.first().map(String::as_str).unwrap_or("localhost"),
    );
    params.distinguished_name = dn;
    params.subject_alt_names = names
        .iter()
        .map(|n| match n.parse::<IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => n
                .as_str()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|e| KeyError::Certificate(format!("host name {n:?}: {e}"))),
        })
        .collect::<Result<_, _>>()?;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(random_serial()?);
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + SERVER_LIFETIME;
    let cert = params
        .signed_by(&key, &ca.cert, &ca.key)
        .map_err(|e| KeyError::Certificate(e.to_string()))?;
    write_atomic(&files.server_key, key.serialize_pem().as_bytes(), true)?;
    write_atomic(
        &files.server_cert,
        format!("{}{}", cert.pem(), ca.cert_pem).as_bytes(),
        false,
    )?;
    Ok((files, true))
}

/// Whether the existing server certificate was issued by `ca`, covers `names`,
/// and has more than [`RENEW_BEFORE`] left.
fn still_good(cert_pem: &str, ca: &LocalCa, names: &[String]) -> bool {
    let Ok((_, pem)) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()) else {
        return false;
    };
    let Ok(cert) = pem.parse_x509() else {
        return false;
    };
    let Ok((_, ca_pem)) = x509_parser::pem::parse_x509_pem(ca.cert_pem.as_bytes()) else {
        return false;
    };
    let Ok(ca_cert) = ca_pem.parse_x509() else {
        return false;
    };
    if cert.issuer().as_raw() != ca_cert.subject().as_raw()
        || cert.verify_signature(Some(ca_cert.public_key())).is_err()
    {
        return false;
    }
    let expires = cert.validity().not_after.to_datetime();
    if expires - OffsetDateTime::now_utc() < RENEW_BEFORE {
        return false;
    }
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return false;
    };
    let mut covered = Vec::new();
    for name in &san.value.general_names {
        match name {
            x509_parser::extensions::GeneralName::DNSName(d) => {
                covered.push(d.to_ascii_lowercase())
            }
            x509_parser::extensions::GeneralName::IPAddress(bytes) => {
                let ip = match bytes.len() {
                    4 => <[u8; 4]>::try_from(*bytes).ok().map(IpAddr::from),
                    16 => <[u8; 16]>::try_from(*bytes).ok().map(IpAddr::from),
                    _ => None,
                };
                covered.extend(ip.map(|ip| ip.to_string()));
            }
            _ => {}
        }
    }
    names.iter().all(|n| {
        let n = match n.parse::<IpAddr>() {
            Ok(ip) => ip.to_string(),
            Err(_) => n.to_ascii_lowercase(),
        };
        covered.contains(&n)
    })
}

/// System trust stores, in the order Debian, Fedora and macOS/Alpine place them.
const SYSTEM_ROOTS: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// Writes the system's roots plus the local CA to `path` (if it changed):
/// Python's `requests` replaces, rather than extends, the roots with
/// `REQUESTS_CA_BUNDLE`, so the bundle must hold both.
fn write_bundle(ca: &LocalCa, path: &Path) -> Result<(), KeyError> {
    let system = SYSTEM_ROOTS
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    let mut bundle = system;
    if !bundle.is_empty() && !bundle.ends_with('\n') {
        bundle.push('\n');
    }
    bundle.push_str("# Hale local CA\n");
    bundle.push_str(&ca.cert_pem);
    if read(path)?.as_deref() != Some(bundle.as_str()) {
        write_atomic(path, bundle.as_bytes(), false)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_ca_and_certificate_are_made_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, created) = LocalCa::load_or_create(dir.path()).unwrap();
        assert!(created);
        let wanted = names(&["localhost", "127.0.0.1", "::1"]);
        let (files, issued) = ensure_server_certificate(&ca, dir.path(), &wanted).unwrap();
        assert!(issued);
        let first = std::fs::read(&files.server_cert).unwrap();

        let (ca2, created) = LocalCa::load_or_create(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(ca2.cert_pem(), ca.cert_pem());
        let (_, issued) = ensure_server_certificate(&ca2, dir.path(), &wanted).unwrap();
        assert!(!issued, "a valid certificate is kept");
        assert_eq!(std::fs::read(&files.server_cert).unwrap(), first);

        // A new host name needs a new certificate from the same CA.
        let more = names(&["localhost", "127.0.0.1", "::1", "hale.example.org"]);
        let (_, issued) = ensure_server_certificate(&ca2, dir.path(), &more).unwrap();
        assert!(issued);
        let bundle = std::fs::read_to_string(&files.ca_bundle).unwrap();
        assert!(bundle.ends_with(ca.cert_pem()));
    }

    #[test]
    fn a_certificate_from_another_ca_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let wanted = names(&["localhost"]);
        let (ca, _) = LocalCa::load_or_create(dir.path()).unwrap();
        ensure_server_certificate(&ca, dir.path(), &wanted).unwrap();
        std::fs::remove_file(dir.path().join(CA_CERT)).unwrap();
        let (new_ca, created) = LocalCa::load_or_create(dir.path()).unwrap();
        assert!(created);
        let (_, issued) = ensure_server_certificate(&new_ca, dir.path(), &wanted).unwrap();
        assert!(issued);
    }
}
