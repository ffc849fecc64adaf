//! API tests against a fresh in-memory database each.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use {{ crate_name }}::{Item, app, db};

async fn new_app() -> Router {
    app(db::memory().await.expect("in-memory database"))
}

async fn send(app: &Router, method: &str, uri: &str, json: Option<&str>) -> (StatusCode, Vec<u8>) {
    let request = Request::builder().method(method).uri(uri);
    let request = match json {
        Some(json) => request
            .header("content-type", "application/json")
            .body(Body::from(json.to_owned())),
        None => request.body(Body::empty()),
    };
    let response = app.clone().oneshot(request.unwrap()).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, body.to_vec())
}

#[tokio::test]
async fn health_checks_the_database() {
    let app = new_app().await;
    let (status, body) = send(&app, "GET", "/health", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, b"ok");
}

#[tokio::test]
async fn items_are_stored_listed_fetched_and_deleted() {
    let app = new_app().await;

    let (status, body) = send(&app, "POST", "/api/v1/items", Some(r#"{"name":"first"}"#)).await;
    assert_eq!(status, StatusCode::CREATED);
    let first: Item = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        first,
        Item {
            id: 1,
            name: "first".to_owned()
        }
    );
    send(&app, "POST", "/api/v1/items", Some(r#"{"name":"second"}"#)).await;

    let (status, body) = send(&app, "GET", "/api/v1/items", None).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<String> = serde_json::from_slice::<Vec<Item>>(&body)
        .unwrap()
        .into_iter()
        .map(|item| item.name)
        .collect();
    assert_eq!(names, ["first", "second"]);

    let (status, body) = send(&app, "GET", "/api/v1/items/1", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(serde_json::from_slice::<Item>(&body).unwrap(), first);

    let (status, _) = send(&app, "DELETE", "/api/v1/items/1", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = send(&app, "DELETE", "/api/v1/items/1", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_blank_name_is_rejected() {
    let app = new_app().await;
    let (status, body) = send(&app, "POST", "/api/v1/items", Some(r#"{"name":" "}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body, b"name must not be blank");
}
