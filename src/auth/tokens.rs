//! Short-lived access tokens (HS256 JWT) and the signing key's life: taken
//! from the settings, or generated once and kept in the data directory.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::domain::{ConversationId, Role, UserId, VisitorId};

/// Issuer claim, so tokens of another system with the same key are refused.
const ISSUER: &str = "switchboard";
/// `typ` of a staff access token.
const ACCESS_TYPE: &str = "access";
/// `typ` of a widget visitor token.
const VISITOR_TYPE: &str = "visitor";
/// Name of the generated key file inside the data directory.
const KEY_FILE: &str = "jwt_secret";

/// Why a token was refused, or the key could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Bad signature, expired, wrong issuer or type, malformed.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// Signing failed (should not happen with HMAC).
    #[error("could not sign token: {0}")]
    Sign(String),
    /// The key file could not be read or written.
    #[error("signing key file {path}: {source}")]
    KeyFile {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Claims of a staff access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user id, as a string per RFC 7519.
    pub sub: String,
    /// The role at issue time (the live role is re-read on each request).
    pub role: Role,
    /// The session (refresh token family) this token belongs to.
    pub sid: String,
    /// Token type, always `access`.
    pub typ: String,
    /// Issuer, always `switchboard`.
    pub iss: String,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
}

impl AccessClaims {
    /// The user this token speaks for.
    pub fn user_id(&self) -> Result<UserId, TokenError> {
        self.sub
            .parse()
            .map(UserId)
            .map_err(|_| TokenError::Invalid("subject is not a user id".into()))
    }
}

/// Claims of a widget visitor token: one visitor, one conversation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VisitorClaims {
    /// The visitor id, as a string.
    pub sub: String,
    /// The only conversation this token may touch.
    pub cid: i64,
    /// Token type, always `visitor`.
    pub typ: String,
    /// Issuer, always `switchboard`.
    pub iss: String,
    /// Issued at.
    pub iat: i64,
    /// Expires at.
    pub exp: i64,
}

impl VisitorClaims {
    /// The visitor.
    pub fn visitor_id(&self) -> Result<VisitorId, TokenError> {
        self.sub
            .parse()
            .map(VisitorId)
            .map_err(|_| TokenError::Invalid("subject is not a visitor id".into()))
    }

    /// The conversation.
    pub fn conversation_id(&self) -> ConversationId {
        ConversationId(self.cid)
    }
}

/// The signing and verifying keys of this process.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    access_ttl_s: i64,
    visitor_ttl_s: i64,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(<redacted>)")
    }
}

impl TokenKeys {
    /// Builds keys from raw secret bytes.
    pub fn new(secret: &[u8], access_ttl_s: u64, visitor_ttl_s: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 5;
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            access_ttl_s: i64::try_from(access_ttl_s).unwrap_or(i64::MAX / 2),
            visitor_ttl_s: i64::try_from(visitor_ttl_s).unwrap_or(i64::MAX / 2),
        }
    }

    /// Seconds an access token lives.
    pub fn access_ttl_s(&self) -> i64 {
        self.access_ttl_s
    }

    /// Signs an access token for `user` in session `sid`.
    pub fn issue_access(&self, user: UserId, role: Role, sid: &str) -> Result<String, TokenError> {
        let now = chrono::Utc::now().timestamp();
        let claims = AccessClaims {
            sub: user.0.to_string(),
            role,
            sid: sid.to_owned(),
            typ: ACCESS_TYPE.to_owned(),
            iss: ISSUER.to_owned(),
            iat: now,
            exp: now + self.access_ttl_s,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| TokenError::Sign(e.to_string()))
    }

    /// Verifies signature, expiry, issuer and type of an access token.
    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        if data.claims.typ != ACCESS_TYPE {
            return Err(TokenError::Invalid("not an access token".into()));
        }
        Ok(data.claims)
    }
}

impl TokenKeys {
    /// Signs a visitor token for one conversation.
    pub fn issue_visitor(
        &self,
        visitor: VisitorId,
        conversation: ConversationId,
    ) -> Result<String, TokenError> {
        let now = chrono::Utc::now().timestamp();
        let claims = VisitorClaims {
            sub: visitor.0.to_string(),
            cid: conversation.0,
            typ: VISITOR_TYPE.to_owned(),
            iss: ISSUER.to_owned(),
            iat: now,
            exp: now + self.visitor_ttl_s,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| TokenError::Sign(e.to_string()))
    }

    /// Verifies a visitor token (an access token is refused here, and a
    /// visitor token is refused as an access token).
    pub fn verify_visitor(&self, token: &str) -> Result<VisitorClaims, TokenError> {
        let data = jsonwebtoken::decode::<VisitorClaims>(token, &self.decoding, &self.validation)
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        if data.claims.typ != VISITOR_TYPE {
            return Err(TokenError::Invalid("not a visitor token".into()));
        }
        Ok(data.claims)
    }
}

/// Returns the configured secret, or the one kept in `data_dir`, creating it
/// (mode 0600) on first start.
pub fn load_or_create_secret(configured: &str, data_dir: &Path) -> Result<Vec<u8>, TokenError> {
    if !configured.is_empty() {
        return Ok(configured.as_bytes().to_vec());
    }
    let path = data_dir.join(KEY_FILE);
    let key_err = |source| TokenError::KeyFile {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => STANDARD
            .decode(text.trim())
            .map_err(|e| key_err(std::io::Error::new(std::io::ErrorKind::InvalidData, e))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir).map_err(key_err)?;
            let mut bytes = vec![0u8; 64];
            rand::rng().fill_bytes(&mut bytes);
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut file = opts.open(&path).map_err(key_err)?;
            file.write_all(STANDARD.encode(&bytes).as_bytes())
                .and_then(|_| file.sync_all())
                .map_err(key_err)?;
            tracing::info!(path = %path.display(), "generated a new token signing key");
            Ok(bytes)
        }
        Err(e) => Err(key_err(e)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_issued_token_verifies_and_carries_its_claims() {
        let keys = TokenKeys::new(&[7u8; 32], 900, 3600);
        let t = keys
            .issue_access(UserId(42), Role::Supervisor, "fam")
            .unwrap();
        let c = keys.verify_access(&t).unwrap();
        assert_eq!(c.user_id().unwrap(), UserId(42));
        assert_eq!(c.role, Role::Supervisor);
        assert_eq!(c.sid, "fam");
        assert_eq!(c.exp - c.iat, 900);
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() {
        let a = TokenKeys::new(&[1u8; 32], 900, 3600);
        let b = TokenKeys::new(&[2u8; 32], 900, 3600);
        let t = a.issue_access(UserId(1), Role::Admin, "s").unwrap();
        assert!(b.verify_access(&t).is_err());
        assert!(a.verify_access("garbage").is_err());
    }

    #[test]
    fn an_expired_token_is_refused() {
        let keys = TokenKeys::new(&[3u8; 32], 900, 3600);
        let claims = AccessClaims {
            sub: "1".into(),
            role: Role::Agent,
            sid: "s".into(),
            typ: ACCESS_TYPE.into(),
            iss: ISSUER.into(),
            iat: 0,
            exp: chrono::Utc::now().timestamp() - 60,
        };
        let t =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding).unwrap();
        assert!(keys.verify_access(&t).is_err());
    }

    #[test]
    fn visitor_and_access_tokens_are_not_interchangeable() {
        let keys = TokenKeys::new(&[9u8; 32], 900, 3600);
        let v = keys.issue_visitor(VisitorId(5), ConversationId(8)).unwrap();
        let c = keys.verify_visitor(&v).unwrap();
        assert_eq!(c.visitor_id().unwrap(), VisitorId(5));
        assert_eq!(c.conversation_id(), ConversationId(8));
        assert!(keys.verify_access(&v).is_err());
        let a = keys.issue_access(UserId(1), Role::Admin, "s").unwrap();
        assert!(keys.verify_visitor(&a).is_err());
    }

    #[test]
    fn the_generated_secret_is_kept_across_starts() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create_secret("", dir.path()).unwrap();
        let second = load_or_create_secret("", dir.path()).unwrap();
        assert_eq!(first, second);
        assert_eq!(first.len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(
            load_or_create_secret("configured", dir.path()).unwrap(),
            b"configured"
        );
    }
}
