//! Double-submit CSRF protection for the upload form: the form carries a random token that must
//! equal the one in a `SameSite=Strict` cookie, which another site can neither read nor send.

use axum::http::{header, HeaderMap};
use rand::RngCore;

pub const COOKIE: &str = "payments_csrf";
pub const FIELD: &str = "csrf_token";

pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn set_cookie(token: &str) -> String {
    format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict")
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
