//! `switchboard serve --demo`: seeds a small support desk (an admin, two
//! teams, three agents with skills, routing rules, shared macros, widget
//! branding) so a newcomer can open the demo shop as a customer in one tab,
//! the staff app as an agent in another, and chat within a minute.
//!
//! Seeding is idempotent: each item is looked up by its natural key (e-mail,
//! team name, rule name, macro title) and created only when missing, so a
//! restart changes nothing and never resets what someone edited meanwhile.
//! Everything is written in one transaction.

use std::collections::BTreeMap;

use serde_json::json;

use crate::auth::password::{self, PasswordError};
use crate::domain::routing::RuleConditions;
use crate::domain::{
    Capacity, DisplayName, Email, Password, Role, SkillName, TeamId, TeamName, UserId,
    ValidationError,
};
use crate::store::{self, Db, StoreError};

/// Password of the demo admin. Public on purpose: demo data only.
pub const ADMIN_PASSWORD: &str = "demo-admin-1";
/// Password of every demo agent.
pub const AGENT_PASSWORD: &str = "demo-agent-1";

/// Why seeding failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A built-in value did not validate (a bug in this file).
    #[error("demo data: {0}")]
    Invalid(#[from] ValidationError),
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Hashing failure.
    #[error(transparent)]
    Password(#[from] PasswordError),
}

/// One login to print.
#[derive(Debug, Clone)]
pub struct DemoLogin {
    /// `admin` or `agent`.
    pub role: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Login e-mail.
    pub email: &'static str,
    /// Login password (unchanged if someone changed it since).
    pub password: &'static str,
    /// What the agent handles, for the printout.
    pub about: &'static str,
}

/// What seeding did.
#[derive(Debug, Clone)]
pub struct DemoReport {
    /// Every demo login, admin first.
    pub logins: Vec<DemoLogin>,
    /// How many rows were created this time (0 on a restart).
    pub created: usize,
}

/// A demo agent.
struct Agent {
    login: DemoLogin,
    capacity: i64,
    teams: &'static [&'static str],
    skills: &'static [(&'static str, u8)],
}

const TEAMS: [&str; 2] = ["Support", "Billing"];

fn agents() -> [Agent; 3] {
    [
        Agent {
            login: DemoLogin {
                role: "agent",
                name: "Ana Souza",
                email: "ana@demo.switchboard.test",
                password: AGENT_PASSWORD,
                about: "Support; speaks Spanish and Portuguese",
            },
            capacity: 3,
            teams: &["Support"],
            skills: &[("language:es", 5), ("language:pt", 4)],
        },
        Agent {
            login: DemoLogin {
                role: "agent",
                name: "Bruno Keller",
                email: "bruno@demo.switchboard.test",
                password: AGENT_PASSWORD,
                about: "Billing",
            },
            capacity: 2,
            teams: &["Billing"],
            skills: &[("billing", 5)],
        },
        Agent {
            login: DemoLogin {
                role: "agent",
                name: "Chen Li",
                email: "chen@demo.switchboard.test",
                password: AGENT_PASSWORD,
                about: "Support and Billing",
            },
            capacity: 4,
            teams: &["Support", "Billing"],
            skills: &[("billing", 3), ("language:en", 5)],
        },
    ]
}

fn admin() -> DemoLogin {
    DemoLogin {
        role: "admin",
        name: "Demo Admin",
        email: "admin@demo.switchboard.test",
        password: ADMIN_PASSWORD,
        about: "sees every conversation; configures everything",
    }
}

/// (title, content) of the shared macros.
const MACROS: [(&str, &str); 4] = [
    (
        "Greeting",
        "Hi! Thanks for reaching out to Demo Shop. How can I help you today?",
    ),
    (
        "Order status",
        "Let me check that order for you. Could you give me the order number (it starts with DS-)?",
    ),
    (
        "Refund policy",
        "You can return anything within **30 days** for a full refund. Start here: https://shop.example/returns",
    ),
    (
        "Closing",
        "Glad I could help! If anything else comes up, just open the chat again. Have a great day!",
    ),
];

/// Seeds what is missing and reports the logins.
pub async fn seed(db: &Db) -> Result<DemoReport, DemoError> {
    let mut created = 0usize;
    let admin = admin();
    let agents = agents();
    // Hash outside the transaction: it is slow, and only the missing users need it.
    let mut hashes: BTreeMap<&str, String> = BTreeMap::new();
    for login in std::iter::once(&admin).chain(agents.iter().map(|a| &a.login)) {
        let email = Email::parse(login.email)?;
        if store::users::find_by_email(db, &email).await?.is_none() {
            hashes.insert(
                login.email,
                password::hash(&Password::parse(login.password)?).await?,
            );
        }
    }

    let txn = store::begin(db).await.map_err(StoreError::from)?;
    let mut team_ids: BTreeMap<&str, TeamId> = BTreeMap::new();
    let existing = store::teams::list(&txn, None, 1000).await?;
    for name in TEAMS {
        let id = match existing.iter().find(|t| t.name == name) {
            Some(t) => TeamId(t.id),
            None => {
                created += 1;
                let fallback = (name == "Billing").then(|| team_ids.get("Support").copied());
                TeamId(
                    store::teams::insert(
                        &txn,
                        &store::teams::NewTeam {
                            name: TeamName::parse(name)?,
                            // Billing questions nobody takes within two
                            // minutes go to Support, to show overflow.
                            fallback_team: fallback.flatten(),
                            overflow_after_s: (name == "Billing").then_some(120),
                            auto_assign: true,
                            sla_first_response_s: Some(300),
                            sla_resolution_s: None,
                        },
                    )
                    .await?
                    .id,
                )
            }
        };
        team_ids.insert(name, id);
    }

    let new_admin = if let Some(hash) = hashes.remove(admin.email) {
        created += 1;
        store::users::insert(
            &txn,
            &store::users::NewUser {
                email: Email::parse(admin.email)?,
                name: DisplayName::parse(admin.name)?,
                password_hash: hash,
                role: Role::Admin,
                capacity: Capacity::DEFAULT,
            },
        )
        .await?;
        true
    } else {
        false
    };

    for agent in &agents {
        let Some(hash) = hashes.remove(agent.login.email) else {
            continue;
        };
        created += 1;
        let user = store::users::insert(
            &txn,
            &store::users::NewUser {
                email: Email::parse(agent.login.email)?,
                name: DisplayName::parse(agent.login.name)?,
                password_hash: hash,
                role: Role::Agent,
                capacity: Capacity::parse(agent.capacity)?,
            },
        )
        .await?;
        let id = UserId(user.id);
        let teams: Vec<TeamId> = agent
            .teams
            .iter()
            .filter_map(|t| team_ids.get(t).copied())
            .collect();
        store::users::set_teams(&txn, id, &teams).await?;
        let names = agent
            .skills
            .iter()
            .map(|(n, _)| SkillName::parse(n))
            .collect::<Result<Vec<_>, _>>()?;
        let skill_ids = store::skills::ensure(&txn, &names).await?;
        let levels: Vec<(i64, u8)> = skill_ids
            .iter()
            .zip(agent.skills.iter())
            .map(|((_, skill), (_, level))| (skill.0, *level))
            .collect();
        store::users::set_skills(&txn, id, &levels).await?;
    }

    created += seed_rules(&txn, &team_ids).await?;

    let shared = store::macros::list_for(
        &txn,
        crate::domain::UserId(0),
        store::macros::MacroScope::Global,
        None,
        1000,
    )
    .await?;
    for (title, content) in MACROS {
        if !shared.iter().any(|m| m.title == title) {
            created += 1;
            store::macros::insert(
                &txn,
                None,
                &crate::domain::inbox::MacroTitle::parse(title)?,
                &crate::domain::inbox::MacroContent::parse(content)?,
            )
            .await?;
        }
    }

    // Branding only on the first demo start, so later edits in the admin
    // console survive restarts.
    if new_admin {
        store::widget_settings::put(
            &txn,
            entity::widget_settings::Model {
                title: "Demo Shop help".to_owned(),
                welcome_message: "Hi! 👋 Ask us about an order, a bill or anything else."
                    .to_owned(),
                primary_color: "#0f766e".to_owned(),
                position: "right".to_owned(),
                pre_chat_fields: json!([
                    {"name": "order_number", "label": "Order number (optional)", "type": "text", "required": false}
                ]),
                offline_message:
                    "Nobody from Demo Shop is online right now. Leave a message and we'll e-mail you back."
                        .to_owned(),
                ..store::widget_settings::defaults()
            },
        )
        .await?;
    }
    txn.commit().await.map_err(StoreError::from)?;

    let mut logins = vec![admin];
    logins.extend(agents.into_iter().map(|a| a.login));
    Ok(DemoReport { logins, created })
}

/// Two rules: billing questions to Billing with the `billing` skill, and
/// Spanish speakers to an agent who speaks Spanish.
async fn seed_rules(
    db: &impl sea_orm::ConnectionTrait,
    teams: &BTreeMap<&str, TeamId>,
) -> Result<usize, DemoError> {
    let existing = store::routing_rules::list(db).await?;
    let rules = [
        (
            "Billing questions",
            10,
            RuleConditions {
                issue_type: Some("Billing".to_owned()),
                language: None,
                channel: None,
                custom_fields: BTreeMap::new(),
            },
            teams.get("Billing").copied(),
            BTreeMap::from([("billing".to_owned(), 2u8)]),
        ),
        (
            "Spanish speakers",
            20,
            RuleConditions {
                issue_type: None,
                language: Some("es".to_owned()),
                channel: None,
                custom_fields: BTreeMap::new(),
            },
            teams.get("Support").copied(),
            BTreeMap::from([("language:es".to_owned(), 3u8)]),
        ),
    ];
    let mut created = 0;
    for (name, position, conditions, team, required_skills) in rules {
        if existing.iter().any(|r| r.name == name) {
            continue;
        }
        let names = required_skills
            .keys()
            .map(|n| SkillName::parse(n))
            .collect::<Result<Vec<_>, _>>()?;
        store::skills::ensure(db, &names).await?;
        store::routing_rules::insert(
            db,
            &store::routing_rules::RuleInput {
                name: name.to_owned(),
                position,
                conditions,
                team,
                required_skills,
                priority: 0,
                active: true,
            },
        )
        .await?;
        created += 1;
    }
    Ok(created)
}

/// The text `serve --demo` prints once the server listens at `base`.
pub fn banner(base: &str, report: &DemoReport) -> String {
    let mut out = format!(
        "\nDemo desk ready ({} new rows).\n  customer: {base}/demo/   (the demo shop with the chat widget)\n  \
         staff:    {base}/app/    (sign in as an agent and go online)\n\n  logins:\n",
        report.created
    );
    for l in &report.logins {
        out.push_str(&format!(
            "    {:<6} {:<30} {:<14} {}\n",
            l.role, l.email, l.password, l.about
        ));
    }
    out.push_str(
        "\n  Try it: sign in as Chen Li (both teams) in one tab, open the demo shop in\n  \
         another, start a chat and answer it. These passwords are public: never\n  \
         run --demo where others can reach the server.\n",
    );
    out
}
