//! Who is uploading. The app does no login itself: an authenticating proxy in front of the
//! ingress (e.g. oauth2-proxy through ingress-nginx's `auth-url`) passes the user in a header.
//! Such a header is believed only when the connection comes from a configured proxy address;
//! from anyone else it is ignored, since any client can send it.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderName, StatusCode};
use ipnet::IpNet;

use crate::SharedState;

/// Longest identity kept (the database allows 256 characters).
const MAX_LEN: usize = 256;

/// Where identities come from.
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// Headers tried in order; the first present, non-empty one names the user.
    pub headers: Vec<HeaderName>,
    /// Addresses of the authenticating proxy; empty: no header is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Refuse uploads without an identity (401).
    pub require: bool,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            headers: vec![
                HeaderName::from_static("x-forwarded-user"),
                HeaderName::from_static("x-forwarded-email"),
            ],
            trusted_proxies: Vec::new(),
            require: false,
        }
    }
}

impl IdentityConfig {
    fn trusts(&self, peer: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&peer))
    }
}

/// The identity of the request's user, if a trusted proxy named one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity(pub Option<String>);

impl Identity {
    fn from_parts(parts: &Parts, config: &IdentityConfig) -> Identity {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip());
        if !peer.is_some_and(|ip| config.trusts(ip)) {
            return Identity(None);
        }
        let named = config.headers.iter().find_map(|name| {
            let value = parts.headers.get(name)?.to_str().ok()?.trim();
            let clean =
                !value.is_empty() && value.len() <= MAX_LEN && !value.chars().any(char::is_control);
            clean.then(|| value.to_owned())
        });
        Identity(named)
    }
}

/// Rejection of an anonymous request when identities are required.
pub struct IdentityRequired;

impl axum::response::IntoResponse for IdentityRequired {
    fn into_response(self) -> axum::response::Response {
        (
            StatusCode::UNAUTHORIZED,
            "Sign in first: this importer only accepts uploads from identified users.",
        )
            .into_response()
    }
}

impl FromRequestParts<SharedState> for Identity {
    type Rejection = IdentityRequired;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        let config = &state.config.identity;
        let identity = Identity::from_parts(parts, config);
        if config.require && identity.0.is_none() {
            return Err(IdentityRequired);
        }
        Ok(identity)
    }
}

/// Who is reading a page: the identity a trusted proxy named, if any. Never refused, unlike
/// [`Identity`] with `require`: pages are read without one, only uploads and decisions need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer(pub Option<String>);

impl FromRequestParts<SharedState> for Viewer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Viewer(
            Identity::from_parts(parts, &state.config.identity).0,
        ))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;

    fn parts(peer: &str, headers: &[(&str, &str)]) -> Parts {
        let mut request = Request::builder();
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let (mut parts, ()) = request.body(()).expect("request").into_parts();
        let peer: SocketAddr = peer.parse().expect("address");
        parts.extensions.insert(ConnectInfo(peer));
        parts
    }

    fn config() -> IdentityConfig {
        IdentityConfig {
            trusted_proxies: vec!["10.0.0.0/8".parse().expect("cidr")],
            ..IdentityConfig::default()
        }
    }

    #[test]
    fn a_trusted_proxy_names_the_user() {
        let parts = parts("10.1.2.3:5000", &[("x-forwarded-user", " alice ")]);
        assert_eq!(
            Identity::from_parts(&parts, &config()),
            Identity(Some("alice".into()))
        );
    }

    #[test]
    fn the_email_header_is_the_fallback() {
        let parts = parts(
            "10.1.2.3:5000",
            &[
                ("x-forwarded-user", ""),
                ("x-forwarded-email", "bob@example.com"),
            ],
        );
        assert_eq!(
            Identity::from_parts(&parts, &config()),
            Identity(Some("bob@example.com".into()))
        );
    }

    #[test]
    fn anyone_else_cannot_claim_a_name() {
        let parts = parts("192.168.1.9:5000", &[("x-forwarded-user", "mallory")]);
        assert_eq!(Identity::from_parts(&parts, &config()), Identity(None));
        let untrusting = IdentityConfig::default();
        let parts = parts_from_proxy();
        assert_eq!(Identity::from_parts(&parts, &untrusting), Identity(None));
    }

    fn parts_from_proxy() -> Parts {
        parts("10.1.2.3:5000", &[("x-forwarded-user", "alice")])
    }

    #[test]
    fn oversized_or_control_characters_are_not_a_name() {
        let long = "a".repeat(MAX_LEN + 1);
        let parts_long = parts("10.1.2.3:5000", &[("x-forwarded-user", &long)]);
        assert_eq!(Identity::from_parts(&parts_long, &config()), Identity(None));
        let parts_tab = parts("10.1.2.3:5000", &[("x-forwarded-user", "al\tice")]);
        assert_eq!(Identity::from_parts(&parts_tab, &config()), Identity(None));
    }
}
