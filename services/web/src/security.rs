//! What every page answer carries and every form post must show.
//!
//! - Headers: a strict Content-Security-Policy (scripts, styles, workers and media only from
//!   this origin, no inline script or style, no framing, forms post only here),
//!   `Referrer-Policy: no-referrer` (a link never leaks in a Referer), `X-Frame-Options: DENY`,
//!   `X-Content-Type-Options: nosniff`, and no caching of personal pages.
//! - Cookies: `HttpOnly`, `SameSite`, `Path=/`, and `Secure` whenever the public URL is HTTPS.
//! - CSRF: a random token in its own cookie (`confide_csrf`), echoed in a hidden field of every
//!   form; a post whose field does not match the cookie, or that a browser says comes from
//!   another site, changes nothing.

use std::sync::Arc;

use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use serde::de::DeserializeOwned;

use crate::WebState;
use crate::error::PageError;

/// The policy every page answer carries.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; media-src 'self'; connect-src 'self'; \
     worker-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The cookie that holds a client's link once it has been opened.
pub(crate) const CLIENT_COOKIE: &str = "confide_link";
/// The cookie that holds a staff member's token (the auditor's page).
pub(crate) const STAFF_COOKIE: &str = "confide_staff";
/// The cookie that holds the CSRF token.
pub(crate) const CSRF_COOKIE: &str = "confide_csrf";

/// This request's CSRF token, for the hidden field of its forms.
#[derive(Clone, Debug)]
pub(crate) struct CsrfToken(pub(crate) String);

/// Adds the headers, and gives a request without a CSRF cookie a token (set on its answer).
/// A state-changing request that a browser marks as coming from another site is refused
/// before any handler runs.
pub(crate) async fn protect(
    State(state): State<Arc<WebState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let unsafe_method = !matches!(*request.method(), Method::GET | Method::HEAD);
    if unsafe_method && from_another_site(request.headers()) {
        return PageError::CrossSite.into_response();
    }
    let existing = cookie(request.headers(), CSRF_COOKIE).filter(|t| t.len() == 64);
    let fresh = existing.is_none().then(random_token);
    let token = existing.or_else(|| fresh.clone()).unwrap_or_default();
    request.extensions_mut().insert(CsrfToken(token));
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Some(token) = fresh {
        // Strict: the token is only ever needed by this site's own forms.
        append_cookie(
            headers,
            &cookie_header(CSRF_COOKIE, &token, None, "Strict", state.secure_cookies),
        );
    }
    set_page_headers(headers);
    response
}

/// The headers of every page answer (pages, errors and assets alike).
pub(crate) fn set_page_headers(headers: &mut HeaderMap) {
    let fixed = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
}

/// Whether a browser says the request comes from another site (`Sec-Fetch-Site`), or its
/// `Origin` is another origin's. (`Origin: null` says nothing: under `no-referrer` a
/// browser sends it for this site's own forms; the CSRF token still decides.)
fn from_another_site(headers: &HeaderMap) -> bool {
    let site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if site == "cross-site" || site == "same-site" {
        return true;
    }
    match (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) {
        (Some("null"), _) => false,
        (Some(origin), Some(host)) => {
            let authority = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"))
                .unwrap_or(origin);
            authority != host
        }
        _ => false,
    }
}

/// 32 random bytes, in hexadecimal.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The value of the cookie `name` the request carries.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// A `Set-Cookie` value: `HttpOnly`, `Path=/`, `SameSite=same_site`, `Secure` when asked;
/// kept for `max_age` seconds, or for the browser's session when `None`.
pub(crate) fn cookie_header(
    name: &str,
    value: &str,
    max_age: Option<i64>,
    same_site: &str,
    secure: bool,
) -> String {
    let mut header = format!("{name}={value}; Path=/; HttpOnly; SameSite={same_site}");
    if let Some(seconds) = max_age {
        header.push_str(&format!("; Max-Age={seconds}"));
    }
    if secure {
        header.push_str("; Secure");
    }
    header
}

/// A `Set-Cookie` value that removes the cookie `name`.
pub(crate) fn removed_cookie(name: &str, secure: bool) -> String {
    cookie_header(name, "", Some(0), "Lax", secure)
}

pub(crate) fn append_cookie(headers: &mut HeaderMap, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.append(header::SET_COOKIE, value);
    }
}

/// A form post whose hidden `csrf` field matches the request's CSRF cookie, deserialized as
/// `T` (which may ignore the field).
pub(crate) struct Checked<T>(pub(crate) T);

#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Checked<T> {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let expected = cookie(request.headers(), CSRF_COOKIE);
        let body = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|_| PageError::BadForm("the form could not be read".to_owned()))?;
        let field: CsrfField = serde_urlencoded::from_bytes(&body)
            .map_err(|_| PageError::BadForm("the form could not be read".to_owned()))?;
        match expected {
            Some(expected) if constant_time_eq(expected.as_bytes(), field.csrf.as_bytes()) => {}
            _ => return Err(PageError::StaleForm),
        }
        serde_urlencoded::from_bytes(&body)
            .map(Checked)
            .map_err(|e| PageError::BadForm(format!("the form is incomplete: {e}")))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cross_site_post_is_told_apart_from_a_same_origin_one() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("confide.example"));
        assert!(!from_another_site(&headers));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://confide.example"),
        );
        assert!(!from_another_site(&headers));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(from_another_site(&headers));
        headers.remove(header::ORIGIN);
        headers.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(from_another_site(&headers));
    }

    #[test]
    fn cookies_are_read_by_name_and_written_http_only() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; confide_csrf=abc; b=2"),
        );
        assert_eq!(cookie(&headers, CSRF_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, "c"), None);
        let set = cookie_header("x", "y", Some(60), "Lax", true);
        assert_eq!(
            set,
            "x=y; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
        );
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
