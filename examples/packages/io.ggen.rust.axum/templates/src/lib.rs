//! {{ description }}
//!
//! The HTTP API:
//!
//! | method and path | does |
//! |---|---|
//! | `GET /health` | answers `ok` |
//! | `GET /api/v1/items` | lists all items |
//! | `POST /api/v1/items` | creates an item from `{"name": "..."}` |
//! | `GET /api/v1/items/{id}` | one item, or 404 |
//! | `DELETE /api/v1/items/{id}` | deletes an item, or 404 |

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tower_http::trace::TraceLayer;

/// An item as stored and returned by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// Identifier assigned by the server.
    pub id: u64,
    /// Display name.
    pub name: String,
}

/// The body of `POST /api/v1/items`.
#[derive(Debug, Deserialize)]
pub struct NewItem {
    /// Display name; must not be blank.
    pub name: String,
}

/// State shared by all requests: the items, in memory.
#[derive(Debug, Clone, Default)]
pub struct AppState {
    store: Arc<RwLock<Store>>,
}

#[derive(Debug, Default)]
struct Store {
    last_id: u64,
    items: BTreeMap<u64, Item>,
}

/// Builds the application: routes, state and request tracing.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/api/v1/items", get(list_items).post(create_item))
        .route("/api/v1/items/{id}", get(get_item).delete(delete_item))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn health() -> &'static str {
    "ok"
}

async fn list_items(State(state): State<AppState>) -> Json<Vec<Item>> {
    let store = state.store.read().expect("store lock poisoned");
    Json(store.items.values().cloned().collect())
}

async fn create_item(
    State(state): State<AppState>,
    Json(new): Json<NewItem>,
) -> Result<(StatusCode, Json<Item>), (StatusCode, &'static str)> {
    let name = new.name.trim();
    if name.is_empty() {
        return Err((StatusCode::UNPROCESSABLE_ENTITY, "name must not be blank"));
    }
    let mut store = state.store.write().expect("store lock poisoned");
    store.last_id += 1;
    let item = Item {
        id: store.last_id,
        name: name.to_owned(),
    };
    store.items.insert(item.id, item.clone());
    Ok((StatusCode::CREATED, Json(item)))
}

async fn get_item(
    State(state): State<AppState>,
    Path(id): Path<u64>,
) -> Result<Json<Item>, StatusCode> {
    let store = state.store.read().expect("store lock poisoned");
    store
        .items
        .get(&id)
        .cloned()
        .map(Json)
        .ok_or(StatusCode::NOT_FOUND)
}

async fn delete_item(State(state): State<AppState>, Path(id): Path<u64>) -> StatusCode {
    let mut store = state.store.write().expect("store lock poisoned");
    match store.items.remove(&id) {
        Some(_) => StatusCode::NO_CONTENT,
        None => StatusCode::NOT_FOUND,
    }
}
