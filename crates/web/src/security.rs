//! Headers every response of the web app carries, pages, files, API, `/metrics` and errors
//! alike: one layer instead of per-handler copies, so a new route cannot forget them.

use axum::http::{header, HeaderName, HeaderValue};
use axum::response::Response;

/// Scripts, styles and everything else only from this origin; no inline script (the pages'
/// scripts are static files, see [`crate::assets`]), no plugins, no framing, no `<base>`
/// rewriting, and forms post only back here.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// The headers and values set on every response.
pub const HEADERS: [(HeaderName, &str); 4] = [
    (header::CONTENT_SECURITY_POLICY, CSP),
    // A CSV or an error text is never sniffed into HTML or script.
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    // Import ids in URLs stay on this site.
    (header::REFERRER_POLICY, "no-referrer"),
    // For browsers that predate frame-ancestors.
    (header::X_FRAME_OPTIONS, "DENY"),
];

/// `axum::middleware::map_response` body: overwrites whatever a handler set, so the policy is
/// the same everywhere.
pub async fn headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
