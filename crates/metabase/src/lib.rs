//! `payments metabase-setup`: brings a Metabase (free edition) to the state the platform wants,
//! through its documented REST API, and converges: a second run creates and changes nothing.
//!
//! 1. wait for `GET /api/health` to answer `ok` (Metabase migrates its own database first);
//! 2. `GET /api/session/properties`; if nobody set Metabase up yet, `POST /api/setup` creates
//!    the admin with the setup token;
//! 3. `POST /api/session` logs the admin in (`X-Metabase-Session`);
//! 4. the payments database (`/api/database`), connected as the read-only login role;
//! 5. a collection (`/api/collection`) holding one native question per
//!    [`payments_domain::dashboard::OVERVIEW`] entry (`/api/card`) and the dashboard
//!    (`/api/dashboard`) with every question placed on the 24-column grid.
//!
//! Things are found again by name (database, collection; questions and dashboard inside the
//! collection) and updated only when what we own differs.

mod client;

use std::fmt;
use std::time::Duration;

use payments_domain::dashboard::{Question, Visualization, OVERVIEW};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use client::Client;

/// Everything that can go wrong setting Metabase up.
#[derive(Debug, thiserror::Error)]
pub enum MetabaseError {
    #[error("{method} {path}: {source}")]
    Http {
        method: &'static str,
        path: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{method} {path}: HTTP {status}: {body}")]
    Status {
        method: &'static str,
        path: String,
        status: u16,
        body: String,
    },
    #[error("{method} {path}: unexpected answer: {what}")]
    Shape {
        method: &'static str,
        path: String,
        what: String,
    },
    #[error("Metabase is not healthy yet: {0}")]
    NotReady(String),
    #[error("Metabase did not become healthy within {waited:?}; last: {last}")]
    NeverHealthy { waited: Duration, last: String },
    #[error("invalid database URL: {0}")]
    DatabaseUrl(String),
}

pub type Result<T, E = MetabaseError> = std::result::Result<T, E>;

/// How Metabase connects to the payments database.
#[derive(Debug, Clone)]
pub struct DatabaseConnection {
    pub host: String,
    pub port: u16,
    pub dbname: String,
    /// The read-only login role, never the owner.
    pub user: String,
    pub password: SecretString,
    pub ssl: bool,
}

impl DatabaseConnection {
    /// Host, port, database and TLS of `url` (the owner's URL), with `user` and `password`
    /// instead of the owner's credentials.
    pub fn from_url(url: &str, user: &str, password: SecretString) -> Result<Self> {
        // Only the parser's message: the URL itself carries the owner's password.
        let parsed =
            reqwest::Url::parse(url).map_err(|e| MetabaseError::DatabaseUrl(e.to_string()))?;
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| MetabaseError::DatabaseUrl("no host".into()))?
            .to_owned();
        let dbname = parsed.path().trim_start_matches('/').to_owned();
        if dbname.is_empty() {
            return Err(MetabaseError::DatabaseUrl("no database name".into()));
        }
        let ssl = parsed
            .query_pairs()
            .any(|(k, v)| k == "sslmode" && matches!(&*v, "require" | "verify-ca" | "verify-full"));
        Ok(DatabaseConnection {
            host,
            port: parsed.port().unwrap_or(5432),
            dbname,
            user: user.to_owned(),
            password,
            ssl,
        })
    }

    /// Metabase's `details` of a postgres database.
    fn details(&self) -> Value {
        json!({
            "host": self.host,
            "port": self.port,
            "dbname": self.dbname,
            "user": self.user,
            "password": self.password.expose_secret(),
            "ssl": self.ssl,
        })
    }

    /// Whether Metabase's stored `details` connect the same way. Metabase never returns the
    /// stored password (it answers a placeholder), so it cannot be compared.
    fn same_as(&self, details: &Value) -> bool {
        let port = match &details["port"] {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        };
        details["host"].as_str() == Some(&self.host)
            && port == Some(u64::from(self.port))
            && details["dbname"].as_str() == Some(&self.dbname)
            && details["user"].as_str() == Some(&self.user)
            && details["ssl"].as_bool().unwrap_or(false) == self.ssl
    }
}

/// What `metabase-setup` needs.
#[derive(Debug, Clone)]
pub struct SetupConfig {
    /// Metabase's base URL (`http://payments-metabase:3000`).
    pub url: String,
    pub admin_email: String,
    pub admin_password: SecretString,
    pub database: DatabaseConnection,
    /// The database's name in Metabase.
    pub database_name: String,
    pub collection: String,
    pub dashboard: String,
    /// Send the database password again even when nothing visible changed (after rotating it:
    /// Metabase does not show the stored one, so a change cannot be detected).
    pub update_database_password: bool,
    /// How long to wait for Metabase to become healthy.
    pub startup_timeout: Duration,
}

/// What happened to one thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
        })
    }
}

/// One thing `metabase-setup` looked after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// `admin`, `database`, `collection`, `card` or `dashboard`.
    pub kind: &'static str,
    pub name: String,
    pub outcome: Outcome,
}

/// Everything one run did, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub items: Vec<Item>,
}

impl Summary {
    fn add(&mut self, kind: &'static str, name: &str, outcome: Outcome) {
        tracing::info!(kind, name, %outcome, "metabase-setup");
        self.items.push(Item {
            kind,
            name: name.to_owned(),
            outcome,
        });
    }

    pub fn count(&self, outcome: Outcome) -> usize {
        self.items.iter().filter(|i| i.outcome == outcome).count()
    }

    /// The outcome of the item of `kind` named `name`.
    pub fn outcome(&self, kind: &str, name: &str) -> Option<Outcome> {
        self.items
            .iter()
            .find(|i| i.kind == kind && i.name == name)
            .map(|i| i.outcome)
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "metabase-setup: {} created, {} updated, {} unchanged",
            self.count(Outcome::Created),
            self.count(Outcome::Updated),
            self.count(Outcome::Unchanged)
        )?;
        for item in &self.items {
            writeln!(f, "  {:<10} {:<9} {}", item.kind, item.outcome, item.name)?;
        }
        Ok(())
    }
}

/// Where a question sits on the dashboard's 24-column grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Place {
    pub row: i64,
    pub col: i64,
    pub size_x: i64,
    pub size_y: i64,
}

const GRID_COLUMNS: i64 = 24;

/// Size by kind: a number is small, a table wants the whole width, charts half.
fn size(display: Visualization) -> (i64, i64) {
    match display {
        Visualization::Scalar => (6, 4),
        Visualization::Table => (GRID_COLUMNS, 8),
        Visualization::Line | Visualization::Bar | Visualization::Row | Visualization::Pie => {
            (12, 6)
        }
    }
}

/// The questions in reading order, left to right, wrapping to a new row when one does not fit.
pub fn layout(questions: &[Question]) -> Vec<Place> {
    let (mut row, mut col, mut height) = (0, 0, 0);
    questions
        .iter()
        .map(|q| {
            let (size_x, size_y) = size(q.display);
            if col + size_x > GRID_COLUMNS {
                row += height;
                col = 0;
                height = 0;
            }
            let place = Place {
                row,
                col,
                size_x,
                size_y,
            };
            col += size_x;
            height = height.max(size_y);
            place
        })
        .collect()
}

/// Lists come as an array or, in newer versions, as `{"data": [...]}`.
fn items(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items,
        Value::Object(mut map) => match map.remove("data") {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// A card's native SQL: `dataset_query.native.query` (legacy MBQL, what we send), or the first
/// stage's `native` (MBQL 5, which newer versions answer with).
fn native_sql(card: &Value) -> Option<&str> {
    let query = &card["dataset_query"];
    query["native"]["query"]
        .as_str()
        .or_else(|| query["stages"][0]["native"].as_str())
}

/// A card's database id, in either query shape.
fn query_database(card: &Value) -> Option<i64> {
    card["dataset_query"]["database"]
        .as_i64()
        .or_else(|| card["database_id"].as_i64())
}

/// Waits for Metabase, then brings it to the wanted state. See the crate documentation.
pub async fn setup(config: &SetupConfig) -> Result<Summary> {
    let mut client = Client::new(&config.url)?;
    let mut summary = Summary::default();
    wait_until_healthy(&client, config.startup_timeout).await?;

    let properties = client.get("/api/session/properties").await?;
    if properties["has-user-setup"].as_bool().unwrap_or(false) {
        summary.add("admin", &config.admin_email, Outcome::Unchanged);
    } else {
        let token = properties["setup-token"]
            .as_str()
            .ok_or_else(|| MetabaseError::Shape {
                method: "GET",
                path: "/api/session/properties".into(),
                what: "neither has-user-setup nor a setup-token".into(),
            })?;
        client
            .post(
                "/api/setup",
                &json!({
                    "token": token,
                    "user": {
                        "email": config.admin_email,
                        "password": config.admin_password.expose_secret(),
                        "first_name": "Payments",
                        "last_name": "Admin",
                        "site_name": "Payments",
                    },
                    "prefs": {"site_name": "Payments", "site_locale": "en", "allow_tracking": false},
                }),
            )
            .await?;
        summary.add("admin", &config.admin_email, Outcome::Created);
    }

    let session = client
        .post(
            "/api/session",
            &json!({"username": config.admin_email, "password": config.admin_password.expose_secret()}),
        )
        .await?;
    let session = session["id"]
        .as_str()
        .ok_or_else(|| MetabaseError::Shape {
            method: "POST",
            path: "/api/session".into(),
            what: "no session id".into(),
        })?
        .to_owned();
    client.set_session(SecretString::from(session));

    let database_id = ensure_database(&client, config, &mut summary).await?;
    let collection_id = ensure_collection(&client, config, &mut summary).await?;
    let mut card_ids = Vec::with_capacity(OVERVIEW.len());
    let existing = collection_items(&client, collection_id, "card").await?;
    for question in OVERVIEW {
        card_ids.push(
            ensure_card(
                &client,
                question,
                database_id,
                collection_id,
                &existing,
                &mut summary,
            )
            .await?,
        );
    }
    ensure_dashboard(&client, config, collection_id, &card_ids, &mut summary).await?;
    Ok(summary)
}

/// `GET /api/health` until it answers `{"status": "ok"}`, for at most `timeout`.
async fn wait_until_healthy(client: &Client, timeout: Duration) -> Result<()> {
    let check = || async {
        match client.get("/api/health").await {
            Ok(health) if health["status"] == "ok" => Ok(()),
            Ok(health) => Err(MetabaseError::NotReady(health.to_string())),
            Err(e) => Err(MetabaseError::NotReady(e.to_string())),
        }
    };
    payments_runtime::until_available("waiting for Metabase to become healthy", timeout, check)
        .await
        .map_err(|last| MetabaseError::NeverHealthy {
            waited: timeout,
            last: last.to_string(),
        })
}

async fn ensure_database(
    client: &Client,
    config: &SetupConfig,
    summary: &mut Summary,
) -> Result<i64> {
    let name = &config.database_name;
    let wanted = &config.database;
    let found = items(client.get("/api/database").await?)
        .into_iter()
        .find(|d| d["name"].as_str() == Some(name) && d["engine"] == "postgres");
    let Some(database) = found else {
        let created = client
            .post(
                "/api/database",
                &json!({
                    "engine": "postgres",
                    "name": name,
                    "details": wanted.details(),
                    "is_full_sync": true,
                }),
            )
            .await?;
        summary.add("database", name, Outcome::Created);
        return id_of(&created, "POST", "/api/database");
    };
    let id = id_of(&database, "GET", "/api/database")?;
    if wanted.same_as(&database["details"]) && !config.update_database_password {
        summary.add("database", name, Outcome::Unchanged);
    } else {
        client
            .put(
                &format!("/api/database/{id}"),
                &json!({"engine": "postgres", "name": name, "details": wanted.details()}),
            )
            .await?;
        summary.add("database", name, Outcome::Updated);
    }
    Ok(id)
}

async fn ensure_collection(
    client: &Client,
    config: &SetupConfig,
    summary: &mut Summary,
) -> Result<i64> {
    let name = &config.collection;
    // The root collection's id is "root" and personal collections belong to someone: only a
    // shared, numbered, live collection counts.
    let found = items(client.get("/api/collection").await?)
        .into_iter()
        .find(|c| {
            c["name"].as_str() == Some(name)
                && c["id"].is_i64()
                && c["personal_owner_id"].is_null()
                && !c["archived"].as_bool().unwrap_or(false)
        });
    if let Some(collection) = found {
        summary.add("collection", name, Outcome::Unchanged);
        return id_of(&collection, "GET", "/api/collection");
    }
    let created = client
        .post(
            "/api/collection",
            &json!({
                "name": name,
                "description": "Provisioned by `payments metabase-setup`; edits to its questions are overwritten.",
                "parent_id": null,
            }),
        )
        .await?;
    summary.add("collection", name, Outcome::Created);
    id_of(&created, "POST", "/api/collection")
}

/// The collection's live items of one model (`card`, `dashboard`).
async fn collection_items(client: &Client, collection_id: i64, model: &str) -> Result<Vec<Value>> {
    Ok(items(
        client
            .get(&format!(
                "/api/collection/{collection_id}/items?models={model}"
            ))
            .await?,
    )
    .into_iter()
    .filter(|i| i["model"].as_str().is_none_or(|m| m == model))
    .collect())
}

async fn ensure_card(
    client: &Client,
    question: &Question,
    database_id: i64,
    collection_id: i64,
    existing: &[Value],
    summary: &mut Summary,
) -> Result<i64> {
    let body = json!({
        "name": question.name,
        "description": question.description,
        "display": question.display.as_str(),
        "collection_id": collection_id,
        "dataset_query": {
            "type": "native",
            "database": database_id,
            "native": {"query": question.sql, "template-tags": {}},
        },
    });
    let found = existing
        .iter()
        .find(|c| c["name"].as_str() == Some(question.name));
    let Some(item) = found else {
        let mut create = body;
        create["visualization_settings"] = json!({});
        let created = client.post("/api/card", &create).await?;
        summary.add("card", question.name, Outcome::Created);
        return id_of(&created, "POST", "/api/card");
    };
    let id = id_of(item, "GET", "/api/collection/:id/items")?;
    // The collection listing leaves the query out; the card itself has it.
    let card = client.get(&format!("/api/card/{id}")).await?;
    let same = native_sql(&card) == Some(question.sql)
        && card["display"].as_str() == Some(question.display.as_str())
        && card["description"].as_str() == Some(question.description)
        && query_database(&card) == Some(database_id);
    if same {
        summary.add("card", question.name, Outcome::Unchanged);
    } else {
        // Only the fields we own: someone's visualization settings stay.
        client.put(&format!("/api/card/{id}"), &body).await?;
        summary.add("card", question.name, Outcome::Updated);
    }
    Ok(id)
}

async fn ensure_dashboard(
    client: &Client,
    config: &SetupConfig,
    collection_id: i64,
    card_ids: &[i64],
    summary: &mut Summary,
) -> Result<()> {
    let name = &config.dashboard;
    let found = collection_items(client, collection_id, "dashboard")
        .await?
        .into_iter()
        .find(|d| d["name"].as_str() == Some(name));
    let (id, created) = match found {
        Some(dashboard) => (
            id_of(&dashboard, "GET", "/api/collection/:id/items")?,
            false,
        ),
        None => {
            let dashboard = client
                .post(
                    "/api/dashboard",
                    &json!({
                        "name": name,
                        "description": "Payments platform overview (provisioned by `payments metabase-setup`).",
                        "collection_id": collection_id,
                    }),
                )
                .await?;
            (id_of(&dashboard, "POST", "/api/dashboard")?, true)
        }
    };
    let path = format!("/api/dashboard/{id}");
    let dashboard = client.get(&path).await?;
    // `dashcards` since 0.47, `ordered_cards` before.
    let current = match &dashboard["dashcards"] {
        Value::Array(cards) => cards.clone(),
        _ => dashboard["ordered_cards"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    };
    let place_of = |c: &Value| {
        Some((
            c["card_id"].as_i64()?,
            Place {
                row: c["row"].as_i64()?,
                col: c["col"].as_i64()?,
                size_x: c["size_x"].as_i64()?,
                size_y: c["size_y"].as_i64()?,
            },
        ))
    };
    let mut have: Vec<Option<(i64, Place)>> = current.iter().map(place_of).collect();
    have.sort();
    let places = layout(OVERVIEW);
    let mut want: Vec<Option<(i64, Place)>> = card_ids
        .iter()
        .copied()
        .zip(places.iter().copied())
        .map(Some)
        .collect();
    want.sort();
    if have == want {
        summary.add("dashboard", name, Outcome::Unchanged);
        return Ok(());
    }
    // Existing dashcards keep their ids; new ones get negative ids, which Metabase replaces.
    let mut new_id = 0;
    let dashcards: Vec<Value> = card_ids
        .iter()
        .zip(&places)
        .map(|(card_id, place)| {
            let id = current
                .iter()
                .find(|c| c["card_id"].as_i64() == Some(*card_id))
                .and_then(|c| c["id"].as_i64())
                .unwrap_or_else(|| {
                    new_id -= 1;
                    new_id
                });
            json!({
                "id": id,
                "card_id": card_id,
                "row": place.row,
                "col": place.col,
                "size_x": place.size_x,
                "size_y": place.size_y,
                "parameter_mappings": [],
                "visualization_settings": {},
                "series": [],
            })
        })
        .collect();
    client.put(&path, &json!({"dashcards": dashcards})).await?;
    summary.add(
        "dashboard",
        name,
        if created {
            Outcome::Created
        } else {
            Outcome::Updated
        },
    );
    Ok(())
}

fn id_of(value: &Value, method: &'static str, path: &str) -> Result<i64> {
    value["id"].as_i64().ok_or_else(|| MetabaseError::Shape {
        method,
        path: path.to_owned(),
        what: "no numeric id".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_fits_the_grid_without_overlaps() {
        let places = layout(OVERVIEW);
        assert_eq!(places.len(), OVERVIEW.len());
        for (i, a) in places.iter().enumerate() {
            assert!(a.col + a.size_x <= GRID_COLUMNS, "{a:?}");
            for b in &places[i + 1..] {
                let apart = a.col + a.size_x <= b.col
                    || b.col + b.size_x <= a.col
                    || a.row + a.size_y <= b.row
                    || b.row + b.size_y <= a.row;
                assert!(apart, "{a:?} overlaps {b:?}");
            }
        }
    }

    #[test]
    fn connection_comes_from_the_owner_url_with_the_reader_credentials() {
        let db = DatabaseConnection::from_url(
            "postgres://owner:ownerpw@db.example:6543/payments?sslmode=require",
            "payments_metabase",
            SecretString::from("readerpw"),
        )
        .expect("valid");
        assert_eq!(
            (
                db.host.as_str(),
                db.port,
                db.dbname.as_str(),
                db.user.as_str(),
                db.ssl
            ),
            ("db.example", 6543, "payments", "payments_metabase", true)
        );
        assert_eq!(db.details()["password"], "readerpw");
        let err = DatabaseConnection::from_url("postgres://owner:ownerpw@/", "r", "p".into())
            .expect_err("no host");
        assert!(!err.to_string().contains("ownerpw"), "{err}");
    }

    #[test]
    fn both_query_shapes_are_read() {
        let legacy = json!({"dataset_query": {"database": 3, "native": {"query": "SELECT 1"}}});
        let mbql5 = json!({"database_id": 3, "dataset_query": {"lib/type": "mbql/query",
            "stages": [{"lib/type": "mbql.stage/native", "native": "SELECT 1"}]}});
        for card in [legacy, mbql5] {
            assert_eq!(native_sql(&card), Some("SELECT 1"));
            assert_eq!(query_database(&card), Some(3));
        }
    }
}
