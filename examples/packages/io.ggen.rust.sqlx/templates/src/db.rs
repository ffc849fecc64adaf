//! The database: connecting, migrating, and the queries on `items`.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

/// A row of `items`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Item {
    /// Primary key, assigned by the database.
    pub id: i64,
    /// Display name.
    pub name: String,
}

/// Opens the SQLite database at `url` (such as `sqlite://app.db`), creating
/// the file if needed, and applies the migrations in `migrations/`.
pub async fn connect(url: &str) -> Result<SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::from_str(url)?.create_if_missing(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(5)
        .connect_with(options)
        .await?;
    sqlx::migrate!().run(&pool).await?;
    Ok(pool)
}

/// A new, empty in-memory database with the schema applied, for tests.
/// It has a single connection that is never closed, because every SQLite
/// in-memory connection is a database of its own.
pub async fn memory() -> Result<SqlitePool, sqlx::Error> {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect("sqlite::memory:")
        .await?;
    sqlx::migrate!().run(&pool).await?;
    Ok(pool)
}

/// All items, oldest first.
pub async fn list(pool: &SqlitePool) -> Result<Vec<Item>, sqlx::Error> {
    sqlx::query_as("SELECT id, name FROM items ORDER BY id")
        .fetch_all(pool)
        .await
}

/// The item with this id, if any.
pub async fn get(pool: &SqlitePool, id: i64) -> Result<Option<Item>, sqlx::Error> {
    sqlx::query_as("SELECT id, name FROM items WHERE id = ?")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Stores a new item and returns it with its id.
pub async fn insert(pool: &SqlitePool, name: &str) -> Result<Item, sqlx::Error> {
    sqlx::query_as("INSERT INTO items (name) VALUES (?) RETURNING id, name")
        .bind(name)
        .fetch_one(pool)
        .await
}

/// Deletes the item with this id; false if there was none.
pub async fn delete(pool: &SqlitePool, id: i64) -> Result<bool, sqlx::Error> {
    let result = sqlx::query("DELETE FROM items WHERE id = ?")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(result.rows_affected() > 0)
}
