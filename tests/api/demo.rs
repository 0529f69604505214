//! `switchboard serve --demo` on the real binary: it seeds the demo desk,
//! prints logins that work, and a restart seeds nothing twice.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

/// A running `serve --demo`, its base URL and everything it printed up to
/// the end of the demo banner.
struct Demo {
    child: Child,
    base: String,
    lines: Vec<String>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &std::path::Path) -> Demo {
    let mut child = Command::new(BIN)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("SWITCHBOARD_PROFILE", "test")
        .env_remove("SWITCHBOARD_ADMIN_EMAIL")
        .env_remove("SWITCHBOARD_ADMIN_PASSWORD")
        .env_remove("SWITCHBOARD__DATABASE__URL")
        .args(["serve", "--demo", "--bind", "127.0.0.1:0", "--data-dir"])
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
    let mut lines: Vec<String> = Vec::new();
    // The banner ends with the warning about public passwords.
    while !lines.iter().any(|l| l.contains("run --demo where others")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(_) => panic!("no demo banner; printed so far: {lines:#?}"),
        }
    }
    let base = lines
        .iter()
        .find_map(|l| l.strip_prefix("Switchboard listening on "))
        .unwrap_or_else(|| panic!("no address in {lines:#?}"))
        .trim()
        .to_owned();
    Demo { child, base, lines }
}

/// (role, email, password) of each printed login.
fn logins(lines: &[String]) -> Vec<(String, String, String)> {
    lines
        .iter()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let role = words.next()?;
            if role != "admin" && role != "agent" {
                return None;
            }
            let email = words.next()?;
            let password = words.next()?;
            email
                .contains('@')
                .then(|| (role.to_owned(), email.to_owned(), password.to_owned()))
        })
        .collect()
}

async fn login(client: &reqwest::Client, base: &str, email: &str, password: &str) -> Value {
    let res = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "login of {email}");
    res.json().await.unwrap()
}

async fn get(client: &reqwest::Client, base: &str, path: &str, token: &str) -> Value {
    let res = client
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "GET {path}");
    res.json().await.unwrap()
}

/// Row counts of the seeded tables, read from the demo's own SQLite file.
async fn counts(dir: &std::path::Path) -> Vec<i64> {
    let url = format!("sqlite://{}?mode=ro", dir.join("switchboard.db").display());
    let db = Database::connect(url).await.unwrap();
    let mut out = Vec::new();
    for table in [
        "users",
        "teams",
        "team_members",
        "agent_skills",
        "routing_rules",
        "macros",
    ] {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap();
        out.push(row.try_get::<i64>("", "n").unwrap());
    }
    db.close().await.unwrap();
    out
}

#[actix_web::test]
async fn serve_demo_seeds_a_desk_whose_printed_logins_work_and_a_restart_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let demo = start(dir.path());
    let text = demo.lines.join("\n");
    assert!(text.contains(&format!("{}/demo/", demo.base)), "{text}");
    assert!(text.contains(&format!("{}/app/", demo.base)), "{text}");
    let printed = logins(&demo.lines);
    assert_eq!(
        printed.iter().filter(|l| l.0 == "admin").count(),
        1,
        "{printed:?}"
    );
    assert_eq!(
        printed.iter().filter(|l| l.0 == "agent").count(),
        3,
        "{printed:?}"
    );
    let mut admin_token = String::new();
    for (role, email, password) in &printed {
        let pair = login(&client, &demo.base, email, password).await;
        assert_eq!(pair["user"]["role"], role.as_str(), "{email}");
        if role == "admin" {
            admin_token = pair["access_token"].as_str().unwrap().to_owned();
        }
    }

    let teams = get(&client, &demo.base, "/api/v1/teams", &admin_token).await;
    let mut names: Vec<String> = teams["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["Billing", "Support"]);
    let agents = get(
        &client,
        &demo.base,
        "/api/v1/users?role=agent",
        &admin_token,
    )
    .await;
    let agents = agents["items"].as_array().unwrap();
    assert_eq!(agents.len(), 3);
    for a in agents {
        assert!(!a["teams"].as_array().unwrap().is_empty(), "{a}");
        assert!(!a["skills"].as_object().unwrap().is_empty(), "{a}");
    }
    assert!(
        agents
            .iter()
            .any(|a| a["skills"]["language:es"].as_i64() >= Some(3)),
        "someone speaks Spanish"
    );
    assert!(agents.iter().any(|a| a["skills"]["billing"].is_number()));
    assert!(
        agents
            .iter()
            .any(|a| a["teams"].as_array().unwrap().len() == 2),
        "someone is in both teams"
    );
    let rules = get(&client, &demo.base, "/api/v1/routing-rules", &admin_token).await;
    assert_eq!(rules["items"].as_array().unwrap().len(), 2);
    let settings = get(&client, &demo.base, "/api/v1/widget/settings", &admin_token).await;
    assert_eq!(settings["title"], "Demo Shop help");
    // The demo pages are there.
    for path in ["/demo/", "/app/", "/widget/switchboard.js"] {
        let res = client
            .get(format!("{}{path}", demo.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
    let first = counts(dir.path()).await;
    assert_eq!(first[5], 4, "four shared macros");
    drop(demo);

    let again = start(dir.path());
    assert!(
        again.lines.iter().any(|l| l.contains("(0 new rows)")),
        "{:#?}",
        again.lines
    );
    assert_eq!(
        counts(dir.path()).await,
        first,
        "a restart seeds nothing twice"
    );
    let (_, email, password) = &logins(&again.lines)[0];
    login(&client, &again.base, email, password).await;
}
