//! The one list of error codes, shared by REST problem+json bodies and socket
//! `error` frames, so a client handles both the same way.

use serde::{Deserialize, Serialize};

/// What went wrong, as a client should branch on it (snake_case on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Malformed or invalid input.
    BadRequest,
    /// No or invalid credentials.
    Unauthorized,
    /// Valid credentials without the right.
    Forbidden,
    /// Does not exist, or the caller may not know it exists.
    NotFound,
    /// Conflicts with the current state (duplicate, stale version, …).
    Conflict,
    /// Body or frame over the size limit.
    TooLarge,
    /// Too many requests; retry later.
    RateLimited,
    /// A fault on our side; details are in the server log.
    Internal,
}

impl ErrorCode {
    /// The snake_case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Internal => "internal",
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn wire_names_match_serde_names() {
        for code in [
            ErrorCode::BadRequest,
            ErrorCode::Unauthorized,
            ErrorCode::Forbidden,
            ErrorCode::NotFound,
            ErrorCode::Conflict,
            ErrorCode::TooLarge,
            ErrorCode::RateLimited,
            ErrorCode::Internal,
        ] {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, serde_json::Value::from(code.as_str()));
        }
    }
}
