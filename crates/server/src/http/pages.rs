//! Server-rendered pages (sign-in, consent, device login): plain HTML forms
//! that work without JavaScript, each POST protected by a CSRF token that
//! must match a cookie (double submit).

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};

use super::AppState;

/// The CSRF cookie's name.
const CSRF_COOKIE: &str = "hale_csrf";

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page around `body` (already-escaped HTML).
pub(crate) fn page(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - Hale</title>
<style>
body{{font-family:system-ui,sans-serif;background:#f2f2f2;margin:0}}
main{{max-width:26rem;margin:4rem auto;background:#fff;padding:2rem 2.5rem;box-shadow:0 2px 6px rgba(0,0,0,.2)}}
h1{{font-size:1.5rem;font-weight:600}} label{{display:block;margin:.8rem 0 .2rem}}
input[type=text],input[type=password],input[type=email]{{width:100%;padding:.5rem;box-sizing:border-box;font-size:1rem}}
button{{margin-top:1.2rem;padding:.5rem 1.5rem;font-size:1rem}} .error{{color:#a80000}} ul{{padding-left:1.2rem}}
</style></head>
<body><main><p>Hale</p><h1>{title}</h1>
{body}
</main></body></html>"#,
        title = escape(title),
    )
}

/// A page response; pages are never cached and never framed.
pub(crate) fn respond(html: String, csrf_cookie: Option<String>) -> Response {
    let mut response = Html(html).into_response();
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"),
    );
    if let Some(cookie) = csrf_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.insert(header::SET_COOKIE, cookie);
    }
    response
}

/// The CSRF token for a page: the one in the request's cookie, or a new one
/// (with the `Set-Cookie` that stores it).
pub(crate) fn csrf_token(state: &AppState, headers: &HeaderMap) -> (String, Option<String>) {
    if let Some(existing) = cookie(headers, CSRF_COOKIE).filter(|v| v.len() == 43) {
        return (existing, None);
    }
    let token = super::token::new_secret("");
    let secure = if state.public_url.scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    let set = format!("{CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}");
    (token, Some(set))
}

/// Whether a form's `csrf` field matches the request's cookie.
pub(crate) fn csrf_ok(headers: &HeaderMap, field: Option<&str>) -> bool {
    match (cookie(headers, CSRF_COOKIE), field) {
        (Some(expected), Some(given)) => constant_time_eq(expected.as_bytes(), given.as_bytes()),
        _ => false,
    }
}

/// A cookie's value from the request.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Equality whose time does not depend on where the inputs differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_comparison() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; hale_csrf=xyz; b=2"),
        );
        assert_eq!(cookie(&headers, "hale_csrf").as_deref(), Some("xyz"));
        assert!(csrf_ok(&headers, Some("xyz")));
        assert!(!csrf_ok(&headers, Some("xyw")));
        assert!(!csrf_ok(&headers, None));
    }
}
