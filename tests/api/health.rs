//! Liveness, readiness, request ids.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::*;

#[actix_web::test]
async fn healthz_and_readyz_answer_and_carry_a_request_id() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let res = app.send(Method::GET, "/healthz", None, None).await;
    assert_eq!(res.status(), 200);
    let id = res
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(uuid_like(&id), "{id}");
    let res = app.send(Method::GET, "/readyz", None, None).await;
    assert_eq!(res.status(), 200);
    let other = res
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(id, other);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["database"], "ok");
    app.finish().await;
}

#[actix_web::test]
async fn readyz_reports_503_when_the_database_is_gone() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    app.db.clone().close().await.unwrap();
    let res = app.send(Method::GET, "/readyz", None, None).await;
    assert_eq!(res.status(), 503);
    let res = app.send(Method::GET, "/healthz", None, None).await;
    assert_eq!(res.status(), 200, "the process itself is still up");
    app.finish().await;
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
}
