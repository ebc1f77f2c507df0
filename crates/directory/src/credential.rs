//! Client secrets: generation, lifetime rules, and the digest-only record.

use rand::Rng;
use rand::rngs::OsRng;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::{DirectoryError, PasswordCredential};

/// The secret lifetimes the portal offers, in days (recommended: 180).
pub const PORTAL_SECRET_LIFETIMES_DAYS: [i64; 5] = [90, 180, 365, 545, 730];
/// The longest lifetime a secret may have unless the operator allows more.
pub const DEFAULT_MAX_SECRET_LIFETIME: Duration = Duration::days(731);
/// Graph's default lifetime for `addPassword` without an end date: two years.
pub const DEFAULT_SECRET_LIFETIME: Duration = Duration::days(730);

/// A freshly generated secret: shown once, then only its digest exists.
pub struct SecretText(Zeroizing<String>);

impl SecretText {
    /// Generates a secret shaped like Entra's: 40 characters, the fourth a
    /// digit followed by `Q~` (so scanners recognise it), about 220 random
    /// bits, never starting with `-`.
    pub fn generate() -> SecretText {
        const ALPHABET: &[u8] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.~";
        let mut rng = OsRng;
        let mut pick = |n: usize| -> String {
            (0..n)
                .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
                .collect()
        };
        // Never a leading `-`: command lines (`hale login -p …`, `az login
        // -p …`) would read the secret as an option.
        let first = loop {
            let c = pick(1);
            if c != "-" {
                break c;
            }
        };
        let head = format!("{first}{}", pick(2));
        let digit = char::from(b'0' + OsRng.gen_range(0..10u8));
        let tail = pick(34);
        SecretText(Zeroizing::new(format!("{head}{digit}Q~{tail}")))
    }

    /// The secret, to return once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The first three characters, kept as `hint`.
    pub fn hint(&self) -> String {
        self.0.chars().take(3).collect()
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretText(***)")
    }
}

/// Makes a password credential from an `addPassword` request: start defaults to
/// now, end to start + two years; the end must follow the start, lie in the
/// future, and be at most `max_lifetime` after the start. `digest` turns the
/// secret into what is stored.
pub fn new_password_credential(
    display_name: Option<String>,
    start: Option<OffsetDateTime>,
    end: Option<OffsetDateTime>,
    max_lifetime: Duration,
    digest: impl FnOnce(&str) -> Vec<u8>,
) -> Result<(PasswordCredential, SecretText), DirectoryError> {
    let now = OffsetDateTime::now_utc();
    let start = start.unwrap_or(now);
    let end = end.unwrap_or(start + DEFAULT_SECRET_LIFETIME);
    let bad = |why: String| DirectoryError::InvalidProperty {
        property: "passwordCredential.endDateTime".into(),
        why,
    };
    if end <= start {
        return Err(bad("the end date must be after the start date".into()));
    }
    if end <= now {
        return Err(bad("the end date must be in the future".into()));
    }
    if end - start > max_lifetime {
        return Err(bad(format!(
            "a secret may be valid for at most {} days",
            max_lifetime.whole_days()
        )));
    }
    if display_name
        .as_ref()
        .is_some_and(|n| n.chars().count() > 256)
    {
        return Err(DirectoryError::InvalidProperty {
            property: "passwordCredential.displayName".into(),
            why: "at most 256 characters".into(),
        });
    }
    let secret = SecretText::generate();
    let credential = PasswordCredential {
        key_id: Uuid::new_v4(),
        display_name,
        hint: Some(secret.hint()),
        start_date_time: start,
        end_date_time: end,
        custom_key_identifier: None,
        secret_text: None,
        digest: digest(secret.expose()),
    };
    Ok((credential, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_digest(s: &str) -> Vec<u8> {
        s.bytes().rev().collect()
    }

    #[test]
    fn secrets_look_like_entras_and_differ() {
        let a = SecretText::generate();
        let b = SecretText::generate();
        assert_eq!(a.expose().len(), 40);
        assert_eq!(&a.expose()[4..6], "Q~");
        assert!(a.expose().as_bytes()[3].is_ascii_digit());
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.hint(), &a.expose()[..3]);
        assert_eq!(format!("{a:?}"), "SecretText(***)");
        // One secret in 66 would start with `-` if it could.
        assert!((0..2000).all(|_| !SecretText::generate().expose().starts_with('-')));
    }

    #[test]
    fn lifetimes() {
        let now = OffsetDateTime::now_utc();
        let (cred, secret) = new_password_credential(
            Some("ci".into()),
            None,
            None,
            DEFAULT_MAX_SECRET_LIFETIME,
            fake_digest,
        )
        .unwrap();
        assert_eq!(
            (cred.end_date_time - cred.start_date_time).whole_days(),
            730
        );
        assert_eq!(cred.digest, fake_digest(secret.expose()));
        assert_eq!(cred.hint.as_deref(), Some(&secret.expose()[..3]));
        assert!(
            cred.secret_text.is_none(),
            "the record never carries the secret"
        );

        for days in PORTAL_SECRET_LIFETIMES_DAYS {
            let end = now + Duration::days(days);
            assert!(
                new_password_credential(
                    None,
                    Some(now),
                    Some(end),
                    DEFAULT_MAX_SECRET_LIFETIME,
                    fake_digest
                )
                .is_ok(),
                "{days}"
            );
        }
        let cases = [
            (now, now - Duration::days(1), "after the start"),
            (
                now - Duration::days(10),
                now - Duration::days(1),
                "in the future",
            ),
            (now, now + Duration::days(800), "at most 731 days"),
        ];
        for (start, end, why) in cases {
            let err = new_password_credential(
                None,
                Some(start),
                Some(end),
                DEFAULT_MAX_SECRET_LIFETIME,
                fake_digest,
            )
            .unwrap_err();
            assert!(err.to_string().contains(why), "{err}");
        }
        // An operator may allow longer lifetimes.
        assert!(
            new_password_credential(
                None,
                Some(now),
                Some(now + Duration::days(800)),
                Duration::days(1000),
                fake_digest
            )
            .is_ok()
        );
    }
}
