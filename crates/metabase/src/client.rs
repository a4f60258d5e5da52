//! JSON over HTTP to Metabase, with the admin's session once logged in.

use std::time::Duration;

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::{MetabaseError, Result};

/// Error bodies are quoted this far, enough for Metabase's message.
const BODY_LIMIT: usize = 500;

pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
    session: Option<SecretString>,
}

impl Client {
    pub(crate) fn new(base: &str) -> Result<Self> {
        let http = reqwest::Client::builder()
            // Adding a database makes Metabase connect to it first; that can take a while.
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|source| MetabaseError::Http {
                method: "-",
                path: base.to_owned(),
                source,
            })?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_owned(),
            session: None,
        })
    }

    pub(crate) fn set_session(&mut self, session: SecretString) {
        self.session = Some(session);
    }

    pub(crate) async fn get(&self, path: &str) -> Result<Value> {
        self.call(Method::GET, "GET", path, None).await
    }

    pub(crate) async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.call(Method::POST, "POST", path, Some(body)).await
    }

    pub(crate) async fn put(&self, path: &str, body: &Value) -> Result<Value> {
        self.call(Method::PUT, "PUT", path, Some(body)).await
    }

    /// Every password-like value of a request body (keys naming a password or token, at any
    /// depth) and the session id.
    fn sent_secrets(&self, body: Option<&Value>) -> Vec<String> {
        fn collect(value: &Value, found: &mut Vec<String>) {
            match value {
                Value::Object(map) => {
                    for (key, value) in map {
                        let key = key.to_ascii_lowercase();
                        let sensitive = ["password", "pass", "token", "secret"]
                            .iter()
                            .any(|word| key.contains(word));
                        match value {
                            Value::String(text) if sensitive && !text.is_empty() => {
                                found.push(text.clone());
                            }
                            _ => collect(value, found),
                        }
                    }
                }
                Value::Array(items) => items.iter().for_each(|item| collect(item, found)),
                _ => {}
            }
        }
        let mut found = Vec::new();
        if let Some(body) = body {
            collect(body, &mut found);
        }
        if let Some(session) = &self.session {
            found.push(session.expose_secret().to_owned());
        }
        found
    }

    async fn call(
        &self,
        method: Method,
        name: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(session) = &self.session {
            request = request.header("X-Metabase-Session", session.expose_secret());
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let http = |source| MetabaseError::Http {
            method: name,
            path: path.to_owned(),
            source,
        };
        let response = request.send().await.map_err(http)?;
        let status = response.status();
        let text = response.text().await.map_err(http)?;
        if !status.is_success() {
            // A server may quote the request back (Metabase's validation errors do): the
            // passwords and the session we sent must not reach the logs through the error.
            let mut quoted = text;
            for secret in self.sent_secrets(body) {
                quoted = quoted.replace(&secret, "[redacted]");
            }
            return Err(MetabaseError::Status {
                method: name,
                path: path.to_owned(),
                status: status.as_u16(),
                body: quoted.chars().take(BODY_LIMIT).collect(),
            });
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| MetabaseError::Shape {
            method: name,
            path: path.to_owned(),
            what: format!("not JSON: {e}"),
        })
    }
}
