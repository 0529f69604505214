//! The `switchboard` command: run the server, migrate the database, manage users.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use switchboard::auth::password;
use switchboard::bootstrap::FirstAdmin;
use switchboard::config::{Overrides, Settings};
use switchboard::domain::{Capacity, DisplayName, Email, Password, Role};
use switchboard::startup::Application;
use switchboard::{store, telemetry};

/// jemalloc rather than glibc malloc. Measured with 15,000 idle sockets
/// (docs/benchmarks.md, idle): less resident per socket and some 55 MiB
/// less resident heap left over from start-up and set-up traffic.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// A C string pointer jemalloc reads once, at its first allocation.
#[repr(transparent)]
struct MallocConf(*const std::ffi::c_char);

// SAFETY: it points at a `'static`, immutable C string literal.
unsafe impl Sync for MallocConf {}

/// jemalloc's compiled-in options (`_RJEM_MALLOC_CONF` in the environment
/// still overrides them). Freed pages go back to the kernel at once instead
/// of after 10 s: otherwise a new connection's two 8 KiB HTTP buffers land on
/// pages that earlier garbage had already touched, so their never-written
/// halves count as resident too. That is 4 KiB of 21 per idle staff socket
/// (20.5 → 16.6 KiB) and 1.5 per customer socket. `steady` at 1,000 msg/s
/// showed no CPU cost beyond this shared machine's noise (0.19–0.27 CPU-s per
/// 1,000 messages over four runs, 0.22–0.25 with the default decay, 0.24–0.25
/// with glibc malloc), and 46 MiB resident against glibc's 214 MiB.
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: MallocConf = MallocConf(c"dirty_decay_ms:0,muzzy_decay_ms:0".as_ptr());

/// Switchboard: realtime customer-support chat.
///
/// Settings come from config/default.toml, then config/<profile>.toml, then
/// SWITCHBOARD__SECTION__KEY environment variables (for example
/// SWITCHBOARD__SERVER__BIND=0.0.0.0:8080), then the flags below.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    /// Settings profile: reads config/<profile>.toml on top of the defaults.
    #[arg(
        long,
        env = "SWITCHBOARD_PROFILE",
        default_value = "development",
        global = true
    )]
    profile: String,
    /// Directory holding default.toml and <profile>.toml.
    #[arg(
        long,
        env = "SWITCHBOARD_CONFIG_DIR",
        default_value = "config",
        global = true
    )]
    config_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (HTTP API, WebSockets, web pages). Migrates the
    /// database first; on an empty database creates the first admin from
    /// SWITCHBOARD_ADMIN_EMAIL and SWITCHBOARD_ADMIN_PASSWORD, or prints a
    /// generated password once.
    Serve {
        #[command(flatten)]
        place: Place,
        /// Address to listen on [default: 127.0.0.1:8080].
        #[arg(long)]
        bind: Option<String>,
        /// Redis URL; joins a cluster of nodes sharing one PostgreSQL.
        #[arg(long)]
        redis_url: Option<String>,
        /// Seed a demo desk (admin, two teams, three agents, rules, macros)
        /// if missing, and print its logins. The passwords are public.
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate {
        #[command(flatten)]
        place: Place,
    },
    /// Manage staff users.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user (migrates the database first if needed).
    Create {
        #[command(flatten)]
        place: Place,
        /// Login e-mail.
        #[arg(long)]
        email: String,
        /// Password, 8 to 128 characters.
        #[arg(long)]
        password: String,
        /// admin, supervisor or agent.
        #[arg(long, value_parser = ["admin", "supervisor", "agent"])]
        role: String,
        /// Display name [default: the part of the e-mail before @].
        #[arg(long)]
        name: Option<String>,
    },
}

/// Where the data lives; shared by every command.
#[derive(Args)]
struct Place {
    /// Directory for the SQLite database and the generated signing key [default: ./data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Database URL: postgres://user@host/db for PostgreSQL [default: SQLite in the data dir].
    #[arg(long)]
    database_url: Option<String>,
}

impl Place {
    fn overrides(&self) -> Overrides {
        Overrides {
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            ..Overrides::default()
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let system = actix_rt::System::new();
    match system.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let load = |overrides: Overrides| Settings::load(&cli.config_dir, &cli.profile, &overrides);
    match &cli.command {
        Command::Serve {
            place,
            bind,
            redis_url,
            demo,
        } => {
            let settings = load(Overrides {
                bind: bind.clone(),
                redis_url: redis_url.clone(),
                ..place.overrides()
            })?;
            telemetry::init(&settings.log);
            let host = settings.bind_addr()?.ip();
            let app = Application::build(settings, &FirstAdmin::from_env()).await?;
            let report = if *demo {
                Some(switchboard::demo::seed(app.db()).await?)
            } else {
                None
            };
            // One line on stdout with the real port (bind port 0 picks one),
            // for people and for scripts that start the server.
            let base = format!("http://{host}:{}", app.port());
            println!("Switchboard listening on {base}");
            if let Some(report) = report {
                println!("{}", switchboard::demo::banner(&base, &report));
            }
            app.run_until_signalled().await?;
        }
        Command::Migrate { place } => {
            let settings = load(place.overrides())?;
            telemetry::init(&settings.log);
            let db = store::connect(&settings).await?;
            store::migrate(&db).await?;
            println!("database is up to date");
        }
        Command::User(UserCommand::Create {
            place,
            email,
            password,
            role,
            name,
        }) => {
            let settings = load(place.overrides())?;
            telemetry::init(&settings.log);
            let email = Email::parse(email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
            let password =
                Password::parse(password).map_err(|e| anyhow::anyhow!("--password: {e}"))?;
            let default_name = email
                .as_str()
                .split('@')
                .next()
                .unwrap_or("user")
                .to_owned();
            let name = DisplayName::parse(name.as_deref().unwrap_or(&default_name))
                .map_err(|e| anyhow::anyhow!("--name: {e}"))?;
            let role = Role::parse(role).ok_or_else(|| anyhow::anyhow!("--role: unknown role"))?;
            let db = store::connect(&settings).await?;
            store::migrate(&db).await?;
            let hash = password::hash(&password).await?;
            let txn = store::begin(&db).await?;
            let user = store::users::insert(
                &txn,
                &store::users::NewUser {
                    email,
                    name,
                    password_hash: hash,
                    role,
                    capacity: Capacity::DEFAULT,
                },
            )
            .await
            .map_err(|e| match e {
                store::StoreError::Conflict(_) => {
                    anyhow::anyhow!("a user with this e-mail already exists")
                }
                other => other.into(),
            })?;
            store::audit::record(
                &txn,
                store::audit::AuditEntry {
                    actor: None,
                    action: "user.create",
                    target_type: "user",
                    target_id: Some(user.id),
                    details: serde_json::json!({"email": user.email, "role": user.role, "via": "cli"}),
                    ip: None,
                },
            )
            .await?;
            txn.commit().await?;
            println!("created {} {} (id {})", user.role, user.email, user.id);
        }
    }
    Ok(())
}
