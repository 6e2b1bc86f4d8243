//! Tests: the real server on `127.0.0.1:0`, driven over HTTP/1.1 by a tiny raw client (no
//! HTTP client dependency just for tests).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Sandbox, SandboxOptions, WriteLimit};

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
async fn sandbox_deleting_a_label_strips_it_from_issues() {
    let sb = start(opts()).await;
    let addr = sb.local_addr();
    let tagged = all_pages(
        addr,
        &format!("{REPO}/issues?state=all&labels=bug&per_page=100"),
    )
    .await;
    assert!(!tagged.is_empty());
    let before = tagged[0]["updated_at"].as_str().unwrap_or("").to_owned();
    let n = tagged[0]["number"].as_u64().unwrap_or(0);
    assert_eq!(
        call(addr, "DELETE", &format!("{REPO}/labels/BUG"), &[AUTH], None)
            .await
            .status,
        204
    );
    assert_eq!(get(addr, &format!("{REPO}/labels/bug")).await.status, 404);
    let issue = get(addr, &format!("{REPO}/issues/{n}")).await.json();
    assert!(issue["labels"]
        .as_array()
        .is_some_and(|ls| ls.iter().all(|l| l["name"] != "bug")));
    assert!(issue["updated_at"].as_str().unwrap_or("") > before.as_str());
    let none = get(addr, &format!("{REPO}/issues?state=all&labels=bug")).await;
    assert_eq!(none.json(), json!([]));
    assert_eq!(sb.snapshot_counts().2, 11);

    // Rename is visible on issues; names with spaces are percent-encoded.
    let r = send(
        addr,
        "PATCH",
        &format!("{REPO}/labels/help%20wanted"),
        json!({"new_name": "help: wanted", "color": "#00FF00"}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(r.json()["color"], "00ff00");
    assert!(r.json()["url"]
        .as_str()
        .is_some_and(|u| u.ends_with("/labels/help%3A%20wanted")));
    let dup = send(
        addr,
        "POST",
        &format!("{REPO}/labels"),
        json!({"name": "Enhancement"}),
    )
    .await;
    assert_eq!(dup.status, 422);
    assert_eq!(dup.json()["errors"][0]["code"], "already_exists");

    // Issue labels: add (creating a missing label), set, remove one, clear.
    let il = format!("{REPO}/issues/2/labels");
    let add = send(addr, "POST", &il, json!({"labels": ["brand-new"]})).await;
    assert!(add
        .json()
        .as_array()
        .is_some_and(|a| a.iter().any(|l| l["name"] == "brand-new")));
    let set = send(addr, "PUT", &il, json!(["question", "wontfix"])).await;
    assert_eq!(set.json().as_array().map(Vec::len), Some(2));
    let rm = call(addr, "DELETE", &format!("{il}/Question"), &[AUTH], None).await;
    assert_eq!(rm.json()[0]["name"], "wontfix");
    assert_eq!(
        call(addr, "DELETE", &format!("{il}/question"), &[AUTH], None)
            .await
            .status,
        404
    );
    assert_eq!(call(addr, "DELETE", &il, &[AUTH], None).await.status, 204);
    assert_eq!(get(addr, &il).await.json(), json!([]));
}

#[tokio::test]
async fn sandbox_deleted_issue_answers_410() {
    let sb = start(opts()).await;
    let addr = sb.local_addr();
    let before = sb.snapshot_counts();
    let comments = get(addr, &format!("{REPO}/issues/5")).await.json()["comments"]
        .as_u64()
        .unwrap_or(0);
    let d = call(addr, "DELETE", &format!("{REPO}/issues/5"), &[AUTH], None).await;
    assert_eq!(d.status, 204);
    let g = get(addr, &format!("{REPO}/issues/5")).await;
    assert_eq!(g.status, 410);
    assert_eq!(g.json()["message"], "This issue was deleted");
    assert_eq!(
        get(addr, &format!("{REPO}/issues/5/comments")).await.status,
        410
    );
    assert_eq!(get(addr, &format!("{REPO}/issues/999")).await.status, 404);
    let after = sb.snapshot_counts();
    assert_eq!(after.0, before.0 - 1);
    assert_eq!(after.1, before.1 - comments);
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
        json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
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
    get(addr, &format!("{REPO}/issues")).await;
    get(addr, &format!("/api/v3{REPO}/issues?page=2")).await;
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
    let reset = call(addr, "POST", "/_sandbox/reset", &[], None).await;
    assert_eq!(reset.status, 200);
    assert_eq!(sb.stats().total, 0);
    assert_eq!(sb.snapshot_counts(), (120, 600, 12, 5));
}

#[tokio::test]
async fn sandbox_faults_never_change_state() {
    let sb = start(SandboxOptions {
        fault_rate: 1.0,
        ..opts()
    })
    .await;
    let addr = sb.local_addr();
    let before = sb.snapshot_counts();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let r = send(
            addr,
            "POST",
            &format!("{REPO}/issues/1/comments"),
            json!({"body": "x"}),
        )
        .await;
        seen.insert(r.status);
        if r.status == 403 {
            assert_eq!(r.header("retry-after"), Some("1"));
        }
    }
    assert_eq!(sb.snapshot_counts(), before);
    assert!(
        seen.iter().all(|s| [500, 502, 503, 403].contains(s)),
        "{seen:?}"
    );
    assert!(seen.len() >= 3, "a mix of faults: {seen:?}");
    assert_eq!(get(addr, "/_sandbox/stats").await.status, 200);
    sb.shutdown().await;

    // Half the writes fail; exactly the successful ones are applied.
    let sb = start(SandboxOptions {
        fault_rate: 0.5,
        ..opts()
    })
    .await;
    let addr = sb.local_addr();
    let mut ok = 0;
    for _ in 0..40 {
        let r = send(
            addr,
            "POST",
            &format!("{REPO}/issues/1/comments"),
            json!({"body": "y"}),
        )
        .await;
        if r.status == 201 {
            ok += 1;
        }
    }
    assert!(ok > 5 && ok < 35, "{ok}");
    assert_eq!(sb.snapshot_counts().1, 600 + ok);
}

#[tokio::test]
async fn sandbox_write_limit_answers_403_with_retry_after() {
    let sb = start(SandboxOptions {
        write_limit: Some(WriteLimit {
            max_writes: 3,
            per: Duration::from_secs(60),
            retry_after_secs: 7,
        }),
        ..opts()
    })
    .await;
    let addr = sb.local_addr();
    for k in 0..3 {
        let r = send(
            addr,
            "PATCH",
            &format!("{REPO}/issues/{}", k + 1),
            json!({"title": "t"}),
        )
        .await;
        assert_eq!(r.status, 200);
    }
    let r = send(
        addr,
        "PATCH",
        &format!("{REPO}/issues/9"),
        json!({"title": "t"}),
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("retry-after"), Some("7"));
    assert!(r.json()["message"]
        .as_str()
        .is_some_and(|m| m.contains("secondary rate limit")));
    assert_ne!(
        get(addr, &format!("{REPO}/issues/9")).await.json()["title"],
        "t"
    );
    assert_eq!(get(addr, &format!("{REPO}/issues/9")).await.status, 200);
}

#[tokio::test]
async fn sandbox_since_filters_and_updates() {
    let sb = start(opts()).await;
    let addr = sb.local_addr();
    let p = send(
        addr,
        "PATCH",
        &format!("{REPO}/issues/3"),
        json!({"state": "closed", "state_reason": "not_planned", "labels": ["bug"],
               "assignees": ["alice"], "milestone": 2}),
    )
    .await;
    assert_eq!(p.status, 200, "{:?}", p.json());
    let issue = p.json();
    assert_eq!(issue["state_reason"], "not_planned");
    assert_eq!(issue["assignee"]["login"], "alice");
    assert_eq!(issue["milestone"]["number"], 2);
    let since = issue["updated_at"].as_str().unwrap_or("").to_owned();
    let hits = get(addr, &format!("{REPO}/issues?state=all&since={since}"))
        .await
        .json();
    let hits = hits.as_array().cloned().unwrap_or_default();
    assert_eq!(hits.len(), 1, "only the issue just written is that recent");
    assert_eq!(hits[0]["number"], 3);
    // A second write gets a strictly later timestamp, even within the same second.
    let c = send(
        addr,
        "POST",
        &format!("{REPO}/issues/4/comments"),
        json!({"body": "new"}),
    )
    .await;
    assert_eq!(c.status, 201);
    assert!(c.json()["created_at"].as_str() > Some(since.as_str()));
    let later = get(addr, &format!("{REPO}/issues/comments?since={since}"))
        .await
        .json();
    assert_eq!(later.as_array().map(Vec::len), Some(1));
    let i4 = get(addr, &format!("{REPO}/issues/4")).await.json();
    assert_eq!(i4["updated_at"], c.json()["created_at"]);
    let updated = get(
        addr,
        &format!("{REPO}/issues?state=all&sort=updated&per_page=2"),
    )
    .await
    .json();
    assert_eq!(updated[0]["number"], 4);
    assert_eq!(updated[1]["number"], 3);
    // Reopen, null milestone, comment edit/delete and the body limit.
    let r = send(
        addr,
        "PATCH",
        &format!("{REPO}/issues/3"),
        json!({"state": "open", "milestone": null}),
    )
    .await;
    assert_eq!(r.json()["state_reason"], "reopened");
    assert!(r.json()["milestone"].is_null() && r.json()["closed_at"].is_null());
    let id = c.json()["id"].as_u64().unwrap_or(0);
    let e = send(
        addr,
        "PATCH",
        &format!("{REPO}/issues/comments/{id}"),
        json!({"body": "edited"}),
    )
    .await;
    assert_eq!(e.json()["body"], "edited");
    let long = "x".repeat(65537);
    let too_long = send(
        addr,
        "PATCH",
        &format!("{REPO}/issues/comments/{id}"),
        json!({"body": long}),
    )
    .await;
    assert_eq!(too_long.status, 422);
    let count = i4["comments"].as_u64().unwrap_or(0);
    assert_eq!(
        call(
            addr,
            "DELETE",
            &format!("{REPO}/issues/comments/{id}"),
            &[AUTH],
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        get(addr, &format!("{REPO}/issues/4")).await.json()["comments"].as_u64(),
        Some(count - 1)
    );
    let bad = get(addr, &format!("{REPO}/issues?since=yesterday")).await;
    assert_eq!(bad.status, 422);
    let missing = send(
        addr,
        "POST",
        &format!("{REPO}/issues"),
        json!({"body": "no title"}),
    )
    .await;
    assert_eq!(missing.status, 422);
    assert_eq!(missing.json()["errors"][0]["field"], "title");
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
        public_url: Some("https://gh.example.test/".into()),
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
async fn sandbox_milestones() {
    let sb = start(opts()).await;
    let addr = sb.local_addr();
    let open = get(addr, &format!("{REPO}/milestones")).await.json();
    let all = get(addr, &format!("{REPO}/milestones?state=all"))
        .await
        .json();
    assert!(open.as_array().map(Vec::len) < all.as_array().map(Vec::len));
    let m2 = get(addr, &format!("{REPO}/milestones/2")).await.json();
    let in_m2 = all_pages(
        addr,
        &format!("{REPO}/issues?state=all&milestone=2&per_page=100"),
    )
    .await;
    let counted =
        m2["open_issues"].as_u64().unwrap_or(0) + m2["closed_issues"].as_u64().unwrap_or(0);
    assert_eq!(counted, in_m2.len() as u64);
    let created = send(
        addr,
        "POST",
        &format!("{REPO}/milestones"),
        json!({"title": "v3.0", "due_on": "2030-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.json()["number"], 6);
    let closed = send(
        addr,
        "PATCH",
        &format!("{REPO}/milestones/6"),
        json!({"state": "closed"}),
    )
    .await;
    assert!(!closed.json()["closed_at"].is_null());
    assert_eq!(
        call(
            addr,
            "DELETE",
            &format!("{REPO}/milestones/2"),
            &[AUTH],
            None
        )
        .await
        .status,
        204
    );
    if let Some(n) = in_m2.first().and_then(|i| i["number"].as_u64()) {
        assert!(get(addr, &format!("{REPO}/issues/{n}")).await.json()["milestone"].is_null());
    }
    assert_eq!(get(addr, &format!("{REPO}/milestones/2")).await.status, 404);
    assert_eq!(sb.snapshot_counts().3, 5);
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
    eprintln!("seed 10k/50k: {seeded:?}; 4 pages of 100: {served:?}");
    assert_eq!(sb.snapshot_counts(), (10_000, 50_000, 12, 5));
    // Generous bounds: debug builds are several times slower than release.
    assert!(seeded < Duration::from_secs(20), "{seeded:?}");
    assert!(served < Duration::from_secs(10), "{served:?}");
}
