//! Issue 19 item 4: a whole organisation. `snapshot create github:ORG/*` against a sandbox
//! serving many repositories — with a token, and as a GitHub App — takes one snapshot per
//! repository, reports the one made to fail, and never lets it stop the others.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::util::{http, SandboxProc, User, SANDBOX_TOKEN};

const REPOS: usize = 20;

/// Makes every request to one repository fail with `status` (451: GitHub's answer for a
/// repository blocked for legal reasons, which no client retries).
pub(crate) fn break_repository(sandbox: &SandboxProc, repo: &str, status: Option<u16>) {
    let (code, body) = http(
        &sandbox.url,
        "POST",
        "/_sandbox/faults",
        Some(json!({"repository": repo, "status": status})),
        None,
    );
    assert_eq!(code, 200, "{body}");
}

fn scopes_with(summary: &Value, status: &str) -> BTreeSet<String> {
    summary["scopes"]
        .as_array()
        .expect("scopes")
        .iter()
        .filter(|s| s["status"] == status)
        .map(|s| s["scope"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn repo_scope(i: usize) -> String {
    format!("github:acme/repo-{i:02}")
}

/// The completed snapshots in the user's catalog, per scope.
fn catalog_scopes(user: &User) -> Vec<String> {
    let list = user.run(&["--json", "snapshot", "list"]).ok().json();
    list.as_array()
        .expect("a list")
        .iter()
        .filter(|e| e["status"] == "completed")
        .map(|e| e["scope"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn org_scope_snapshots_every_repository_and_reports_the_one_that_fails() {
    let sandbox = SandboxProc::start(&[
        "--org-repos",
        "acme:20",
        "--archived",
        "repo-20",
        "--issues",
        "12",
        "--comments",
        "30",
    ]);
    // The listing other clients see: 20 repositories over pages, the archived one flagged.
    let listed = sandbox.list_all("/orgs/acme/repos");
    assert_eq!(listed.len(), REPOS);
    let archived: Vec<&str> = listed
        .iter()
        .filter(|r| r["archived"] == true)
        .filter_map(|r| r["full_name"].as_str())
        .collect();
    assert_eq!(archived, ["acme/repo-20"]);
    let (code, body) = sandbox.api(
        "PATCH",
        "/repos/acme/repo-20/issues/1",
        Some(json!({"title": "x"})),
    );
    assert_eq!(code, 403, "an archived repository is read-only: {body}");
    assert_eq!(body["message"], "Repository was archived so is read-only.");

    break_repository(&sandbox, "acme/repo-07", Some(451));
    let user = User::new(&sandbox);
    let run = user.run(&[
        "--json",
        "snapshot",
        "create",
        "github:acme/*",
        "--jobs",
        "3",
    ]);
    assert_eq!(run.code, 2, "a failed repository fails the run: {run:?}");
    assert!(
        run.stderr.contains("github:acme/repo-07") && run.stderr.contains("1 of 19"),
        "{}",
        run.stderr
    );
    let summary = run.json();
    let completed = scopes_with(&summary, "completed");
    assert_eq!(completed.len(), 18, "{summary}");
    assert_eq!(
        scopes_with(&summary, "failed"),
        BTreeSet::from([repo_scope(7)])
    );
    assert_eq!(
        scopes_with(&summary, "skipped"),
        BTreeSet::from([repo_scope(20)])
    );
    for s in summary["scopes"].as_array().unwrap() {
        if s["status"] == "completed" {
            assert!(s["requests"].as_u64().unwrap() >= 4, "{s}");
            assert!(s["snapshot"].is_string(), "{s}");
        }
    }
    let failed = summary["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["status"] == "failed")
        .unwrap();
    assert!(
        failed["error"].as_str().unwrap().contains("451"),
        "{failed}"
    );
    // One catalog entry per repository, as if each had been snapshotted alone.
    let mut in_catalog = catalog_scopes(&user);
    in_catalog.sort();
    assert_eq!(in_catalog, completed.iter().cloned().collect::<Vec<_>>());
    let alone = user
        .run(&["--json", "snapshot", "list", &repo_scope(3)])
        .ok()
        .json();
    assert_eq!(alone.as_array().unwrap().len(), 1);
    assert_eq!(alone[0]["counts"]["issues"], 12, "{alone}");
    // GraphQL reaches the repository the query names (captures read comments through it),
    // so each snapshot holds its own repository's comments, not the first one's.
    for i in [1, 2, 3] {
        let name = format!("repo-{i:02}");
        let (code, body) = sandbox.api(
            "POST",
            "/graphql",
            Some(json!({
                "query": "query($o:String!,$n:String!){repository(owner:$o,name:$n){nameWithOwner}}",
                "variables": {"o": "acme", "n": name},
            })),
        );
        assert_eq!(code, 200, "{body}");
        assert_eq!(
            body["data"]["repository"]["nameWithOwner"],
            format!("acme/{name}"),
            "{body}"
        );
    }
    let comments = sandbox
        .list_all("/repos/acme/repo-03/issues/comments")
        .len();
    assert_eq!(alone[0]["counts"]["comments"], comments, "{alone}");
    assert!(!run.stdout.contains(SANDBOX_TOKEN) && !run.stderr.contains(SANDBOX_TOKEN));

    // The run is kept in the catalog: listed, and shown per repository, as it was printed.
    let runs = user.run(&["--json", "snapshot", "runs"]).ok().json();
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    assert_eq!(runs[0]["id"], summary["id"]);
    assert_eq!(runs[0]["scopes"], summary["scopes"]);
    let id = summary["id"].as_str().unwrap();
    let table = user.run(&["snapshot", "runs"]).ok();
    assert!(
        table.stdout.contains(id) && table.stdout.contains("failed"),
        "{}",
        table.stdout
    );
    let shown = user.run(&["snapshot", "runs", id]).ok();
    assert!(
        shown
            .stdout
            .contains("github:acme/*: 20 repositories — 18 completed, 1 failed, 1 skipped"),
        "{}",
        shown.stdout
    );
    let none = user.run(&["snapshot", "runs", "github:beta/*"]).ok();
    assert!(none.stdout.contains("No runs yet"), "{}", none.stdout);
    let missing = user.run(&["snapshot", "runs", "01jnosuchrun0000000000000x"]);
    assert_eq!(missing.code, 2, "{missing:?}");

    // Repaired, and with the archived one: every repository, the earlier ones incrementally.
    break_repository(&sandbox, "acme/repo-07", None);
    let again = user
        .run(&[
            "--json",
            "snapshot",
            "create",
            "github:acme/*",
            "--include-archived",
        ])
        .ok()
        .json();
    assert_eq!(scopes_with(&again, "completed").len(), REPOS, "{again}");
    assert_eq!(catalog_scopes(&user).len(), 18 + REPOS);
    // Human output: one line per repository and the totals.
    let text = user.run(&["snapshot", "create", "github:acme/*"]).ok();
    assert!(
        text.stdout
            .contains("github:acme/*: 20 repositories — 19 completed, 0 failed, 1 skipped"),
        "{}",
        text.stdout
    );
    assert!(text
        .stdout
        .contains("github:acme/repo-20  skipped (archived)"));

    // A single scope still refuses the whole-owner form with a pointer.
    let bad = user.run(&["diff", "github:acme/*"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("name one repository"), "{}", bad.stderr);
}

/// An RSA key in the PKCS#1 PEM form GitHub issues for apps.
pub(crate) fn app_key(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let out = Command::new("openssl")
        .args(["genrsa", "-traditional", "-out"])
        .arg(&path)
        .arg("2048")
        .output()
        .expect("openssl (tests/run installs it) generates the app's key");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

fn jwt(key: &Path, iss: &str, iat: i64, exp: i64) -> String {
    let pem = std::fs::read(key).unwrap();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &json!({"iat": iat, "exp": exp, "iss": iss}),
        &jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap(),
    )
    .unwrap()
}

fn as_app(user: &User, key: &Path, app_id: &str, args: &[&str]) -> crate::util::Run {
    let out = user
        .command(args)
        .env_remove("GITHUB_TOKEN")
        .env("GITHUB_APP_ID", app_id)
        .env("GITHUB_APP_PRIVATE_KEY_FILE", key)
        .output()
        .expect("run backtrack");
    crate::util::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

#[test]
fn org_scope_as_a_github_app_with_refreshed_installation_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let key = app_key(dir.path(), "app.pem");
    let key_path = key.to_str().unwrap();
    let sandbox = SandboxProc::start(&[
        "--org-repos",
        "acme:20",
        "--issues",
        "8",
        "--comments",
        "20",
        "--latency-ms",
        "100",
        "--app-key",
        key_path,
        "--app-id",
        "4242",
        // Short-lived tokens, so one run outlives several and must refresh them.
        "--app-token-ttl",
        "8",
    ]);
    let now = chrono::Utc::now().timestamp();

    // The App side, as GitHub answers it.
    let bearer = |t: &str| format!("Bearer {t}");
    let call = |method: &str, path: &str, auth: &str| {
        backtrack_tests::http::request_as_blocking(&sandbox.url, method, path, None, Some(auth))
    };
    let good = jwt(&key, "4242", now - 30, now + 500);
    let (code, inst) = call("GET", "/orgs/acme/installation", &bearer(&good));
    assert_eq!(code, 200, "{inst}");
    assert_eq!(inst["app_id"], 4242);
    let id = inst["id"].as_u64().unwrap();
    let (code, body) = call(
        "POST",
        &format!("/app/installations/{id}/access_tokens"),
        &bearer(&jwt(&key, "4242", now - 700, now - 100)),
    );
    assert_eq!(code, 401, "an expired JWT: {body}");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("'Expiration time' claim ('exp')"));
    let other = app_key(dir.path(), "other.pem");
    let (code, body) = call(
        "POST",
        &format!("/app/installations/{id}/access_tokens"),
        &bearer(&jwt(&other, "4242", now - 30, now + 500)),
    );
    assert_eq!(code, 401, "signed by another key: {body}");
    assert_eq!(body["message"], "A JSON web token could not be decoded");
    let (code, body) = call(
        "POST",
        &format!("/app/installations/{id}/access_tokens"),
        &bearer(&good),
    );
    assert_eq!(code, 201, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("ghs_"));
    let (code, body) = call(
        "GET",
        "/installation/repositories?per_page=5",
        &bearer(&token),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["total_count"], REPOS);
    assert_eq!(body["repositories"].as_array().unwrap().len(), 5);
    let (code, _) = call("GET", "/user/repos", &bearer(&token));
    assert_eq!(code, 403, "an installation has no user");
    let (code, issue) = call("GET", "/repos/acme/repo-03/issues/1", &bearer(&token));
    assert_eq!(code, 200, "{issue}");
    std::thread::sleep(std::time::Duration::from_millis(8200));
    let (code, body) = call("GET", "/repos/acme/repo-03/issues/1", &bearer(&token));
    assert_eq!(code, 401, "an expired installation token: {body}");
    assert_eq!(body["message"], "Bad credentials");
    let issued_before = sandbox.stats()["installation_tokens_issued"]
        .as_u64()
        .unwrap();

    // The CLI as the app: every repository but the broken one, tokens refreshed as they age.
    break_repository(&sandbox, "acme/repo-13", Some(451));
    let user = User::new(&sandbox);
    let run = as_app(
        &user,
        &key,
        "4242",
        &[
            "--json",
            "snapshot",
            "create",
            "github:acme/*",
            "--jobs",
            "1",
        ],
    );
    assert_eq!(run.code, 2, "{run:?}");
    let summary = run.json();
    assert_eq!(
        scopes_with(&summary, "completed").len(),
        REPOS - 1,
        "{summary}"
    );
    assert_eq!(
        scopes_with(&summary, "failed"),
        BTreeSet::from([repo_scope(13)])
    );
    let duration = summary["duration_ms"].as_u64().unwrap();
    let issued = sandbox.stats()["installation_tokens_issued"]
        .as_u64()
        .unwrap()
        - issued_before;
    // A token is replaced once less than a quarter of its 8 s is left, so at the latest
    // every 6 s: 19 captures one at a time at 100 ms a request outlive the first token.
    assert!(
        duration > 6000,
        "the run should outlive a token's fresh part: {duration} ms"
    );
    assert!(
        issued > duration / 6000,
        "a {duration} ms run with 8 s tokens took {issued} token(s)"
    );
    assert_eq!(catalog_scopes(&user).len(), REPOS - 1);
    let pem = std::fs::read_to_string(&key).unwrap();
    let pem_body = pem.lines().nth(1).unwrap();
    for out in [&run.stdout, &run.stderr] {
        assert!(!out.contains("ghs_") && !out.contains(pem_body), "{out}");
    }

    // The wrong app id: refused with what to check, nothing snapshotted.
    let wrong = as_app(&user, &key, "999", &["snapshot", "create", "github:acme/*"]);
    assert_eq!(wrong.code, 2);
    assert!(wrong.stderr.contains("GITHUB_APP_ID"), "{}", wrong.stderr);
    assert_eq!(catalog_scopes(&user).len(), REPOS - 1);
}
