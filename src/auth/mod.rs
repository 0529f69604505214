//! Credentials: password hashing, access tokens, refresh tokens and the
//! login rate limits. No HTTP and no SQL here; `http::auth` wires these to
//! routes and `store::refresh_tokens` keeps the refresh state.
//!
//! (DESIGN.md's layout has no `auth/`; it lives beside `domain/` because
//! hashing and signing are not pure rules but are used by both REST and
//! sockets. See docs/architecture.md.)

pub mod limits;
pub mod password;
pub mod refresh;
pub mod tokens;

pub use limits::LoginLimiter;
pub use tokens::{AccessClaims, TokenError, TokenKeys};
