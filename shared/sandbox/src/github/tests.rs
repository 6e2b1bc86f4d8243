//! Tests: the real server on `127.0.0.1:0`, driven over HTTP/1.1 by a tiny raw client (no
//! HTTP client dependency just for tests).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Sandbox, SandboxOptions};
use crate::ServerOptions;

mod git;
mod model;
mod users;
mod validation;
mod writes;

const REPO: &str = "/repos/acme/widgets";

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The URL of a `Link` relation.
    fn link(&self, rel: &str) -> Option<String> {
        let tag = format!("rel=\"{rel}\"");
        self.header("link")?
            .split(", ")
            .find(|p| p.ends_with(&tag))
            .and_then(|p| p.split(';').next())
            .map(|u| {
                u.trim_matches(|c| c == '<' || c == '>' || c == ' ')
                    .to_owned()
            })
    }
}

/// One request over a fresh connection (`Connection: close`).
async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Resp {
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if body.is_some() {
        req.push_str("Content-Type: application/json\r\n");
    }
    req.push_str(&format!(
        "Content-Length: {}\r\n\r\n{payload}",
        payload.len()
    ));
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&raw[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw = &raw[eol + 4 + size..];
    }
    out
}

const AUTH: (&str, &str) = ("Authorization", "token sandbox-token");

async fn get(addr: SocketAddr, path: &str) -> Resp {
    call(addr, "GET", path, &[AUTH], None).await
}

async fn send(addr: SocketAddr, method: &str, path: &str, body: Value) -> Resp {
    call(addr, method, path, &[AUTH], Some(&body)).await
}

fn opts() -> SandboxOptions {
    SandboxOptions {
        token: "sandbox-token".into(),
        ..SandboxOptions::default()
    }
}

async fn start(o: SandboxOptions) -> Sandbox {
    Sandbox::start(o).await.expect("sandbox starts")
}

/// Follows `next` links from `path`, collecting every item.
async fn all_pages(addr: SocketAddr, path: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut next = Some(path.to_owned());
    while let Some(p) = next {
        let r = get(addr, &p).await;
        assert_eq!(r.status, 200, "{p}: {}", String::from_utf8_lossy(&r.body));
        out.extend(r.json().as_array().cloned().unwrap_or_default());
        next = r.link("next").and_then(|u| {
            u.split_once(&addr.to_string())
                .map(|(_, rest)| rest.to_owned())
        });
    }
    out
}

#[tokio::test]
async fn sandbox_pagination_and_link_headers() {
    let sb = start(opts()).await;
    let addr = sb.local_addr();
    let r = get(addr, &format!("{REPO}/issues?state=all&per_page=50")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json().as_array().map(Vec::len), Some(50));
    let next = r.link("next").expect("next link");
    assert!(
        next.starts_with(&format!("http://{addr}{REPO}/issues?")),
        "{next}"
    );
    assert!(next.contains("page=2") && next.contains("per_page=50") && next.contains("state=all"));
    assert!(r.link("last").expect("last").contains("page=3"));
    assert!(r.link("prev").is_none() && r.link("first").is_none());
    let r3 = get(addr, &format!("{REPO}/issues?state=all&per_page=50&page=3")).await;
    assert_eq!(r3.json().as_array().map(Vec::len), Some(20));
    assert!(r3.link("next").is_none() && r3.link("prev").is_some() && r3.link("first").is_some());

    let all = all_pages(addr, &format!("{REPO}/issues?state=all&per_page=100")).await;
    let mut numbers: Vec<u64> = all.iter().filter_map(|i| i["number"].as_u64()).collect();
    assert_eq!(numbers.len(), 120);
    assert!(
        numbers.windows(2).all(|w| w[0] > w[1]),
        "created desc by default"
    );
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len(), 120);
    let prs = all
        .iter()
        .filter(|i| i.get("pull_request").is_some())
        .count();
    assert!(prs > 0 && prs < 40, "about 10% pull requests, got {prs}");
    let open = get(addr, &format!("{REPO}/issues?per_page=100")).await;
    assert!(open
        .json()
        .as_array()
        .is_some_and(|a| a.iter().all(|i| i["state"] == "open")));
    // per_page is capped at 100.
    let big = get(addr, &format!("{REPO}/issues?state=all&per_page=500")).await;
    assert_eq!(big.json().as_array().map(Vec::len), Some(100));
    sb.shutdown().await;
}

#[tokio::test]
async fn sandbox_seed_is_consistent_and_has_long_threads() {
    let sb = start(opts()).await;
    let addr = sb.local_addr();
    let issues = all_pages(addr, &format!("{REPO}/issues?state=all&per_page=100")).await;
    let hot: Vec<&Value> = issues
        .iter()
        .filter(|i| i["comments"].as_u64() > Some(100))
        .collect();
    assert!(hot.len() >= 2, "at least two issues with > 100 comments");
    let n = hot[0]["number"].as_u64().unwrap_or(0);
    let thread = all_pages(addr, &format!("{REPO}/issues/{n}/comments?per_page=30")).await;
    assert_eq!(Some(thread.len() as u64), hot[0]["comments"].as_u64());
    assert!(thread
        .iter()
        .all(|c| c["created_at"].as_str() >= hot[0]["created_at"].as_str()));
    for i in &issues {
        assert!(i["updated_at"].as_str() >= i["created_at"].as_str());
        assert_eq!(i["state"] == "closed", !i["closed_at"].is_null());
    }
    let total: u64 = issues.iter().filter_map(|i| i["comments"].as_u64()).sum();
    assert_eq!(total, 600);
    assert_eq!(sb.snapshot_counts(), (120, 600, 12, 5));
    let again = super::data::seed(&opts());
    let first = super::data::seed(&opts());
    assert_eq!(again.issues, first.issues, "seeding is deterministic");
}

#[tokio::test]
async fn sandbox_etag_and_304() {
    let sb = start(opts()).await;
    let addr = sb.local_addr();
    let r = get(addr, &format!("{REPO}/issues/1")).await;
    let etag = r.header("etag").expect("etag").to_owned();
    assert!(etag.starts_with("W/\""));
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert!(
        r.header("x-ratelimit-remaining").is_some() && r.header("x-github-request-id").is_some()
    );
    let path = format!("{REPO}/issues/1");
    let cond = call(addr, "GET", &path, &[AUTH, ("If-None-Match", &etag)], None).await;
    assert_eq!(cond.status, 304);
    assert!(cond.body.is_empty());
    assert_eq!(sb.stats().not_modified, 1);
    send(addr, "PATCH", &path, json!({"title": "changed"})).await;
    let after = call(addr, "GET", &path, &[AUTH, ("If-None-Match", &etag)], None).await;
    assert_eq!(after.status, 200);
    assert_ne!(after.header("etag"), Some(etag.as_str()));
}

#[tokio::test]
async fn sandbox_auth_forms() {
    let sb = start(opts()).await;
    let addr = sb.local_addr();
    let basic = |s: &str| {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
    };
    let good = [
        "token sandbox-token".to_owned(),
        "Bearer sandbox-token".to_owned(),
        basic("sandbox-token:x-oauth-basic"),
        basic("someone:sandbox-token"),
    ];
    for a in &good {
        let r = call(addr, "GET", "/user", &[("Authorization", a)], None).await;
        assert_eq!(r.status, 200, "{a}");
        assert_eq!(r.json()["login"], "sandbox-admin");
    }
    let bad = call(
        addr,
        "GET",
        &format!("{REPO}/issues"),
        &[("Authorization", "token nope")],
        None,
    )
    .await;
    assert_eq!(bad.status, 401);
    assert_eq!(
        bad.json(),
        json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest",
               "status": "401"})
    );
    // Anonymous reads work (public repository); anonymous writes and /user do not.
    assert_eq!(
        call(addr, "GET", &format!("{REPO}/issues"), &[], None)
            .await
            .status,
        200
    );
    let w = call(
        addr,
        "POST",
        &format!("{REPO}/issues"),
        &[],
        Some(&json!({"title": "x"})),
    )
    .await;
    assert_eq!(w.status, 401);
    assert_eq!(call(addr, "GET", "/user", &[], None).await.status, 401);
    assert_eq!(sb.snapshot_counts().0, 120);
    assert_eq!(sb.token(), "sandbox-token");
}

#[tokio::test]
async fn sandbox_stats_count_api_requests_only() {
    let sb = start(opts()).await;
    let addr = sb.local_addr();
    let first = get(addr, &format!("{REPO}/issues")).await;
    let second = get(addr, &format!("/api/v3{REPO}/issues?page=2")).await;
    send(
        addr,
        "POST",
        &format!("{REPO}/issues/3/comments"),
        json!({"body": "hi"}),
    )
    .await;
    get(addr, "/nowhere").await;
    let s = get(addr, "/_sandbox/stats").await.json();
    assert_eq!(s["total"], 4);
    assert_eq!(s["writes"], 1);
    assert_eq!(s["by_route"]["GET /repos/{owner}/{repo}/issues"], 2);
    assert_eq!(
        s["by_route"]["POST /repos/{owner}/{repo}/issues/{number}/comments"],
        1
    );
    assert_eq!(s["by_method"]["GET"], 3);
    assert_eq!(sb.stats().total, 4);
    // Only 200 bodies count: the 201 of the POST and the 404 do not.
    assert_eq!(
        s["response_bytes"],
        (first.body.len() + second.body.len()) as u64
    );
    let reset = call(addr, "POST", "/_sandbox/reset", &[], None).await;
    assert_eq!(reset.status, 200);
    assert_eq!(sb.stats().total, 0);
    assert_eq!(sb.snapshot_counts(), (120, 600, 12, 5));
}

#[tokio::test]
async fn sandbox_api_v3_prefix_and_public_url() {
    let sb = start(opts()).await;
    let addr = sb.local_addr();
    assert_eq!(sb.base_url(), format!("http://{addr}"));
    let r = get(addr, &format!("/api/v3{REPO}/issues?per_page=10")).await;
    assert_eq!(r.status, 200);
    assert!(r
        .link("next")
        .is_some_and(|l| l.starts_with(&format!("http://{addr}/api/v3{REPO}/issues?"))));
    assert!(r.json()[0]["url"]
        .as_str()
        .is_some_and(|u| u.contains("/api/v3/repos/acme/widgets/issues/")));
    assert_eq!(get(addr, "/api/v3/").await.status, 200);
    assert_eq!(
        get(addr, "/api/v3").await.json()["rate_limit_url"],
        format!("http://{addr}/api/v3/rate_limit")
    );
    sb.shutdown().await;

    let sb = start(SandboxOptions {
        server: ServerOptions {
            public_url: Some("https://gh.example.test/".into()),
            ..ServerOptions::default()
        },
        ..opts()
    })
    .await;
    let addr = sb.local_addr();
    assert_eq!(sb.base_url(), "https://gh.example.test");
    let r = get(addr, &format!("/api/v3{REPO}/issues/comments?per_page=5")).await;
    let next = r.link("next").unwrap_or_default();
    assert!(
        next.starts_with("https://gh.example.test/api/v3/repos/acme/widgets/issues/comments?"),
        "{next}"
    );
    assert!(r.json()[0]["html_url"]
        .as_str()
        .is_some_and(|u| u.starts_with("https://gh.example.test/acme/widgets/issues/")));
    let repo = get(addr, &format!("/api/v3{REPO}")).await.json();
    assert_eq!(repo["full_name"], "acme/widgets");
    assert_eq!(
        repo["url"],
        "https://gh.example.test/api/v3/repos/acme/widgets"
    );
}

#[tokio::test]
async fn sandbox_meta_endpoints() {
    let sb = start(opts()).await;
    let addr = sb.local_addr();
    let repo = get(addr, REPO).await.json();
    assert_eq!(repo["default_branch"], "main");
    assert_eq!(repo["has_issues"], true);
    let open = all_pages(addr, &format!("{REPO}/issues?per_page=100"))
        .await
        .len();
    assert_eq!(repo["open_issues_count"].as_u64(), Some(open as u64));
    assert_eq!(get(addr, "/users/alice").await.json()["login"], "alice");
    assert_eq!(get(addr, "/users/nobody").await.status, 404);
    let rl = get(addr, "/rate_limit").await.json();
    assert_eq!(rl["resources"]["core"]["limit"], 5000);
    assert_eq!(get(addr, "/repos/acme/other/issues").await.status, 404);
    assert_eq!(call(addr, "PUT", REPO, &[AUTH], None).await.status, 404);
    let r1 = get(addr, "/").await;
    let r2 = get(addr, "/").await;
    let rem = |r: &Resp| {
        r.header("x-ratelimit-remaining")
            .and_then(|v| v.parse::<u64>().ok())
    };
    assert!(rem(&r2) < rem(&r1), "remaining counts down");
}

/// Seeding 10k issues / 50k comments and serving pages of 100 stays fast.
#[tokio::test]
async fn sandbox_large_seed_is_fast() {
    let t = Instant::now();
    let sb = start(SandboxOptions {
        issues: 10_000,
        comments: 50_000,
        ..opts()
    })
    .await;
    let seeded = t.elapsed();
    let addr = sb.local_addr();
    let t = Instant::now();
    for page in [1, 50, 100] {
        let r = get(
            addr,
            &format!("{REPO}/issues?state=all&per_page=100&page={page}"),
        )
        .await;
        assert_eq!(r.json().as_array().map(Vec::len), Some(100));
    }
    let r = get(
        addr,
        &format!("{REPO}/issues/comments?per_page=100&page=400"),
    )
    .await;
    assert_eq!(r.json().as_array().map(Vec::len), Some(100));
    let served = t.elapsed();
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(str::to_owned)
        })
        .unwrap_or_default();
    eprintln!("seed 10k/50k: {seeded:?}; 4 pages of 100: {served:?}; {peak}");
    assert_eq!(sb.snapshot_counts(), (10_000, 50_000, 12, 5));
    // Generous bounds: debug builds are several times slower than release.
    assert!(seeded < Duration::from_secs(20), "{seeded:?}");
    assert!(served < Duration::from_secs(10), "{served:?}");
}

/// octocrab (the client backtrack itself uses) deserializes every listing, across pages.
#[tokio::test]
async fn sandbox_octocrab_reads_everything() {
    use octocrab::params::State;
    let sb = start(opts()).await;
    let gh = octocrab::Octocrab::builder()
        .base_uri(sb.base_url())
        .expect("base uri")
        .personal_token(sb.token().to_owned())
        .build()
        .expect("client");
    let page = gh
        .issues("acme", "widgets")
        .list()
        .state(State::All)
        .per_page(50)
        .send()
        .await
        .expect("issues page");
    let issues = gh.all_pages(page).await.expect("all issues");
    assert_eq!(issues.len(), 120);
    let page = gh
        .issues("acme", "widgets")
        .list_issue_comments()
        .per_page(100)
        .send()
        .await
        .expect("comments page");
    assert_eq!(gh.all_pages(page).await.expect("all comments").len(), 600);
    let labels = gh
        .issues("acme", "widgets")
        .list_labels_for_repo()
        .send()
        .await
        .expect("labels");
    assert_eq!(labels.items.len(), 12);
    let ms = gh
        .issues("acme", "widgets")
        .list_milestones()
        .state(State::All)
        .send()
        .await
        .expect("milestones");
    assert_eq!(ms.items.len(), 5);
    let updated = gh
        .issues("acme", "widgets")
        .update(7)
        .body("rewritten by octocrab")
        .send()
        .await
        .expect("patch");
    assert_eq!(updated.body.as_deref(), Some("rewritten by octocrab"));
    let repo = gh.repos("acme", "widgets").get().await.expect("repository");
    assert_eq!(repo.default_branch.as_deref(), Some("main"));
}
