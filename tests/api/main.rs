//! Integration tests: the real app on a random port, spoken to over HTTP,
//! on SQLite and (when configured) PostgreSQL. One binary, as the machine
//! has two cores and linking is slow.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;
mod ws_client;

mod assets;
mod auth;
mod cli;
mod cluster;
mod conservation;
mod demo;
mod errors;
mod faults;
mod health;
mod inbox;
mod macros;
mod me;
mod offline;
mod openapi;
mod presence;
mod rbac;
mod realtime;
mod routing;
mod scope;
mod skills;
mod sla;
mod store;
mod tags;
mod teams;
mod triage;
mod users;
mod widget;
mod widget_visitor;
