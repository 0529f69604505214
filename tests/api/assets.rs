//! The web pages under `web/`, served from the binary.

use reqwest::Method;

use crate::helpers::*;

#[actix_web::test]
async fn pages_and_scripts_are_served_with_their_types_and_revalidated_by_etag() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let res = app.send(Method::GET, "/app/", None, None).await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let res = app
        .send(Method::GET, "/widget/switchboard.js", None, None)
        .await;
    assert_eq!(res.status(), 200);
    let ctype = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ctype.contains("javascript"), "{ctype}");
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let again = app
        .client
        .get(format!("{}/widget/switchboard.js", app.address))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    app.finish().await;
}

#[actix_web::test]
async fn unknown_files_and_escapes_get_a_problem_404_and_bare_areas_redirect() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    for path in [
        "/app/nope.js",
        "/widget/../Cargo.toml",
        "/app/%2e%2e/Cargo.toml",
        "/demo/.hidden",
    ] {
        let res = app.send(Method::GET, path, None, None).await;
        assert_eq!(res.status(), 404, "{path}");
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
    }
    let res = app
        .client
        .get(format!("{}/app", app.address))
        .send()
        .await
        .unwrap();
    // reqwest follows the redirect to /app/.
    assert_eq!(res.status(), 200);
    assert!(res.url().path().ends_with("/app/"));
    app.finish().await;
}
