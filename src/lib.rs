//! Switchboard: a realtime customer-support chat engine.
//!
//! # Layout
//!
//! - [`config`]: layered settings (files < env < flags), validated at start.
//! - [`domain`]: pure types and rules (ids, roles, validated values, error
//!   codes); no I/O, unit-testable.
//! - [`auth`]: password hashing, access tokens, refresh tokens, login limits.
//! - [`store`]: every SQL query, grouped by aggregate (SeaORM; SQLite or
//!   PostgreSQL). Entities live in the `entity` crate, migrations in `migration`.
//! - [`http`]: REST routes by audience, problem+json errors, OpenAPI.
//! - [`bootstrap`]: the first admin of an empty database; [`demo`]: the
//!   demo desk of `serve --demo`.
//! - [`startup`]: builds the app and runs it; [`telemetry`]: logs.
//!
//! Actors (`actors/`) and cross-node addressing (`bus/`) arrive with the
//! realtime core; see `docs/architecture.md`.

pub mod actors;
pub mod auth;
pub mod bootstrap;
pub mod bus;
pub mod config;
pub mod demo;
pub mod domain;
pub mod http;
pub mod startup;
pub mod store;
pub mod telemetry;
