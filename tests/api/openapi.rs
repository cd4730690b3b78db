//! The OpenAPI document: served without auth, describing every route the server registers;
//! a wrong method is a 405 naming the allowed ones.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::helpers::{assert_problem, spawn_app};

/// (METHOD, path) of every handler `server::routes` registers, read from the source: the
/// registration list, and each handler's actix route attribute.
fn registered_routes() -> BTreeSet<(String, String)> {
    let root = env!("CARGO_MANIFEST_DIR");
    let server = std::fs::read_to_string(format!("{root}/src/http/server.rs")).unwrap();
    let routes = &server[server.find("fn routes(").expect("server.rs has fn routes")..];
    let routes = &routes[..routes.find("\n}\n").unwrap()];
    assert!(
        !server.contains(".route(") && !server.contains("web::resource("),
        "routes are registered with .service(handler) only, so each is described"
    );
    let mut found = BTreeSet::new();
    let mut prefix = "";
    for line in routes.lines().map(str::trim) {
        if let Some(scope) = line.strip_prefix("scope(\"") {
            prefix = scope.split('"').next().unwrap();
        }
        let Some(handler) = line
            .strip_prefix(".service(")
            .and_then(|h| h.split(')').next())
            .filter(|h| h.contains("::"))
        else {
            continue;
        };
        let (module, name) = handler.split_once("::").unwrap();
        // A module is a file, or a folder of files.
        let source = std::fs::read_to_string(format!("{root}/src/http/{module}.rs"))
            .or_else(|_| {
                let mut all = String::new();
                for file in std::fs::read_dir(format!("{root}/src/http/{module}"))? {
                    all += &std::fs::read_to_string(file?.path())?;
                }
                Ok::<_, std::io::Error>(all)
            })
            .unwrap();
        let at = source
            .find(&format!("async fn {name}("))
            .unwrap_or_else(|| panic!("{handler} is defined in src/http/{module}"));
        let attribute = source[..at].rfind("#[").map(|i| &source[i..at]).unwrap();
        let (method, rest) = attribute[2..].split_once("(\"").unwrap();
        let path = rest.split('"').next().unwrap();
        found.insert((method.to_uppercase(), format!("{prefix}{path}")));
    }
    found
}

#[actix_web::test]
async fn the_document_describes_every_registered_route_and_needs_no_key() {
    let app = spawn_app().await;
    let response = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(response.status(), 200);
    let spec: Value = response.json().await.unwrap();
    assert!(
        spec["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        spec["openapi"]
    );

    let described: BTreeSet<(String, String)> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|m| ["get", "post", "put", "delete", "patch"].contains(&m.as_str()))
                .map(|m| (m.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let registered = registered_routes();
    assert!(registered.len() >= 38, "{registered:?}");
    let missing: Vec<_> = registered.difference(&described).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the spec: {missing:?}"
    );
    let phantom: Vec<_> = described.difference(&registered).collect();
    assert!(phantom.is_empty(), "described but not served: {phantom:?}");

    // Every API operation but the document itself takes the key and says how it fails.
    for (method, path) in &described {
        let operation = &spec["paths"][path][method.to_lowercase()];
        if path.starts_with("/api/v1/") && path != "/api/v1/openapi.json" {
            assert_eq!(
                operation["security"][0]["api_key"],
                serde_json::json!([]),
                "{method} {path}"
            );
            for status in ["400", "401", "404"] {
                assert_eq!(
                    operation["responses"][status]["content"]["application/problem+json"]["schema"]
                        ["$ref"],
                    "#/components/schemas/Problem",
                    "{method} {path} {status}"
                );
            }
        }
        assert!(
            operation["responses"]["200"].is_object()
                || operation["responses"]["201"].is_object()
                || operation["responses"]["202"].is_object()
                || operation["responses"]["204"].is_object()
                || operation["responses"]["101"].is_object()
                || operation["responses"]["303"].is_object(),
            "{method} {path}"
        );
    }
    let commands = &spec["paths"]["/api/v1/orders/{order_id}/tags"]["post"];
    let headers: Vec<&str> = commands["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["in"] == "header")
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(headers, ["If-Match", "Idempotency-Key"]);
    assert_eq!(
        spec["components"]["securitySchemes"]["api_key"]["scheme"],
        "bearer"
    );
}

#[actix_web::test]
async fn a_wrong_method_is_a_405_naming_the_allowed_ones() {
    let app = spawn_app().await;
    let send = |method: reqwest::Method, path: &str| {
        app.client
            .request(method, app.url(path))
            .bearer_auth(&app.admin_key)
            .send()
    };
    let response = send(reqwest::Method::DELETE, "/api/v1/orders")
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "GET");
    assert_problem(response, 405, "method_not_allowed").await;
    let response = send(
        reqwest::Method::GET,
        "/api/v1/orders/576653688135258178/hold",
    )
    .await
    .unwrap();
    assert_eq!(response.headers()["allow"], "POST");
    assert_problem(response, 405, "method_not_allowed").await;
    let response = send(reqwest::Method::PATCH, "/api/v1/shops").await.unwrap();
    assert_eq!(response.headers()["allow"], "GET, POST");
    assert_problem(response, 405, "method_not_allowed").await;
    let response = send(reqwest::Method::GET, "/api/v1/nothing-here")
        .await
        .unwrap();
    assert_problem(response, 404, "not_found").await;
}
