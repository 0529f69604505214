//! The `switchboard` binary itself: help, bad config, `user create`,
//! `migrate`, first-admin bootstrap and graceful shutdown on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

fn command(data_dir: &std::path::Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("SWITCHBOARD_PROFILE", "test")
        .env_remove("SWITCHBOARD_ADMIN_EMAIL")
        .env_remove("SWITCHBOARD_ADMIN_PASSWORD")
        .env_remove("SWITCHBOARD__DATABASE__URL")
        .arg("--profile")
        .arg("test");
    let _ = data_dir;
    c
}

#[test]
fn help_names_every_command() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["serve", "migrate", "user", "SWITCHBOARD__"] {
        assert!(text.contains(word), "{word} missing from:\n{text}");
    }
    let out = Command::new(BIN)
        .args(["user", "create", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["--email", "--password", "--role", "--database-url"] {
        assert!(text.contains(word), "{word} missing from:\n{text}");
    }
}

#[test]
fn a_bad_setting_stops_start_up_with_its_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path())
        .args(["migrate", "--data-dir"])
        .arg(dir.path())
        .env("SWITCHBOARD__SERVER__BIND", "nowhere")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("server.bind"), "{err}");
}

#[test]
fn user_create_makes_a_user_and_refuses_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let create = |email: &str| {
        command(dir.path())
            .args([
                "user",
                "create",
                "--email",
                email,
                "--password",
                "cli-password",
                "--role",
                "supervisor",
                "--data-dir",
            ])
            .arg(dir.path())
            .output()
            .unwrap()
    };
    let out = create("Cli@Test.local");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("created supervisor cli@test.local"));
    let out = create("cli@test.local");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let out = command(dir.path())
        .args(["migrate", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = command(dir.path())
        .args([
            "user",
            "create",
            "--email",
            "x@y.z",
            "--password",
            "short",
            "--role",
            "agent",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--password"));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `serve`, waits for /healthz, returns the child and any stdout lines seen.
fn serve(dir: &std::path::Path, port: u16) -> (std::process::Child, Vec<String>) {
    let mut child = command(dir)
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    let lines = rx.try_iter().collect();
    (child, lines)
}

#[actix_web::test]
async fn serve_prints_a_generated_admin_password_once_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (mut child, lines) = serve(dir.path(), port);
    let password = lines
        .iter()
        .find_map(|l| {
            l.trim()
                .strip_prefix("password:")
                .map(|p| p.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no password printed in {lines:?}"));
    let client = reqwest::Client::new();
    let res = client
        .post(format!("http://127.0.0.1:{port}/api/v1/auth/login"))
        .json(&json!({"email": "admin@switchboard.local", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "server ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(exit.success(), "exit status {exit:?}");

    // A second start finds the admin and prints no password.
    let port = free_port();
    let (mut child, lines) = serve(dir.path(), port);
    assert!(!lines.iter().any(|l| l.contains("password:")), "{lines:?}");
    child.kill().unwrap();
    child.wait().unwrap();
}
