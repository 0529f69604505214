//! argon2id password hashes. Hashing costs tens of milliseconds of CPU on
//! purpose, so it always runs on the blocking pool, never on an actor or an
//! I/O thread.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::domain::Password;

/// Why hashing or verifying could not be done (not: "wrong password").
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The hash library refused (malformed stored hash, …).
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// The blocking task died.
    #[error("password hashing task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Hashes a new password with argon2id and a random salt (PHC string).
pub async fn hash(password: &Password) -> Result<String, PasswordError> {
    let plain = password.expose().to_owned();
    tokio::task::spawn_blocking(move || hash_blocking(&plain)).await?
}

/// Checks `candidate` against a stored PHC hash. `Ok(false)` means wrong.
pub async fn verify(candidate: &str, stored_hash: &str) -> Result<bool, PasswordError> {
    let candidate = candidate.to_owned();
    let stored = stored_hash.to_owned();
    tokio::task::spawn_blocking(move || verify_blocking(&candidate, &stored)).await?
}

/// Spends the same time as a real check, for unknown accounts, so response
/// time does not reveal which e-mail addresses exist.
pub async fn verify_dummy(candidate: &str) -> Result<(), PasswordError> {
    // A fixed valid hash of an unguessable string, made with the same
    // params, once, on the blocking pool like every other hash.
    static DUMMY: tokio::sync::OnceCell<Option<String>> = tokio::sync::OnceCell::const_new();
    let dummy = DUMMY
        .get_or_init(|| async {
            tokio::task::spawn_blocking(|| {
                hash_blocking("no-such-account-placeholder-password").ok()
            })
            .await
            .ok()
            .flatten()
        })
        .await
        .clone();
    if let Some(dummy) = dummy {
        verify(candidate, &dummy).await?;
    }
    Ok(())
}

fn hash_blocking(plain: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(plain.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

fn verify_blocking(candidate: &str, stored: &str) -> Result<bool, PasswordError> {
    let parsed = PasswordHash::new(stored).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(Argon2::default()
        .verify_password(candidate.as_bytes(), &parsed)
        .is_ok())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let pw = Password::parse("correct horse battery").unwrap();
        let h = hash(&pw).await.unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify("correct horse battery", &h).await.unwrap());
        assert!(!verify("correct horse batterY", &h).await.unwrap());
        let h2 = hash(&pw).await.unwrap();
        assert_ne!(h, h2, "salts must differ");
    }

    #[tokio::test]
    async fn a_malformed_stored_hash_is_an_error_not_a_match() {
        assert!(verify("x", "not-a-hash").await.is_err());
    }
}
