//! `metabase-setup` against a stand-in for Metabase's REST API that follows the documented
//! endpoints and JSON shapes and records every call.
//!
//! Sources of each request and answer shape:
//! - the flow (setup token from `GET /api/session/properties`, `POST /api/setup`, then a
//!   database, native questions and a dashboard on the free edition):
//!   <https://www.metabase.com/articles/set-up-metabase-from-code-with-the-api>
//! - `GET /api/session/properties` (`setup-token`, `has-user-setup`), `POST /api/session`
//!   (`username`, `password` → `{"id": ...}`): <https://metabase.com/docs/latest/api/session>
//! - `POST /api/setup` (`token`, `user` with `email`/`password`/names/`site_name`, `prefs`):
//!   <https://metabase.com/docs/master/api/setup>
//! - the `X-Metabase-Session` header and `{"id": ...}` session answers:
//!   <https://www.metabase.com/learn/administration/metabase-api>,
//!   <https://github.com/metabase/metabase/wiki/Using-the-REST-API>
//! - `GET/POST /api/database`, `PUT /api/database/:id` (`engine`, `name`, `details`; lists as
//!   `{"data": [...]}`; the stored password is never returned):
//!   <https://metabase.com/docs/master/api/database>
//! - `GET/POST /api/collection`, `GET /api/collection/:id/items?models=` (the root collection's
//!   id is `"root"`; personal collections have `personal_owner_id`):
//!   <https://www.metabase.com/docs/master/api/collection>
//! - `POST /api/card`, `GET/PUT /api/card/:id` (`dataset_query` of type `native`, `display`,
//!   `collection_id`, `visualization_settings`): <https://www.metabase.com/docs/latest/api/card>
//! - `POST /api/dashboard`, `GET /api/dashboard/:id`, `PUT /api/dashboard/:id` with `dashcards`
//!   (`card_id`, `row`, `col`, `size_x`, `size_y`; new ones with negative ids):
//!   <https://www.metabase.com/docs/master/api/dashboard>
//! - `GET /api/health` (`{"status": "ok"}`, 503 while starting): the chart's probes and
//!   <https://www.metabase.com/articles/set-up-metabase-from-code-with-the-api>

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use payments_domain::dashboard::OVERVIEW;
use payments_metabase::{setup, DatabaseConnection, Outcome, SetupConfig, Summary};
use secrecy::SecretString;
use serde_json::{json, Value};

const HIDDEN_PASSWORD: &str = "**MetabasePass**";
const ADMIN: &str = "admin@payments.localtest.me";
const ADMIN_PASSWORD: &str = "s3cret-admin-1234";
const OWNER_URL: &str = "postgres://payments:owner-secret@postgresql:5432/payments";
const READER: &str = "payments_metabase";
const READER_PASSWORD: &str = "reader-secret";

#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub body: Value,
}

/// What the stand-in holds, as Metabase would.
#[derive(Default)]
pub struct Metabase {
    /// `/api/health` answers 503 this many more times.
    pub starting: usize,
    pub health_calls: usize,
    pub admin: Option<(String, String)>,
    sessions: Vec<String>,
    next_id: i64,
    pub databases: Vec<Value>,
    pub collections: Vec<Value>,
    pub cards: Vec<Value>,
    pub dashboards: Vec<Value>,
    pub calls: Vec<Call>,
}

impl Metabase {
    fn id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn card_named(&mut self, name: &str) -> &mut Value {
        self.cards
            .iter_mut()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no card {name}"))
    }

    /// Calls that change something: every POST but logging in, every PUT.
    pub fn changing_calls(&self) -> Vec<&Call> {
        self.calls
            .iter()
            .filter(|c| c.method == "PUT" || (c.method == "POST" && c.path != "/api/session"))
            .collect()
    }
}

type Shared = Arc<Mutex<Metabase>>;

fn lock(state: &Shared) -> MutexGuard<'_, Metabase> {
    state.lock().expect("stand-in state")
}

pub struct StandIn {
    pub addr: SocketAddr,
    pub state: Shared,
}

impl StandIn {
    pub async fn start() -> StandIn {
        let state: Shared = Arc::default();
        let shared = state.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = shared.clone();
                async move { handle(&state, method, uri, headers, body) }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        StandIn { addr, state }
    }

    pub fn lock(&self) -> MutexGuard<'_, Metabase> {
        lock(&self.state)
    }

    pub fn config(&self) -> SetupConfig {
        SetupConfig {
            url: format!("http://{}", self.addr),
            admin_email: ADMIN.into(),
            admin_password: SecretString::from(ADMIN_PASSWORD),
            database: DatabaseConnection::from_url(
                OWNER_URL,
                READER,
                SecretString::from(READER_PASSWORD),
            )
            .expect("database URL"),
            database_name: "Payments".into(),
            collection: "Payments".into(),
            dashboard: "Overview".into(),
            update_database_password: false,
            startup_timeout: Duration::from_secs(30),
        }
    }

    pub async fn run(&self) -> Summary {
        self.lock().calls.clear();
        setup(&self.config()).await.expect("metabase-setup")
    }
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn ok(body: Value) -> Response {
    answer(StatusCode::OK, body)
}

fn not_found() -> Response {
    answer(StatusCode::NOT_FOUND, json!({"message": "Not found."}))
}

/// A database as `GET /api/database` shows it: the password replaced.
fn shown(database: &Value) -> Value {
    let mut database = database.clone();
    database["details"]["password"] = json!(HIDDEN_PASSWORD);
    database
}

fn item(value: &Value, model: &str) -> Value {
    json!({"id": value["id"], "name": value["name"], "model": model,
           "description": value["description"]})
}

fn handle(state: &Shared, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut mb = lock(state);
    mb.calls.push(Call {
        method: method.to_string(),
        path: uri.path().to_owned(),
        body: body.clone(),
    });
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    // Path ids are numbers; anything else matches nothing.
    let id = segments
        .get(2)
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(-1);
    let query = uri.query().unwrap_or("");

    // Public endpoints.
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["api", "health"]) => {
            mb.health_calls += 1;
            if mb.starting > 0 {
                mb.starting -= 1;
                return answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"status": "initializing", "progress": 0.3}),
                );
            }
            return ok(json!({"status": "ok"}));
        }
        ("GET", ["api", "session", "properties"]) => {
            let setup = mb.admin.is_some();
            return ok(
                json!({"has-user-setup": setup, "setup-token": "setup-token-1",
                             "version": {"tag": "v0.64.2.2"}}),
            );
        }
        ("POST", ["api", "setup"]) => {
            if mb.admin.is_some() || body["token"] != "setup-token-1" {
                return answer(StatusCode::FORBIDDEN, json!({"message": "already set up"}));
            }
            let user = &body["user"];
            let (Some(email), Some(password)) = (user["email"].as_str(), user["password"].as_str())
            else {
                return answer(
                    StatusCode::BAD_REQUEST,
                    json!({"errors": {"user": "required"}}),
                );
            };
            mb.admin = Some((email.to_owned(), password.to_owned()));
            // The admin's personal collection, which setup must not mistake for its own.
            let id = mb.id();
            mb.collections.push(
                json!({"id": id, "name": "Payments Admin's Personal Collection",
                                       "personal_owner_id": 1, "archived": false}),
            );
            let session = format!("session-{}", mb.id());
            mb.sessions.push(session.clone());
            return ok(json!({"id": session}));
        }
        ("POST", ["api", "session"]) => {
            let given = (body["username"].as_str(), body["password"].as_str());
            return match &mb.admin {
                Some((email, password)) if given == (Some(email), Some(password)) => {
                    let session = format!("session-{}", mb.id());
                    mb.sessions.push(session.clone());
                    ok(json!({"id": session}))
                }
                _ => answer(
                    StatusCode::UNAUTHORIZED,
                    json!({"errors": {"password": "did not match"}}),
                ),
            };
        }
        _ => {}
    }

    let session = headers
        .get("X-Metabase-Session")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !mb.sessions.iter().any(|s| s == session) {
        return (StatusCode::UNAUTHORIZED, "Unauthenticated").into_response();
    }

    match (method.as_str(), segments.as_slice()) {
        ("GET", ["api", "database"]) => {
            let data: Vec<Value> = mb.databases.iter().map(shown).collect();
            ok(json!({"data": data, "total": data.len()}))
        }
        ("POST", ["api", "database"]) => {
            if body["engine"].as_str().is_none() || !body["details"].is_object() {
                return answer(
                    StatusCode::BAD_REQUEST,
                    json!({"errors": {"details": "required"}}),
                );
            }
            let mut database = body.clone();
            database["id"] = json!(mb.id());
            mb.databases.push(database.clone());
            ok(shown(&database))
        }
        ("PUT", ["api", "database", _]) => {
            let Some(database) = mb.databases.iter_mut().find(|d| d["id"] == id) else {
                return not_found();
            };
            if let Some(details) = body["details"].as_object() {
                let kept = database["details"]["password"].clone();
                database["details"] = Value::Object(details.clone());
                if body["details"]["password"] == HIDDEN_PASSWORD {
                    database["details"]["password"] = kept;
                }
            }
            ok(shown(database))
        }
        ("GET", ["api", "collection"]) => {
            let mut all = vec![json!({"id": "root", "name": "Our analytics", "can_write": true})];
            all.extend(mb.collections.iter().cloned());
            ok(Value::Array(all))
        }
        ("POST", ["api", "collection"]) => {
            let mut collection = body.clone();
            collection["id"] = json!(mb.id());
            collection["personal_owner_id"] = Value::Null;
            collection["archived"] = json!(false);
            mb.collections.push(collection.clone());
            ok(collection)
        }
        ("GET", ["api", "collection", id, "items"]) => {
            let Ok(id) = id.parse::<i64>() else {
                return not_found();
            };
            let mut data = Vec::new();
            if query.contains("card") {
                data.extend(
                    mb.cards
                        .iter()
                        .filter(|c| c["collection_id"] == id && c["archived"] == false)
                        .map(|c| item(c, "card")),
                );
            }
            if query.contains("dashboard") {
                data.extend(
                    mb.dashboards
                        .iter()
                        .filter(|d| d["collection_id"] == id && d["archived"] == false)
                        .map(|d| item(d, "dashboard")),
                );
            }
            ok(json!({"data": data, "total": data.len()}))
        }
        ("POST", ["api", "card"]) => {
            let native = body["dataset_query"]["native"]["query"].as_str().is_some();
            if body["name"].as_str().is_none()
                || !native
                || body["display"].as_str().is_none()
                || !body["visualization_settings"].is_object()
            {
                return answer(
                    StatusCode::BAD_REQUEST,
                    json!({"errors": {"card": "invalid"}}),
                );
            }
            let mut card = body.clone();
            card["id"] = json!(mb.id());
            card["archived"] = json!(false);
            mb.cards.push(card.clone());
            ok(card)
        }
        ("GET", ["api", "card", _]) => match mb.cards.iter().find(|c| c["id"] == id) {
            Some(card) => ok(card.clone()),
            None => not_found(),
        },
        ("PUT", ["api", "card", _]) => {
            let Some(card) = mb.cards.iter_mut().find(|c| c["id"] == id) else {
                return not_found();
            };
            if let Some(fields) = body.as_object() {
                for (key, value) in fields {
                    card[key] = value.clone();
                }
            }
            ok(card.clone())
        }
        ("POST", ["api", "dashboard"]) => {
            let mut dashboard = body.clone();
            dashboard["id"] = json!(mb.id());
            dashboard["archived"] = json!(false);
            dashboard["dashcards"] = json!([]);
            mb.dashboards.push(dashboard.clone());
            ok(dashboard)
        }
        ("GET", ["api", "dashboard", _]) => match mb.dashboards.iter().find(|d| d["id"] == id) {
            Some(dashboard) => ok(dashboard.clone()),
            None => not_found(),
        },
        ("PUT", ["api", "dashboard", _]) => {
            let Some(index) = mb.dashboards.iter().position(|d| d["id"] == id) else {
                return not_found();
            };
            if let Some(cards) = body["dashcards"].as_array() {
                let mut placed = Vec::new();
                for card in cards {
                    let mut card = card.clone();
                    if card["id"].as_i64().is_none_or(|id| id < 0) {
                        card["id"] = json!(mb.id());
                    }
                    placed.push(card);
                }
                mb.dashboards[index]["dashcards"] = Value::Array(placed);
            }
            ok(mb.dashboards[index].clone())
        }
        _ => not_found(),
    }
}

#[tokio::test]
async fn the_first_run_creates_everything_and_the_second_changes_nothing() {
    let metabase = StandIn::start().await;
    let first = metabase.run().await;
    println!("{first}");
    assert_eq!(first.outcome("admin", ADMIN), Some(Outcome::Created));
    assert_eq!(
        first.outcome("database", "Payments"),
        Some(Outcome::Created)
    );
    assert_eq!(
        first.outcome("collection", "Payments"),
        Some(Outcome::Created)
    );
    assert_eq!(
        first.outcome("dashboard", "Overview"),
        Some(Outcome::Created)
    );
    for question in OVERVIEW {
        assert_eq!(
            first.outcome("card", question.name),
            Some(Outcome::Created),
            "{}",
            question.name
        );
    }
    assert_eq!(first.count(Outcome::Created), OVERVIEW.len() + 4);

    {
        let mb = metabase.lock();
        assert_eq!(
            mb.admin,
            Some((ADMIN.to_owned(), ADMIN_PASSWORD.to_owned()))
        );
        let setup_call = mb
            .calls
            .iter()
            .find(|c| c.path == "/api/setup")
            .expect("setup");
        assert_eq!(setup_call.body["token"], "setup-token-1");
        assert_eq!(setup_call.body["prefs"]["allow_tracking"], false);
        // Connected as the read-only login role, never as the owner.
        let [database] = mb.databases.as_slice() else {
            panic!("one database: {:?}", mb.databases);
        };
        assert_eq!(database["engine"], "postgres");
        assert_eq!(
            database["details"],
            json!({"host": "postgresql", "port": 5432, "dbname": "payments", "user": READER,
                   "password": READER_PASSWORD, "ssl": false})
        );
        let collection = mb
            .collections
            .iter()
            .find(|c| c["name"] == "Payments")
            .expect("collection");
        let (collection_id, database_id) = (collection["id"].clone(), database["id"].clone());
        assert_eq!(mb.cards.len(), OVERVIEW.len());
        for question in OVERVIEW {
            let card = mb
                .cards
                .iter()
                .find(|c| c["name"] == question.name)
                .expect("card");
            assert_eq!(card["collection_id"], collection_id);
            assert_eq!(card["display"], question.display.as_str());
            assert_eq!(card["description"], question.description);
            assert_eq!(card["dataset_query"]["type"], "native");
            assert_eq!(card["dataset_query"]["database"], database_id);
            assert_eq!(card["dataset_query"]["native"]["query"], question.sql);
        }
        let [dashboard] = mb.dashboards.as_slice() else {
            panic!("one dashboard: {:?}", mb.dashboards);
        };
        assert_eq!(
            (&dashboard["name"], &dashboard["collection_id"]),
            (&json!("Overview"), &collection_id)
        );
        let mut on_dashboard: Vec<i64> = dashboard["dashcards"]
            .as_array()
            .expect("dashcards")
            .iter()
            .map(|c| c["card_id"].as_i64().expect("card_id"))
            .collect();
        on_dashboard.sort();
        let mut cards: Vec<i64> = mb
            .cards
            .iter()
            .map(|c| c["id"].as_i64().expect("id"))
            .collect();
        cards.sort();
        assert_eq!(on_dashboard, cards);
        // Nothing in the calls or the summary carries a password it should not.
        let summary = first.to_string();
        assert!(!summary.contains(READER_PASSWORD) && !summary.contains("owner-secret"));
        assert!(!format!("{:?}", metabase.config()).contains(READER_PASSWORD));
    }

    let second = metabase.run().await;
    assert_eq!(
        (
            second.count(Outcome::Created),
            second.count(Outcome::Updated)
        ),
        (0, 0),
        "{second}"
    );
    assert_eq!(second.count(Outcome::Unchanged), OVERVIEW.len() + 4);
    let mb = metabase.lock();
    let changing: Vec<_> = mb.changing_calls();
    assert!(changing.is_empty(), "the second run changed {changing:?}");
}

#[tokio::test]
async fn a_changed_question_is_updated_alone() {
    let metabase = StandIn::start().await;
    metabase.run().await;
    let (id, before) = {
        let mut mb = metabase.lock();
        let card = mb.card_named("Volume per day");
        // As if someone edited the question in Metabase.
        card["dataset_query"]["native"]["query"] = json!("SELECT 1");
        card["visualization_settings"] = json!({"graph.show_values": true});
        (card["id"].clone(), mb.cards.len())
    };
    let summary = metabase.run().await;
    assert_eq!(
        summary.outcome("card", "Volume per day"),
        Some(Outcome::Updated)
    );
    assert_eq!(summary.count(Outcome::Updated), 1, "{summary}");
    assert_eq!(summary.count(Outcome::Created), 0, "{summary}");
    let mut mb = metabase.lock();
    let changing: Vec<(String, String)> = mb
        .changing_calls()
        .iter()
        .map(|c| (c.method.clone(), c.path.clone()))
        .collect();
    assert_eq!(
        changing,
        vec![("PUT".to_owned(), format!("/api/card/{id}"))]
    );
    assert_eq!(mb.cards.len(), before);
    let sql = OVERVIEW
        .iter()
        .find(|q| q.name == "Volume per day")
        .expect("question")
        .sql;
    let card = mb.card_named("Volume per day");
    assert_eq!(card["dataset_query"]["native"]["query"], sql);
    // What the update does not own stays as the user left it.
    assert_eq!(
        card["visualization_settings"],
        json!({"graph.show_values": true})
    );
}

#[tokio::test]
async fn moved_database_and_dashboard_are_put_back() {
    let metabase = StandIn::start().await;
    metabase.run().await;
    {
        let mut mb = metabase.lock();
        mb.databases[0]["details"]["host"] = json!("old-host");
        let dashcards = mb.dashboards[0]["dashcards"]
            .as_array_mut()
            .expect("dashcards");
        dashcards.pop();
    }
    let summary = metabase.run().await;
    assert_eq!(
        summary.outcome("database", "Payments"),
        Some(Outcome::Updated)
    );
    assert_eq!(
        summary.outcome("dashboard", "Overview"),
        Some(Outcome::Updated)
    );
    assert_eq!(summary.count(Outcome::Updated), 2, "{summary}");
    let mb = metabase.lock();
    assert_eq!(mb.databases[0]["details"]["host"], "postgresql");
    assert_eq!(mb.databases[0]["details"]["password"], READER_PASSWORD);
    assert_eq!(
        mb.dashboards[0]["dashcards"].as_array().map(Vec::len),
        Some(OVERVIEW.len())
    );
}

#[tokio::test]
async fn a_starting_metabase_is_waited_for() {
    let metabase = StandIn::start().await;
    metabase.lock().starting = 3;
    let summary = metabase.run().await;
    assert_eq!(
        summary.outcome("dashboard", "Overview"),
        Some(Outcome::Created)
    );
    assert_eq!(metabase.lock().health_calls, 4);
}

#[tokio::test]
async fn a_metabase_that_never_starts_is_an_error_after_the_timeout() {
    let metabase = StandIn::start().await;
    metabase.lock().starting = usize::MAX;
    let mut config = metabase.config();
    config.startup_timeout = Duration::from_millis(600);
    let error = setup(&config).await.expect_err("never healthy");
    assert!(
        error.to_string().contains("did not become healthy within"),
        "{error}"
    );
}
