//! `spawn_app` and typed client helpers shared by every integration test.
//!
//! Each test gets its own app on a random port and its own database: a
//! temporary SQLite file, or a fresh PostgreSQL database when
//! `SWITCHBOARD_TEST_DATABASE_URL` is set. `TEST_LOG=1` shows the app's logs.

use std::io::Write;
use std::path::Path;
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::{Method, Response};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use switchboard::bootstrap::FirstAdmin;
use switchboard::config::{Overrides, Settings};
use switchboard::startup::Application;
use switchboard::store::Db;
use tempfile::TempDir;

/// The first admin every test app starts with.
pub const ADMIN_EMAIL: &str = "admin@test.local";
/// Its password.
pub const ADMIN_PASSWORD: &str = "admin-password-1";
/// Password given to users the helpers create.
pub const USER_PASSWORD: &str = "user-password-1";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A temporary SQLite file.
    Sqlite,
    /// A fresh database on `SWITCHBOARD_TEST_DATABASE_URL`.
    Postgres,
}

/// A running app and a client for it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: Db,
    pub data_dir: TempDir,
}

/// A staff user created by a test.
pub struct TestUser {
    pub id: i64,
    pub email: String,
    pub token: String,
    pub refresh_token: String,
}

static INIT_LOG: Once = Once::new();
static PG_SKIP_NOTICE: Once = Once::new();
static PG_CLEANUP: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
static DB_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The PostgreSQL server URL for tests, if configured.
pub fn pg_base_url() -> Option<String> {
    std::env::var("SWITCHBOARD_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

fn note_pg_skipped() {
    PG_SKIP_NOTICE.call_once(|| {
        // Written straight to stderr so the test harness does not swallow it.
        let _ = writeln!(
            std::io::stderr(),
            "NOTE: PostgreSQL tests skipped: SWITCHBOARD_TEST_DATABASE_URL is not set \
             (e.g. postgres://postgres@127.0.0.1/test); they pass trivially here."
        );
    });
}

/// `postgres://u@h/db?x` → `postgres://u@h/<name>`.
fn with_database(base: &str, name: &str) -> String {
    let without_query = base.split('?').next().unwrap_or(base);
    match without_query.rfind('/') {
        Some(i) if i > "postgres://".len() => format!("{}/{}", &without_query[..i], name),
        _ => format!("{without_query}/{name}"),
    }
}

/// Whether the test database `name` (`sb_test_<pid>_<n>`) was left by a
/// test process that has ended. Another test process still running (a
/// second `cargo test` beside this one) keeps its databases: dropping them
/// would fail its tests. Where `/proc` cannot tell, nothing is dropped.
fn left_by_ended_process(name: &str) -> bool {
    let Some(pid) = name
        .strip_prefix("sb_test_")
        .and_then(|rest| rest.split('_').next())
        .and_then(|pid| pid.parse::<u32>().ok())
    else {
        return false;
    };
    Path::new("/proc/self").exists() && !Path::new(&format!("/proc/{pid}")).exists()
}

/// Creates an empty PostgreSQL database for one test. Databases left by
/// earlier runs (test processes that have ended) are dropped once per run.
pub async fn fresh_pg_database() -> Option<String> {
    let Some(base) = pg_base_url() else {
        note_pg_skipped();
        return None;
    };
    let admin = Database::connect(&base)
        .await
        .expect("connect to SWITCHBOARD_TEST_DATABASE_URL");
    let pid = std::process::id();
    PG_CLEANUP
        .get_or_init(|| async {
            let rows = admin
                .query_all_raw(sea_orm::Statement::from_string(
                    admin.get_database_backend(),
                    "SELECT datname FROM pg_database WHERE datname LIKE 'sb_test_%'",
                ))
                .await
                .expect("list test databases");
            for row in rows {
                let name: String = row.try_get("", "datname").expect("datname");
                if left_by_ended_process(&name) {
                    let _ = admin
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .await;
                }
            }
        })
        .await;
    let name = format!(
        "sb_test_{pid}_{}",
        DB_COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create test database");
    admin.close().await.ok();
    Some(with_database(&base, &name))
}

/// Test settings: the `test` profile, a private data directory, `database_url`.
pub fn test_settings(data_dir: &Path, database_url: Option<String>) -> Settings {
    let config_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    Settings::load(
        &config_dir,
        "test",
        &Overrides {
            data_dir: Some(data_dir.to_path_buf()),
            database_url,
            ..Overrides::default()
        },
    )
    .expect("test settings")
}

/// Starts an app on `backend`; `None` when PostgreSQL is not configured.
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |_| {}).await
}

/// Like [`spawn_app`], with a chance to adjust the settings first.
pub async fn spawn_app_with(
    backend: Backend,
    adjust: impl FnOnce(&mut Settings),
) -> Option<TestApp> {
    INIT_LOG.call_once(|| {
        if std::env::var("TEST_LOG").is_ok() {
            let mut s = test_settings(Path::new("."), None);
            s.log.level = "debug".into();
            switchboard::telemetry::init(&s.log);
        }
    });
    let data_dir = tempfile::tempdir().expect("temp dir");
    let url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(fresh_pg_database().await?),
    };
    let mut settings = test_settings(data_dir.path(), url);
    adjust(&mut settings);
    Some(run_app(settings, data_dir).await)
}

/// Builds an app on `settings` and serves it on this test's runtime;
/// `data_dir` lives as long as the returned [`TestApp`].
pub async fn run_app(settings: Settings, data_dir: TempDir) -> TestApp {
    let app = Application::build(
        settings,
        &FirstAdmin {
            email: Some(ADMIN_EMAIL.into()),
            password: Some(ADMIN_PASSWORD.into()),
        },
    )
    .await
    .expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let db = app.db().clone();
    actix_rt::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
        db,
        data_dir,
    }
}

/// Runs a test body once on SQLite and once on PostgreSQL (when configured).
#[macro_export]
macro_rules! on_both {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        $crate::on_both_with! { |_| {}; $(async fn $name($app) $body)* }
    };
}

/// [`on_both!`] for tests that need their own settings: `adjust` (a
/// closure taking `&mut Settings`) runs before each backend's app starts.
#[macro_export]
macro_rules! on_both_with {
    ($adjust:expr; $(async fn $name:ident($app:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($app: $crate::helpers::TestApp) -> $crate::helpers::TestApp {
                $body
                $app
            }
            #[actix_web::test]
            async fn sqlite() {
                let app = $crate::helpers::spawn_app_with($crate::helpers::Backend::Sqlite, $adjust).await;
                run(app.expect("sqlite app")).await.finish().await;
            }
            #[actix_web::test]
            async fn postgres() {
                if let Some(app) = $crate::helpers::spawn_app_with($crate::helpers::Backend::Postgres, $adjust).await {
                    run(app).await.finish().await;
                }
            }
        }
    )*};
}

impl TestApp {
    /// Ends the app cleanly: closing the pool waits for in-flight queries
    /// and refuses new ones, so no connection is dropped after the runtime
    /// is gone; then the actor system (with its worker threads) stops, so
    /// nothing of this test outlives it.
    pub async fn finish(self) {
        let _ = self.db.clone().close().await;
        if let Some(system) = actix_rt::System::try_current() {
            system.stop();
        }
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.address, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.expect("request sent")
    }

    /// GET with a token.
    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.send(Method::GET, path, Some(token), None).await
    }

    /// POST JSON with a token.
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.send(Method::POST, path, Some(token), Some(&body))
            .await
    }

    /// PATCH JSON with a token.
    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Response {
        self.send(Method::PATCH, path, Some(token), Some(&body))
            .await
    }

    /// PUT JSON with a token.
    pub async fn put(&self, path: &str, token: &str, body: Value) -> Response {
        self.send(Method::PUT, path, Some(token), Some(&body)).await
    }

    /// DELETE with a token.
    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.send(Method::DELETE, path, Some(token), None).await
    }

    /// Logs in; the raw response.
    pub async fn login_response(&self, email: &str, password: &str) -> Response {
        self.send(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(&json!({"email": email, "password": password})),
        )
        .await
    }

    /// Logs in and returns the token pair body; panics unless 200.
    pub async fn login(&self, email: &str, password: &str) -> Value {
        let res = self.login_response(email, password).await;
        assert_eq!(res.status(), 200, "login of {email}");
        res.json().await.expect("login body")
    }

    /// The first admin's access token.
    pub async fn admin_token(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await["access_token"]
            .as_str()
            .expect("access token")
            .to_owned()
    }

    /// Creates a user of `role` through the API and logs it in.
    pub async fn create_user(&self, admin_token: &str, role: &str, extra: Value) -> TestUser {
        let n = DB_COUNTER.fetch_add(1, Ordering::SeqCst);
        let email = format!("{role}{n}@test.local");
        let mut body = json!({"email": email, "password": USER_PASSWORD, "name": format!("{role} {n}"), "role": role});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        let res = self.post("/api/v1/users", admin_token, body).await;
        assert_eq!(
            res.status(),
            201,
            "create {role}: {}",
            res.text().await.unwrap_or_default()
        );
        let created: Value = res.json().await.expect("user body");
        let pair = self.login(&email, USER_PASSWORD).await;
        TestUser {
            id: created["id"].as_i64().expect("id"),
            email,
            token: pair["access_token"].as_str().expect("token").to_owned(),
            refresh_token: pair["refresh_token"].as_str().expect("refresh").to_owned(),
        }
    }

    /// Creates a team and returns its id.
    pub async fn create_team(&self, admin_token: &str, name: &str) -> i64 {
        let res = self
            .post("/api/v1/teams", admin_token, json!({"name": name}))
            .await;
        assert_eq!(res.status(), 201, "create team {name}");
        res.json::<Value>().await.expect("team")["id"]
            .as_i64()
            .expect("id")
    }

    /// Counts the rows of a table (to prove a refused request changed nothing).
    pub async fn count(&self, table: &str) -> i64 {
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                self.db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .expect("count query")
            .expect("a row");
        row.try_get::<i64>("", "n").expect("count")
    }
}

/// Asserts a problem+json answer with `status` and `code`, returning the body.
pub async fn assert_problem(res: Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status().as_u16(), status, "status");
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(ct, "application/problem+json", "content type");
    let body: Value = res.json().await.expect("problem body");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(
        body["type"],
        format!("urn:switchboard:problem:{code}"),
        "{body}"
    );
    assert!(body["title"].is_string(), "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    body
}
