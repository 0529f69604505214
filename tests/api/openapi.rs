//! The OpenAPI document lists every route with its schemas.

use serde_json::Value;

use crate::helpers::*;
use crate::rbac::routes;

#[actix_web::test]
async fn the_document_lists_every_route_with_its_method_and_schemas() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let res = app
        .client
        .get(format!("{}/api/v1/openapi.json", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = 0;
    for route in routes() {
        let template = route
            .path
            .replace("{uid}", "{id}")
            .replace("{tid}", "{id}")
            .replace("{sid}", "{id}")
            .replace("{cid}", "{id}")
            .replace("{rid}", "{id}")
            .replace("{gid}", "{id}")
            .replace("{mid}", "{id}")
            .replace("{vid}", "{id}");
        let template = template.split('?').next().unwrap_or(&template).to_owned();
        let method = route.method.as_str().to_lowercase();
        let op = &paths
            .get(&template)
            .unwrap_or_else(|| panic!("{template} missing"))[&method];
        assert!(op.is_object(), "{method} {template} missing");
        assert!(
            op["responses"].is_object(),
            "{method} {template} has no responses"
        );
        if route.min > crate::rbac::Min::Public {
            assert!(
                op["responses"]["401"].is_object(),
                "{method} {template} lacks 401"
            );
            assert!(
                op["security"].is_array(),
                "{method} {template} lacks security"
            );
        }
        documented += 1;
    }
    let total: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        total, documented,
        "the document has routes the route table lacks"
    );
    for schema in [
        "Problem",
        "UserView",
        "TeamView",
        "CreateUser",
        "TokenPair",
        "ErrorCode",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "schema {schema}"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    app.finish().await;
}
