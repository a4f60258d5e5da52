//! Double-submit CSRF protection for the upload form: the form carries a random token that must
//! equal the one in a `SameSite=Strict` cookie, which another site can neither read nor send.

use axum::http::{header, HeaderMap};
use rand::Rng;

pub const COOKIE: &str = "payments_csrf";
pub const FIELD: &str = "csrf_token";

pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The cookie carrying `token`; `Secure` when the page was asked for over HTTPS (so an HTTPS
/// front door never lets the browser send it over plain HTTP).
pub fn set_cookie(token: &str, over_https: bool) -> String {
    let secure = if over_https { "; Secure" } else { "" };
    format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}")
}

/// Whether the browser asked over HTTPS, as the proxy that terminated TLS says in
/// `X-Forwarded-Proto`. Not a trust decision: a client that claims it falsely over plain HTTP
/// only gets a cookie its own browser will not send back.
pub fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

pub fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// Constant-time comparison, so the token cannot be guessed byte by byte.
pub fn matches(cookie: Option<&str>, submitted: &str) -> bool {
    match cookie {
        Some(cookie) if cookie.len() == submitted.len() && cookie.len() == 64 => {
            cookie
                .bytes()
                .zip(submitted.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_secure_only_behind_https() {
        let mut headers = HeaderMap::new();
        assert!(!over_https(&headers));
        assert!(!set_cookie("t", over_https(&headers)).contains("Secure"));
        headers.insert("x-forwarded-proto", "HTTPS".parse().expect("header"));
        assert!(set_cookie("t", over_https(&headers)).ends_with("; SameSite=Strict; Secure"));
        headers.insert("x-forwarded-proto", "http".parse().expect("header"));
        assert!(!over_https(&headers));
    }

    #[test]
    fn tokens_match_only_themselves() {
        let token = new_token();
        assert_eq!(token.len(), 64);
        assert!(matches(Some(&token), &token));
        assert!(!matches(Some(&token), &new_token()));
        assert!(!matches(None, &token));
        assert!(!matches(Some(""), ""));
    }

    #[test]
    fn reads_the_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=b; payments_csrf=abc; c=d".parse().unwrap(),
        );
        assert_eq!(cookie_token(&headers).as_deref(), Some("abc"));
    }
}
