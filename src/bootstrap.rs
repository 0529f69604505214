//! The first admin of an empty database, created at `serve` exactly as the
//! protocol spec says: from `SWITCHBOARD_ADMIN_EMAIL` and
//! `SWITCHBOARD_ADMIN_PASSWORD` when both are set, otherwise with a
//! generated password that is printed once.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde_json::json;

use crate::auth::password;
use crate::domain::{Capacity, DisplayName, Email, Password, Role, ValidationError};
use crate::store::audit::{self, AuditEntry};
use crate::store::{self, Db, StoreError};

/// Address used for the first admin when none is given.
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@switchboard.local";

/// Credentials for the first admin, as configured.
#[derive(Debug, Default, Clone)]
pub struct FirstAdmin {
    /// `SWITCHBOARD_ADMIN_EMAIL`.
    pub email: Option<String>,
    /// `SWITCHBOARD_ADMIN_PASSWORD`.
    pub password: Option<String>,
}

impl FirstAdmin {
    /// Reads the two environment variables.
    pub fn from_env() -> Self {
        FirstAdmin {
            email: std::env::var("SWITCHBOARD_ADMIN_EMAIL").ok(),
            password: std::env::var("SWITCHBOARD_ADMIN_PASSWORD").ok(),
        }
    }
}

/// What bootstrap did.
#[derive(Debug)]
pub enum Outcome {
    /// Users exist already; nothing done.
    NotNeeded,
    /// Created from the configured credentials.
    Created {
        /// The admin's e-mail.
        email: String,
    },
    /// Created with a generated password, which must be shown once.
    Generated {
        /// The admin's e-mail.
        email: String,
        /// The generated password.
        password: String,
    },
}

/// Why bootstrap failed.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The configured credentials are not valid.
    #[error("SWITCHBOARD_ADMIN_{field}: {source}")]
    Invalid {
        /// `EMAIL` or `PASSWORD`.
        field: &'static str,
        /// Why.
        source: ValidationError,
    },
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Hashing failure.
    #[error(transparent)]
    Password(#[from] password::PasswordError),
}

/// Creates the first admin if the database has no users.
pub async fn first_admin(db: &Db, given: &FirstAdmin) -> Result<Outcome, BootstrapError> {
    if store::users::count(db).await? > 0 {
        return Ok(Outcome::NotNeeded);
    }
    let email_raw = given.email.as_deref().unwrap_or(DEFAULT_ADMIN_EMAIL);
    let email = Email::parse(email_raw).map_err(|source| BootstrapError::Invalid {
        field: "EMAIL",
        source,
    })?;
    let (password, generated) = match (&given.email, &given.password) {
        (Some(_), Some(p)) => (
            Password::parse(p).map_err(|source| BootstrapError::Invalid {
                field: "PASSWORD",
                source,
            })?,
            false,
        ),
        _ => {
            let mut bytes = [0u8; 18];
            rand::rng().fill_bytes(&mut bytes);
            let p = URL_SAFE_NO_PAD.encode(bytes);
            (
                Password::parse(&p).map_err(|source| BootstrapError::Invalid {
                    field: "PASSWORD",
                    source,
                })?,
                true,
            )
        }
    };
    let hash = password::hash(&password).await?;
    let txn = store::begin(db).await.map_err(StoreError::from)?;
    // Re-check inside the transaction: two nodes starting at once must not
    // both create an admin (the unique email also guards this).
    if store::users::count(&txn).await? > 0 {
        return Ok(Outcome::NotNeeded);
    }
    let user = store::users::insert(
        &txn,
        &store::users::NewUser {
            email: email.clone(),
            name: DisplayName::parse("Administrator").map_err(|source| {
                BootstrapError::Invalid {
                    field: "EMAIL",
                    source,
                }
            })?,
            password_hash: hash,
            role: Role::Admin,
            capacity: Capacity::DEFAULT,
        },
    )
    .await?;
    audit::record(
        &txn,
        AuditEntry {
            actor: None,
            action: "user.bootstrap_admin",
            target_type: "user",
            target_id: Some(user.id),
            details: json!({"email": user.email, "generated_password": generated}),
            ip: None,
        },
    )
    .await?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(if generated {
        Outcome::Generated {
            email: email.to_string(),
            password: password.expose().to_owned(),
        }
    } else {
        Outcome::Created {
            email: email.to_string(),
        }
    })
}
