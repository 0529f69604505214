//! Layered settings: built-in `config/default.toml` < files in the config
//! directory (`default.toml`, then `<profile>.toml`) < `SWITCHBOARD__SECTION__KEY`
//! environment variables < command-line flags.
//!
//! Everything is validated once at start; a bad value is reported with the
//! key that carries it (`server.bind`, …) and where it came from.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// The defaults shipped inside the binary, so it runs from any directory.
const BUILT_IN_DEFAULTS: &str = include_str!("../config/default.toml");

/// Why the settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file or variable could not be read or did not fit the expected
    /// shape; the message names each bad key and where it came from.
    #[error("configuration: {0}")]
    Load(String),
    /// A value parsed but makes no sense.
    #[error("configuration: invalid value for `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
}

/// All settings of one Switchboard process.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Listener and process behaviour.
    pub server: ServerSettings,
    /// Where conversations and users are stored.
    pub database: DatabaseSettings,
    /// Cross-node bus; empty for a single process.
    pub redis: RedisSettings,
    /// Token signing and lifetimes.
    pub auth: AuthSettings,
    /// Abuse limits.
    pub limits: LimitSettings,
    /// Sockets, actors and timers of the live system.
    pub realtime: RealtimeSettings,
    /// Log output.
    pub log: LogSettings,
}

/// Sockets, actors and timers of the live system.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealtimeSettings {
    /// This node's name in `hello` frames and, later, the cluster directory.
    /// Empty: the host name plus a random suffix.
    pub node_id: String,
    /// The server pings every socket this often.
    pub heartbeat_ms: u64,
    /// A client silent for this many heartbeats is dropped (stale sessions).
    pub client_timeout_heartbeats: u32,
    /// Frames queued for one socket before it counts as too slow and is
    /// disconnected; bounds the memory one client can hold.
    pub outbound_buffer: usize,
    /// A socket with frames waiting that has taken none for this long is
    /// disconnected as a client that does not read.
    pub slow_client_after_ms: u64,
    /// Frames and orders waiting for a socket's actor. The actor moves each
    /// frame to its socket's outbound buffer (the slow-client bound) as soon
    /// as it runs, so only a node far behind fills this; a socket that
    /// cannot take a frame then is told to reconnect
    /// (`bus::LocalSession::hand`). Large by default, as a burst of
    /// committed messages arrives at once and an agent may take thousands a
    /// second; actix keeps no buffer of this size, only the bound.
    pub mailbox: usize,
    /// Largest client frame; larger closes the socket with 1009.
    pub max_frame_bytes: usize,
    /// `message.send` allowed per socket in `send_window_s` seconds.
    pub send_limit: u32,
    /// The window of `send_limit`.
    pub send_window_s: u64,
    /// Rate-limit refusals, each within `send_window_s` of the one before,
    /// after which the socket is closed with 1008 (a flood).
    pub abuse_strikes: u32,
    /// A conversation with no customer message for this long is closed
    /// with reason `idle`.
    pub idle_close_after_s: u64,
    /// A closed conversation's actor with no subscribers stops after this long.
    pub passivate_after_s: u64,
    /// An agent whose last socket closed is shown offline after this long
    /// (a page reload should not flap its presence).
    pub presence_grace_s: u64,
    /// An agent disconnected this long gets its open conversations put back
    /// at the front of their queues.
    pub requeue_after_s: u64,
    /// Every team queue re-reads its waiting list and agents from the store
    /// this often, and every node makes sure each team's queue runs: the
    /// safety net for a queue message lost (between nodes) and for a queue
    /// nothing has started since a restart, whose overflow would never fire.
    pub queue_resync_s: u64,
    /// Threads of their own for conversation actors; 0 (the default): they
    /// run on the HTTP worker threads (one per core), next to the sockets.
    pub arbiters: usize,
    /// Team a new conversation joins when no team matches its issue type;
    /// empty: the first team.
    pub default_team: String,
}

/// Listener and process behaviour.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on; port 0 lets the OS choose (tests read it back).
    pub bind: String,
    /// Holds the SQLite file and the generated JWT key.
    pub data_dir: PathBuf,
    /// Grace period for in-flight requests on SIGTERM, so deploys drop nothing.
    pub shutdown_timeout_s: u64,
    /// JSON bodies above this are refused with 413 before they are parsed.
    pub max_body_bytes: usize,
    /// HTTP worker threads; 0 means one per CPU core.
    pub workers: usize,
}

/// Database connection.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// Empty means SQLite in the data directory. May hold a password, so it is
    /// a secret.
    pub url: SecretString,
    /// Pool size; SQLite serialises writers anyway, PostgreSQL benefits more.
    pub max_connections: u32,
}

/// Cross-node bus.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// Empty: single process with the in-process bus.
    pub url: SecretString,
    /// Prefix of every key and channel, so several clusters (or test runs)
    /// can share one Redis.
    pub prefix: String,
    /// A node's lease, ms: a node that dies (is killed, not shut down) loses
    /// its conversations to the others within this time.
    pub lease_ms: u64,
    /// How often the lease is renewed, ms (well under `lease_ms`, so one
    /// slow round trip does not lose it).
    pub renew_ms: u64,
}

/// Token signing and lifetimes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// HMAC key for access tokens; empty means generate once and keep it in the
    /// data directory. Never logged (`SecretString` redacts `Debug`).
    pub jwt_secret: SecretString,
    /// Access tokens are short-lived so a revoked user is out within minutes
    /// even where a route trusts the token alone.
    pub access_ttl_s: u64,
    /// Refresh tokens rotate on every use; this bounds an unused one.
    pub refresh_ttl_s: u64,
    /// Lifetime of a widget visitor token (kept by the browser across visits).
    pub visitor_ttl_s: u64,
}

/// Abuse limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// Per client IP: bounds credential stuffing from one source.
    pub login_per_ip_per_minute: u32,
    /// Per account: bounds password guessing against one user from many IPs.
    pub login_per_account_per_minute: u32,
    /// New widget conversations per client IP per minute: bounds spam.
    pub widget_sessions_per_ip_per_minute: u32,
}

/// Log output.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `pretty` or `json`.
    pub format: LogFormat,
    /// A `tracing` filter directive; `RUST_LOG` overrides it.
    pub level: String,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, for a terminal.
    Pretty,
    /// One JSON object per line, for collectors.
    Json,
}

/// Values given on the command line; they win over every other layer.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Overrides {
    /// `--bind`.
    pub bind: Option<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--database-url`.
    pub database_url: Option<String>,
    /// `--redis-url`.
    pub redis_url: Option<String>,
}

/// Where the database lives, decided from the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseKind {
    /// An SQLite file (the embedded default).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Settings {
    /// Loads the layers for `profile` from `config_dir` and the environment,
    /// applies `overrides`, and validates the result.
    pub fn load(
        config_dir: &Path,
        profile: &str,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::new()
            .merge(Toml::string(BUILT_IN_DEFAULTS))
            .merge(Toml::file(config_dir.join("default.toml")))
            .merge(Toml::file(config_dir.join(format!("{profile}.toml"))))
            .merge(Env::prefixed("SWITCHBOARD__").split("__"));
        if let Some(bind) = &overrides.bind {
            figment = figment.merge(Serialized::default("server.bind", bind));
        }
        if let Some(dir) = &overrides.data_dir {
            figment = figment.merge(Serialized::default("server.data_dir", dir));
        }
        if let Some(url) = &overrides.database_url {
            figment = figment.merge(Serialized::default("database.url", url));
        }
        if let Some(url) = &overrides.redis_url {
            figment = figment.merge(Serialized::default("redis.url", url));
        }
        let settings: Settings = figment.extract().map_err(describe)?;
        settings.validate()?;
        Ok(settings)
    }

    /// The profile named by `SWITCHBOARD_PROFILE`, `development` if unset.
    pub fn profile_from_env() -> String {
        std::env::var("SWITCHBOARD_PROFILE").unwrap_or_else(|_| "development".to_owned())
    }

    /// The config directory: `SWITCHBOARD_CONFIG_DIR` or `./config`.
    pub fn config_dir_from_env() -> PathBuf {
        std::env::var_os("SWITCHBOARD_CONFIG_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("config"))
    }

    /// Checks what serde cannot: addresses parse, URLs have a known scheme,
    /// durations and limits are positive.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.bind_addr()?;
        self.database_kind()?;
        let redis = self.redis.url.expose_secret();
        if !redis.is_empty() && !redis.starts_with("redis://") && !redis.starts_with("rediss://") {
            return Err(invalid(
                "redis.url",
                "must start with redis:// or rediss://",
            ));
        }
        positive("redis.lease_ms", self.redis.lease_ms)?;
        positive("redis.renew_ms", self.redis.renew_ms)?;
        if self.redis.renew_ms * 2 > self.redis.lease_ms {
            return Err(invalid(
                "redis.renew_ms",
                "must be at most half of redis.lease_ms",
            ));
        }
        if self.redis.prefix.is_empty() || self.redis.prefix.contains([':', ' ']) {
            return Err(invalid(
                "redis.prefix",
                "must be non-empty, without ':' or spaces",
            ));
        }
        let secret = self.auth.jwt_secret.expose_secret();
        if !redis.is_empty() && secret.is_empty() {
            return Err(invalid(
                "auth.jwt_secret",
                "must be set (the same on every node) when redis.url joins a cluster",
            ));
        }
        if !secret.is_empty() && secret.len() < 32 {
            return Err(invalid(
                "auth.jwt_secret",
                "must be at least 32 characters (or empty to generate one)",
            ));
        }
        positive("auth.access_ttl_s", self.auth.access_ttl_s)?;
        positive("auth.refresh_ttl_s", self.auth.refresh_ttl_s)?;
        positive("auth.visitor_ttl_s", self.auth.visitor_ttl_s)?;
        let rt = &self.realtime;
        positive("realtime.heartbeat_ms", rt.heartbeat_ms)?;
        positive(
            "realtime.client_timeout_heartbeats",
            rt.client_timeout_heartbeats.into(),
        )?;
        positive("realtime.outbound_buffer", rt.outbound_buffer as u64)?;
        positive("realtime.mailbox", rt.mailbox as u64)?;
        positive("realtime.slow_client_after_ms", rt.slow_client_after_ms)?;
        positive("realtime.send_limit", rt.send_limit.into())?;
        positive("realtime.send_window_s", rt.send_window_s)?;
        positive("realtime.abuse_strikes", rt.abuse_strikes.into())?;
        positive("realtime.idle_close_after_s", rt.idle_close_after_s)?;
        positive("realtime.passivate_after_s", rt.passivate_after_s)?;
        positive("realtime.requeue_after_s", rt.requeue_after_s)?;
        positive("realtime.queue_resync_s", rt.queue_resync_s)?;
        if rt.max_frame_bytes < 1024 {
            return Err(invalid("realtime.max_frame_bytes", "must be at least 1024"));
        }
        positive(
            "limits.login_per_ip_per_minute",
            self.limits.login_per_ip_per_minute.into(),
        )?;
        positive(
            "limits.login_per_account_per_minute",
            self.limits.login_per_account_per_minute.into(),
        )?;
        positive(
            "limits.widget_sessions_per_ip_per_minute",
            self.limits.widget_sessions_per_ip_per_minute.into(),
        )?;
        positive(
            "database.max_connections",
            self.database.max_connections.into(),
        )?;
        if self.server.max_body_bytes < 1024 {
            return Err(invalid("server.max_body_bytes", "must be at least 1024"));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return Err(invalid("log.level", "is not a valid tracing filter"));
        }
        Ok(())
    }

    /// The parsed listen address.
    pub fn bind_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server
            .bind
            .parse()
            .map_err(|e| invalid("server.bind", format!("{e} (expected host:port)")))
    }

    /// Which backend the database URL selects.
    pub fn database_kind(&self) -> Result<DatabaseKind, ConfigError> {
        let url = self.database.url.expose_secret();
        if url.is_empty() || url.starts_with("sqlite:") {
            Ok(DatabaseKind::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseKind::Postgres)
        } else {
            Err(invalid(
                "database.url",
                "must be empty (SQLite in the data directory), sqlite:… or postgres://…",
            ))
        }
    }

    /// The database URL to connect to, with the SQLite default filled in.
    pub fn database_url(&self) -> String {
        let url = self.database.url.expose_secret();
        if url.is_empty() {
            format!(
                "sqlite://{}?mode=rwc",
                self.server.data_dir.join("switchboard.db").display()
            )
        } else {
            url.to_owned()
        }
    }

    /// The Redis URL, if this node is part of a cluster.
    pub fn redis_url(&self) -> Option<&str> {
        Some(self.redis.url.expose_secret()).filter(|u| !u.is_empty())
    }
}

/// Turns figment's errors into one line per bad key: `auth.access_ttl_s`
/// (lower-case, dotted, as in the TOML files) and the source that set it.
fn describe(errors: figment::Error) -> ConfigError {
    let lines: Vec<String> = errors
        .into_iter()
        .map(|e| {
            let key = e.path.join(".").to_lowercase();
            let source = e
                .metadata
                .as_ref()
                .map(|m| format!(" (from {})", m.name))
                .unwrap_or_default();
            if key.is_empty() {
                format!("{}{source}", e.kind)
            } else {
                format!("invalid value for `{key}`{source}: {}", e.kind)
            }
        })
        .collect();
    ConfigError::Load(lines.join("; "))
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

fn positive(key: &'static str, value: u64) -> Result<(), ConfigError> {
    if value == 0 {
        Err(invalid(key, "must be greater than zero"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    // figment's Jail closures return figment::Error, which is large.
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)]
    use super::*;

    fn empty_dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn built_in_defaults_load_and_validate() {
        let dir = empty_dir();
        figment::Jail::expect_with(|_| {
            let s = Settings::load(dir.path(), "development", &Overrides::default()).unwrap();
            assert_eq!(s.server.bind, "127.0.0.1:8080");
            assert_eq!(s.database_kind().unwrap(), DatabaseKind::Sqlite);
            assert!(s.database_url().ends_with("switchboard.db?mode=rwc"));
            assert_eq!(s.redis_url(), None);
            Ok(())
        });
    }

    #[test]
    fn profile_file_then_env_then_flags_override_in_that_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "prod.toml",
                "[server]\nbind = \"0.0.0.0:1\"\nshutdown_timeout_s = 7",
            )?;
            jail.set_env("SWITCHBOARD__SERVER__SHUTDOWN_TIMEOUT_S", "9");
            jail.set_env("SWITCHBOARD__SERVER__BIND", "127.0.0.1:2");
            let s = Settings::load(jail.directory(), "prod", &Overrides::default()).unwrap();
            assert_eq!(s.server.shutdown_timeout_s, 9);
            assert_eq!(s.server.bind, "127.0.0.1:2");
            let flags = Overrides {
                bind: Some("127.0.0.1:3".into()),
                ..Overrides::default()
            };
            let s = Settings::load(jail.directory(), "prod", &flags).unwrap();
            assert_eq!(s.server.bind, "127.0.0.1:3");
            Ok(())
        });
    }

    #[test]
    fn an_unknown_key_is_named_in_the_error() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("x.toml", "[server]\nbnid = \"oops\"")?;
            let err = Settings::load(jail.directory(), "x", &Overrides::default()).unwrap_err();
            let text = err.to_string();
            assert!(text.contains("bnid"), "{text}");
            Ok(())
        });
    }

    #[test]
    fn a_bad_env_value_is_named_with_its_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SWITCHBOARD__AUTH__ACCESS_TTL_S", "soon");
            let err = Settings::load(jail.directory(), "x", &Overrides::default()).unwrap_err();
            let text = err.to_string();
            assert!(text.contains("`auth.access_ttl_s`"), "{text}");
            assert!(text.contains("soon"), "{text}");
            Ok(())
        });
    }

    #[test]
    fn semantic_errors_name_the_key() {
        figment::Jail::expect_with(|jail| {
            for (var, value, key) in [
                ("SWITCHBOARD__SERVER__BIND", "nowhere", "server.bind"),
                ("SWITCHBOARD__DATABASE__URL", "mysql://x", "database.url"),
                ("SWITCHBOARD__AUTH__JWT_SECRET", "short", "auth.jwt_secret"),
                ("SWITCHBOARD__AUTH__ACCESS_TTL_S", "0", "auth.access_ttl_s"),
                ("SWITCHBOARD__REDIS__URL", "http://x", "redis.url"),
            ] {
                jail.clear_env();
                jail.set_env(var, value);
                let err = Settings::load(jail.directory(), "x", &Overrides::default())
                    .unwrap_err()
                    .to_string();
                assert!(err.contains(key), "{var}={value}: {err}");
            }
            Ok(())
        });
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        figment::Jail::expect_with(|jail| {
            let secret = "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t";
            jail.set_env("SWITCHBOARD__AUTH__JWT_SECRET", secret);
            let s = Settings::load(jail.directory(), "x", &Overrides::default()).unwrap();
            assert!(!format!("{s:?}").contains(secret));
            Ok(())
        });
    }
}
