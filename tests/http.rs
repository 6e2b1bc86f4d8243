//! Requests to the sandbox (or any JSON API on loopback) as another client makes them: a real
//! HTTP client, independent of the code under test. Answers are (status, JSON body); a body
//! that is not JSON comes back as a JSON string, an empty one as `null`.

use serde_json::Value;

/// The token the sandbox accepts by default.
pub const SANDBOX_TOKEN: &str = "sandbox-token";

/// `method base+path` with an optional JSON body and `token`.
pub async fn request(
    base: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> (u16, Value) {
    let authorization = token.map(|t| format!("token {t}"));
    request_as(base, method, path, body, authorization.as_deref()).await
}

/// [`request`] with a whole `Authorization` header value (`Basic …`, `Bearer …`), for APIs
/// other than GitHub's (the Jira sandbox).
pub async fn request_as(
    base: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
    authorization: Option<&str>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes())
        .unwrap_or_else(|e| panic!("{method:?} is not an HTTP method: {e}"));
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let mut req = client()
        .request(method.clone(), &url)
        .header("Accept", "application/vnd.github+json")
        .header("User-Agent", "backtrack-tests");
    if let Some(a) = authorization {
        req = req.header("Authorization", a);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let reply = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = reply.status().as_u16();
    let text = reply
        .text()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: reading the body: {e}"));
    let json = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, json)
}

/// [`request`] from synchronous code (the e2e tests' helpers), which may itself run inside
/// an async test: the request runs on a thread and runtime of its own, since a runtime cannot
/// be blocked on from within another.
pub fn request_blocking(
    base: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> (u16, Value) {
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("cannot start a runtime for a blocking request: {e}"))
                .block_on(request(base, method, path, body, token))
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// [`request_as`] from synchronous code, like [`request_blocking`].
pub fn request_as_blocking(
    base: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
    authorization: Option<&str>,
) -> (u16, Value) {
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("cannot start a runtime for a blocking request: {e}"))
                .block_on(request_as(base, method, path, body, authorization))
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// A client per request: tests run on many runtimes (one per `#[tokio::test]`), and a
/// pooled connection belongs to the runtime that opened it.
fn client() -> reqwest::Client {
    // The workspace's reqwest brings rustls without a crypto provider (the core configures
    // its own); the test kit, which only speaks plain HTTP, installs ring as the default.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap_or_else(|e| panic!("cannot build the HTTP client: {e}"))
}
