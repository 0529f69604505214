//! The wire: REST routes grouped by audience, the error format, OpenAPI.
//! Handlers translate between HTTP and the store (or, later, actor
//! messages); they hold no rules of their own.

pub mod assets;
pub mod auth;
pub mod business_hours;
pub mod conversations;
pub mod cors;
pub mod csat;
pub mod errors;
pub mod extract;
pub mod health;
pub mod inbox;
pub mod macros;
pub mod me;
pub mod nul_guard;
pub mod openapi;
pub mod pagination;
pub mod reports;
pub mod routing_rules;
pub mod skills;
pub mod tags;
pub mod teams;
pub mod transcripts;
pub mod triage;
pub mod users;
pub mod visitor;
pub mod widget;
pub mod widget_settings;
pub mod ws;

use std::sync::Arc;

use actix_web::web;

use crate::auth::{LoginLimiter, TokenKeys};
use crate::bus::Bus;
use crate::config::Settings;
use crate::store::Db;

pub use errors::ApiError;

/// What every handler may use; cloned cheaply into each worker.
pub struct AppState {
    /// The database pool.
    pub db: Db,
    /// Access-token keys.
    pub keys: TokenKeys,
    /// Login attempt budgets.
    pub login_limiter: LoginLimiter,
    /// The settings the process started with.
    pub settings: Arc<Settings>,
    /// Reaches the actors.
    pub bus: Bus,
    /// The group-commit writer (new widget conversations join its groups).
    pub committer: crate::actors::committer::Committer,
    /// This node's name.
    pub node_id: String,
}

/// Mounts every route, with the JSON/path/query error handlers that turn
/// extractor failures into problem+json.
pub fn config(cfg: &mut web::ServiceConfig, max_body_bytes: usize) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(max_body_bytes)
            .error_handler(errors::json_error),
    )
    .app_data(web::PathConfig::default().error_handler(errors::path_error))
    .app_data(web::QueryConfig::default().error_handler(errors::query_error))
    .service(health::healthz)
    .service(health::readyz)
    .service(ws::agent_socket)
    .service(ws::customer_socket)
    .configure(assets::routes)
    .service(
        web::scope("/api/v1")
            .wrap(actix_web::middleware::from_fn(move |req, next| {
                nul_guard::refuse_nul(req, next, max_body_bytes)
            }))
            .wrap(actix_web::middleware::from_fn(cors::widget_api))
            .configure(auth::routes)
            .configure(me::routes)
            .configure(users::routes)
            .configure(teams::routes)
            .configure(skills::routes)
            .configure(widget::routes)
            .configure(widget_settings::routes)
            .configure(business_hours::routes)
            .configure(conversations::routes)
            .configure(routing_rules::routes)
            .configure(triage::routes)
            .configure(reports::routes)
            .configure(visitor::routes)
            .configure(csat::routes)
            .configure(transcripts::routes)
            .configure(tags::routes)
            .configure(macros::routes)
            .configure(inbox::routes)
            .service(openapi::document),
    )
    .default_service(web::to(errors::not_found));
}
