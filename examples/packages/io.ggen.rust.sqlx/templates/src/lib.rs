//! {{ description }}
//!
//! The HTTP API, backed by SQLite:
//!
//! | method and path | does |
//! |---|---|
//! | `GET /health` | answers `ok` once the database answers |
//! | `GET /api/v1/items` | lists all items |
//! | `POST /api/v1/items` | creates an item from `{"name": "..."}` |
//! | `GET /api/v1/items/{id}` | one item, or 404 |
//! | `DELETE /api/v1/items/{id}` | deletes an item, or 404 |

pub mod db;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use sqlx::SqlitePool;
use tower_http::trace::TraceLayer;

pub use db::Item;

/// The body of `POST /api/v1/items`.
#[derive(Debug, Deserialize)]
pub struct NewItem {
    /// Display name; must not be blank.
    pub name: String,
}

/// Builds the application on a connection pool.
pub fn app(pool: SqlitePool) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/api/v1/items", get(list_items).post(create_item))
        .route("/api/v1/items/{id}", get(get_item).delete(delete_item))
        .layer(TraceLayer::new_for_http())
        .with_state(pool)
}

/// A database error, answered as 500 and logged (the client does not see
/// the details).
struct ApiError(sqlx::Error);

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        ApiError(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        tracing::error!("database error: {}", self.0);
        (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
    }
}

async fn health(State(pool): State<SqlitePool>) -> Result<&'static str, ApiError> {
    sqlx::query("SELECT 1").execute(&pool).await?;
    Ok("ok")
}

async fn list_items(State(pool): State<SqlitePool>) -> Result<Json<Vec<Item>>, ApiError> {
    Ok(Json(db::list(&pool).await?))
}

async fn create_item(
    State(pool): State<SqlitePool>,
    Json(new): Json<NewItem>,
) -> Result<Response, ApiError> {
    let name = new.name.trim();
    if name.is_empty() {
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, "name must not be blank").into_response());
    }
    let item = db::insert(&pool, name).await?;
    Ok((StatusCode::CREATED, Json(item)).into_response())
}

async fn get_item(
    State(pool): State<SqlitePool>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    Ok(match db::get(&pool, id).await? {
        Some(item) => Json(item).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    })
}

async fn delete_item(
    State(pool): State<SqlitePool>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    Ok(if db::delete(&pool, id).await? {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    })
}
