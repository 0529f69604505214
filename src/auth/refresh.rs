//! Opaque refresh tokens. The client holds 256 random bits; the store keeps
//! only their SHA-256, so a database leak does not leak live sessions.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A freshly minted refresh token: the secret for the client and the hash to store.
pub struct NewRefreshToken {
    /// Goes to the client once, never stored.
    pub token: String,
    /// Hex SHA-256 of `token`, the lookup key in the store.
    pub hash: String,
}

/// Mints a new random refresh token.
pub fn mint() -> NewRefreshToken {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&token);
    NewRefreshToken { token, hash }
}

/// The stored form of a presented token.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random session (token family) id.
pub fn new_family_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hash_deterministically() {
        let a = mint();
        let b = mint();
        assert_ne!(a.token, b.token);
        assert_eq!(a.hash, hash(&a.token));
        assert_eq!(a.hash.len(), 64);
        assert_ne!(a.hash, a.token);
    }
}
