//! The widget's branding and texts: admins change them here; every widget
//! reads them through `POST /widget/init`.

use actix_web::{HttpRequest, HttpResponse, get, put, web};
use chrono::{DateTime, Utc};
use entity::widget_settings;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::errors::{Checks, Problem};
use super::extract::Staff;
use super::{ApiError, AppState};
use crate::domain::Role;
use crate::store;
use crate::store::audit;

/// Mounts the routes of this file.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(get_settings).service(put_settings);
}

/// The widget's branding and texts.
#[derive(Debug, Serialize, ToSchema)]
pub struct WidgetSettingsView {
    /// Header title.
    pub title: String,
    /// First thing the visitor reads.
    pub welcome_message: String,
    /// `#rrggbb`.
    pub primary_color: String,
    /// Optional logo (https URL).
    pub logo_url: Option<String>,
    /// `left` or `right`.
    pub position: String,
    /// Admin-defined pre-chat fields: `[{name, label, type, required, options?}]`.
    #[schema(value_type = Vec<Object>)]
    pub pre_chat_fields: Value,
    /// Shown with "leave a message".
    pub offline_message: String,
    /// Last saved.
    pub updated_at: DateTime<Utc>,
}

impl From<widget_settings::Model> for WidgetSettingsView {
    fn from(m: widget_settings::Model) -> Self {
        WidgetSettingsView {
            title: m.title,
            welcome_message: m.welcome_message,
            primary_color: m.primary_color,
            logo_url: m.logo_url,
            position: m.position,
            pre_chat_fields: m.pre_chat_fields,
            offline_message: m.offline_message,
            updated_at: m.updated_at,
        }
    }
}

/// Body of `PUT /widget/settings`: the complete settings.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WidgetSettingsBody {
    /// 1–60 characters.
    pub title: String,
    /// 1–500 characters.
    pub welcome_message: String,
    /// `#rrggbb`.
    pub primary_color: String,
    /// An `https://` URL, or null.
    pub logo_url: Option<String>,
    /// `left` or `right`.
    pub position: String,
    /// Up to 10 fields `{name, label, type: text|email|select|textarea, required, options?}`.
    #[schema(value_type = Vec<Object>)]
    pub pre_chat_fields: Vec<PreChatField>,
    /// 1–500 characters.
    pub offline_message: String,
}

/// One admin-defined pre-chat field.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreChatField {
    /// Key in `custom_fields`: a-z, 0-9, `_`.
    pub name: String,
    /// Shown to the visitor.
    pub label: String,
    /// `text`, `email`, `select` or `textarea`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Must be filled in.
    #[serde(default)]
    pub required: bool,
    /// Choices of a `select`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

fn text(checks: &mut Checks, field: &str, v: &str, max: usize) {
    let n = v.trim().chars().count();
    if n == 0 || n > max || v.chars().any(|c| c.is_control() && c != '\n') {
        checks.fail(field, format!("must be 1 to {max} characters"));
    }
}

/// The widget settings (staff).
#[utoipa::path(get, path = "/api/v1/widget/settings", tag = "widget", security(("bearer" = [])),
    responses((status = 200, body = WidgetSettingsView), (status = 401, body = Problem)))]
#[get("/widget/settings")]
pub async fn get_settings(
    state: web::Data<AppState>,
    _staff: Staff,
) -> Result<HttpResponse, ApiError> {
    let s = store::widget_settings::get(&state.db).await?;
    Ok(HttpResponse::Ok().json(WidgetSettingsView::from(s)))
}

/// Replace the widget settings (admin).
#[utoipa::path(put, path = "/api/v1/widget/settings", tag = "widget",
    request_body = WidgetSettingsBody, security(("bearer" = [])),
    responses((status = 200, body = WidgetSettingsView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
#[put("/widget/settings")]
pub async fn put_settings(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    body: web::Json<WidgetSettingsBody>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Admin)?;
    let b = body.into_inner();
    let mut checks = Checks::default();
    text(&mut checks, "title", &b.title, 60);
    text(&mut checks, "welcome_message", &b.welcome_message, 500);
    text(&mut checks, "offline_message", &b.offline_message, 500);
    let color_ok = b.primary_color.len() == 7
        && b.primary_color.starts_with('#')
        && b.primary_color[1..].chars().all(|c| c.is_ascii_hexdigit());
    if !color_ok {
        checks.fail("primary_color", "must be a colour like #2563eb");
    }
    if b.logo_url.as_deref().is_some_and(|u| {
        !u.starts_with("https://") || u.len() > 500 || u.contains(['"', '<', '>', ' '])
    }) {
        checks.fail("logo_url", "must be an https:// URL");
    }
    if b.position != "left" && b.position != "right" {
        checks.fail("position", "must be left or right");
    }
    if b.pre_chat_fields.len() > 10 {
        checks.fail("pre_chat_fields", "at most 10 fields");
    }
    for (i, f) in b.pre_chat_fields.iter().enumerate() {
        let field = format!("pre_chat_fields.{i}");
        if f.name.is_empty()
            || f.name.len() > 40
            || !f
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            checks.fail(&field, "name must be 1 to 40 of a-z, 0-9, _");
        }
        text(&mut checks, &format!("{field}.label"), &f.label, 80);
        if !["text", "email", "select", "textarea"].contains(&f.kind.as_str()) {
            checks.fail(&field, "type must be text, email, select or textarea");
        }
        if (f.kind == "select") == f.options.is_empty() {
            checks.fail(&field, "a select needs options; other types take none");
        }
    }
    checks.finish()?;
    let model = widget_settings::Model {
        id: 1,
        title: b.title.trim().to_owned(),
        welcome_message: b.welcome_message.trim().to_owned(),
        primary_color: b.primary_color.to_lowercase(),
        logo_url: b.logo_url,
        position: b.position,
        pre_chat_fields: serde_json::to_value(&b.pre_chat_fields).unwrap_or_default(),
        offline_message: b.offline_message.trim().to_owned(),
        updated_at: Utc::now(),
    };
    let txn = store::begin(&state.db).await?;
    let saved = store::widget_settings::put(&txn, model).await?;
    audit::record(
        &txn,
        staff.audit(
            &req,
            "widget_settings.update",
            "widget_settings",
            1,
            json!({}),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(WidgetSettingsView::from(saved)))
}
