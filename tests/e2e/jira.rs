//! Issue 13: Jira projects and epics, on Jira Cloud and Data Center, snapshot and diff as
//! GitHub repositories do — against `backtrack sandbox --tracker jira` started as a user
//! starts it, checked against what the sandbox holds (read through its API as another
//! client would) and against the request floor.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::snapshot::records_text_at;
use crate::util::{bin, Run, SandboxProc};

pub const TOKEN: &str = "sandbox-token";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Cloud,
    DataCenter,
}

pub const FLAVORS: [Flavor; 2] = [Flavor::Cloud, Flavor::DataCenter];

impl Flavor {
    pub fn arg(self) -> &'static str {
        match self {
            Flavor::Cloud => "cloud",
            Flavor::DataCenter => "datacenter",
        }
    }

    pub fn api(self) -> &'static str {
        match self {
            Flavor::Cloud => "/rest/api/3",
            Flavor::DataCenter => "/rest/api/2",
        }
    }

    /// The `Authorization` another client sends: Basic email:token on Cloud, the personal
    /// access token as Bearer on Data Center.
    fn auth(self) -> String {
        match self {
            Flavor::Cloud => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("tester@example.com:{TOKEN}"))
            ),
            Flavor::DataCenter => format!("Bearer {TOKEN}"),
        }
    }

    /// How many comments a search embeds in an issue (Cloud caps it; DC embeds all).
    fn embeds(self) -> u64 {
        match self {
            Flavor::Cloud => 100,
            Flavor::DataCenter => u64::MAX,
        }
    }
}

/// A Jira sandbox process and how to talk to it as another client.
pub struct Site {
    pub sandbox: SandboxProc,
    pub flavor: Flavor,
}

impl Site {
    pub fn start(flavor: Flavor, args: &[&str]) -> Site {
        let mut all = vec!["--tracker", "jira", "--flavor", flavor.arg()];
        all.extend_from_slice(args);
        Site {
            sandbox: SandboxProc::start(&all),
            flavor,
        }
    }

    pub fn url(&self) -> &str {
        &self.sandbox.url
    }

    /// One API call; retries what `--fault-rate` injects (5xx, 429), as any client must.
    pub fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let auth = self.flavor.auth();
        for _ in 0..40 {
            let (status, reply) = backtrack_tests::http::request_as_blocking(
                self.url(),
                method,
                path,
                body.clone(),
                Some(&auth),
            );
            if status < 500 && status != 429 {
                return (status, reply);
            }
        }
        panic!("{method} {path}: still failing after 40 attempts");
    }

    /// A call that must succeed; its JSON.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, reply) = self.api(method, path, body);
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {reply}"
        );
        reply
    }

    /// Every issue a JQL search finds, with `fields`.
    pub fn search(&self, jql: &str, fields: &[&str]) -> Vec<Value> {
        let mut out = Vec::new();
        match self.flavor {
            Flavor::Cloud => {
                let mut token: Option<String> = None;
                loop {
                    let mut body = json!({"jql": jql, "fields": fields, "maxResults": 100});
                    if let Some(t) = &token {
                        body["nextPageToken"] = json!(t);
                    }
                    let page = self.call("POST", "/rest/api/3/search/jql", Some(body));
                    out.extend(page["issues"].as_array().cloned().unwrap_or_default());
                    token = page["nextPageToken"].as_str().map(str::to_string);
                    if token.is_none() || page["isLast"] == json!(true) {
                        break;
                    }
                }
            }
            Flavor::DataCenter => loop {
                let body =
                    json!({"jql": jql, "fields": fields, "startAt": out.len(), "maxResults": 100});
                let page = self.call("POST", "/rest/api/2/search", Some(body));
                let issues = page["issues"].as_array().cloned().unwrap_or_default();
                let total = page["total"].as_u64().unwrap() as usize;
                let empty = issues.is_empty();
                out.extend(issues);
                if empty || out.len() >= total {
                    break;
                }
            },
        }
        out
    }

    /// A custom field's id, found by name (ids differ per site).
    pub fn field_id(&self, name: &str) -> Option<String> {
        self.call("GET", &format!("{}/field", self.flavor.api()), None)
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == json!(name))
            .and_then(|f| f["id"].as_str().map(str::to_string))
    }

    /// The JQL of an epic's first level: the epic and its children.
    pub fn epic_jql(&self, epic: &str) -> String {
        match self.flavor {
            Flavor::Cloud => format!("key = {epic} OR parent = {epic}"),
            Flavor::DataCenter => {
                format!("key = {epic} OR parent = {epic} OR \"Epic Link\" = {epic}")
            }
        }
    }

    /// Everything under an epic as the sandbox holds it: issues (the epic, its children and
    /// their subtasks), each with its comment total.
    pub fn epic_truth(&self, epic: &str) -> BTreeMap<String, u64> {
        let top = self.search(
            &format!("{} ORDER BY key ASC", self.epic_jql(epic)),
            &["comment"],
        );
        let keys: Vec<String> = top
            .iter()
            .map(|i| i["key"].as_str().unwrap().to_string())
            .collect();
        let subs = self.search(
            &format!("parent in ({}) ORDER BY key ASC", keys.join(", ")),
            &["comment"],
        );
        top.iter()
            .chain(&subs)
            .map(|i| {
                (
                    i["key"].as_str().unwrap().to_string(),
                    i["fields"]["comment"]["total"].as_u64().unwrap(),
                )
            })
            .collect()
    }

    /// The first epic whose subtree has at least `min` issues.
    pub fn an_epic(&self, min: usize) -> String {
        let epics = self.search("issuetype = Epic ORDER BY key ASC", &["summary"]);
        epics
            .iter()
            .map(|e| e["key"].as_str().unwrap().to_string())
            .find(|k| self.epic_truth(k).len() >= min)
            .expect("an epic with enough issues")
    }

    /// Requests per route and in total since the last reset.
    pub fn stats(&self) -> Value {
        self.sandbox.stats()
    }
}

/// A user with their own store, pointed at a Jira site with the flavour's credentials.
pub struct JiraUser {
    pub home: tempfile::TempDir,
    pub url: String,
    pub flavor: Flavor,
}

impl JiraUser {
    pub fn new(site: &Site) -> JiraUser {
        JiraUser {
            home: tempfile::tempdir().unwrap(),
            url: site.url().to_string(),
            flavor: site.flavor,
        }
    }

    pub fn store(&self) -> PathBuf {
        self.home.path().join("store")
    }

    /// A command with the flavour's credentials: JIRA_EMAIL + JIRA_API_TOKEN on Cloud, the
    /// token alone on Data Center.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .env("HOME", self.home.path())
            .env(
                "BACKTRACK_STORE",
                format!("file://{}", self.store().display()),
            )
            .env_remove("BACKTRACK_CATALOG")
            .env_remove("BACKTRACK_JIRA_FLAVOR")
            .env_remove("GITHUB_TOKEN")
            .env_remove("GH_TOKEN")
            .env("JIRA_BASE_URL", &self.url)
            .env("JIRA_API_TOKEN", TOKEN)
            .stdin(Stdio::null());
        match self.flavor {
            Flavor::Cloud => cmd.env("JIRA_EMAIL", "tester@example.com"),
            Flavor::DataCenter => cmd.env_remove("JIRA_EMAIL"),
        };
        cmd
    }

    pub fn run_with(&self, args: &[&str], env: &[(&str, Option<&str>)]) -> Run {
        let mut cmd = self.command(args);
        for (k, v) in env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let out = cmd.output().expect("run backtrack");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        }
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[])
    }

    /// `snapshot create SCOPE [extra]` as JSON.
    pub fn snapshot(&self, scope: &str, extra: &[&str]) -> Value {
        let mut args = vec!["--json", "snapshot", "create", scope];
        args.extend_from_slice(extra);
        self.run(&args).ok().json()
    }
}

fn id(report: &Value) -> &str {
    report["id"].as_str().unwrap()
}

/// Pages a listing of `n` items takes.
fn pages(n: u64, per: u64) -> u64 {
    n.div_ceil(per)
}

/// The fewest requests any client needs for a full capture: the scope check and the
/// site's field list, components and versions (one each, plus serverInfo to learn the
/// flavour), the search pages, and a comment listing for each issue with more comments than
/// a search embeds.
fn floor(flavor: Flavor, search_pages: u64, comment_totals: impl Iterator<Item = u64>) -> u64 {
    let listings: u64 = comment_totals
        .filter(|t| *t > flavor.embeds())
        .map(|t| pages(t, 100))
        .sum();
    5 + search_pages + listings
}

#[test]
fn jira_snapshots_hold_what_the_sandbox_holds_at_the_request_floor() {
    for flavor in FLAVORS {
        let site = Site::start(
            flavor,
            &["--issues", "300", "--comments", "1200", "--seed", "7"],
        );
        let user = JiraUser::new(&site);
        let truth = site.stats()["counts"].clone();

        // A project.
        let before = site.stats()["total"].as_u64().unwrap();
        let full = user.snapshot("jira:PROJ", &[]);
        let made = site.stats()["total"].as_u64().unwrap() - before;
        assert_eq!(full["mode"], "full", "{full}");
        assert_eq!(
            full["counts"]["issues"], truth["issues"],
            "{flavor:?}: {full}"
        );
        assert_eq!(
            full["counts"]["comments"], truth["comments"],
            "{flavor:?}: {full}"
        );
        assert_eq!(full["counts"]["components"], truth["components"]);
        assert_eq!(full["counts"]["versions"], truth["versions"]);
        assert_eq!(
            full["requests"].as_u64().unwrap(),
            made,
            "the report counts every request"
        );
        let issues = site.search("project = PROJ ORDER BY key ASC", &["comment"]);
        let totals: Vec<u64> = issues
            .iter()
            .map(|i| i["fields"]["comment"]["total"].as_u64().unwrap())
            .collect();
        if flavor == Flavor::Cloud {
            assert!(
                totals.iter().any(|t| *t > 100),
                "the seed has busy issues to list"
            );
        }
        let floor_project = floor(flavor, pages(issues.len() as u64, 100), totals.into_iter());
        assert!(
            made * 100 <= floor_project * 105,
            "{flavor:?}: {made} requests for a floor of {floor_project}: {}",
            site.stats()["by_route"]
        );

        // A second snapshot stores almost nothing.
        let again = user.snapshot("jira:PROJ", &[]);
        assert_eq!(again["mode"], "incremental", "{again}");
        assert_eq!(again["counts"], full["counts"]);
        assert_eq!(again["blobs_written"], 0, "{again}");
        let first = full["bytes"]["stored_new"].as_u64().unwrap();
        let second = again["bytes"]["stored_new"].as_u64().unwrap();
        assert!(
            second * 100 < first,
            "{second} bytes stored again of {first}"
        );
        assert_eq!(
            records_text_at(&user.store(), id(&full), site.url()),
            records_text_at(&user.store(), id(&again), site.url())
        );

        // An epic: the epic, its children and their subtasks, nothing else.
        let epic = site.an_epic(8);
        let under = site.epic_truth(&epic);
        let before = site.stats()["total"].as_u64().unwrap();
        let scoped = user.snapshot(&format!("jira:{epic}"), &[]);
        let made = site.stats()["total"].as_u64().unwrap() - before;
        assert_eq!(
            scoped["counts"]["issues"],
            json!(under.len()),
            "{epic}: {scoped}"
        );
        assert_eq!(
            scoped["counts"]["comments"],
            json!(under.values().sum::<u64>()),
            "{epic}: {scoped}"
        );
        let top = site.search(&site.epic_jql(&epic), &["id"]).len() as u64;
        let floor_epic = floor(
            flavor,
            pages(top, 100) + pages(under.len() as u64 - top, 100),
            under.values().copied(),
        );
        assert!(
            made * 100 <= floor_epic * 105,
            "{flavor:?} {epic}: {made} requests for a floor of {floor_epic}"
        );
        let listed = user
            .run(&["--json", "snapshot", "list", &format!("jira:{epic}")])
            .ok()
            .json();
        assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    }
}

/// Asserts an incremental snapshot holds exactly what a full capture of the same state
/// holds, record by record (raw JSON included), then drops the full one so the next
/// incremental builds on the incremental.
fn assert_same_as_full(user: &JiraUser, scope: &str, incremental: &Value) {
    assert_eq!(incremental["mode"], "incremental", "{incremental}");
    let full = user.snapshot(scope, &["--full"]);
    assert_eq!(full["mode"], "full", "{full}");
    assert_eq!(
        incremental["counts"], full["counts"],
        "{scope}: {incremental}\n{full}"
    );
    let a = records_text_at(&user.store(), id(incremental), &user.url);
    let b = records_text_at(&user.store(), id(&full), &user.url);
    assert_eq!(a.len(), b.len(), "{scope}");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y, "{scope}: incremental and full captures differ");
    }
    user.run(&["snapshot", "delete", id(&full), "--force"]).ok();
}

/// The diff JSON between two snapshots of a scope.
fn diff_json(user: &JiraUser, scope: &str, from: &str, to: &str) -> Value {
    user.run(&[
        "diff", scope, "--from", from, "--to", to, "--format", "json",
    ])
    .ok()
    .json()
}

fn key_of(issue: &Value) -> String {
    issue["key"].as_str().unwrap().to_string()
}

#[test]
fn jira_incremental_snapshots_equal_full_ones_after_every_kind_of_change() {
    for flavor in FLAVORS {
        let site = Site::start(
            flavor,
            &["--issues", "300", "--comments", "1200", "--seed", "11"],
        );
        let user = JiraUser::new(&site);
        let api = "/rest/api/2";
        let epic = site.an_epic(10);
        let epic_scope = format!("jira:{epic}");
        let other = site
            .search("issuetype = Epic ORDER BY key ASC", &["summary"])
            .iter()
            .map(key_of)
            .find(|k| *k != epic)
            .unwrap();
        let p0 = user.snapshot("jira:PROJ", &[]);
        let e0 = user.snapshot(&epic_scope, &[]);

        // What is under the epic, as another client sees it.
        let children = site.search(
            &format!(
                "({}) AND key != {epic} ORDER BY key ASC",
                site.epic_jql(&epic)
            ),
            &["issuetype", "comment", "subtasks", "components"],
        );
        let with_subtasks = children
            .iter()
            .find(|c| !c["fields"]["subtasks"].as_array().unwrap().is_empty())
            .expect("a child with subtasks");
        let moved = key_of(with_subtasks);
        let moved_subtasks: Vec<String> = with_subtasks["fields"]["subtasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(key_of)
            .collect();
        let rest: Vec<&Value> = children.iter().filter(|c| key_of(c) != moved).collect();
        let edited = key_of(rest[0]);
        let commented = rest
            .iter()
            .find(|c| c["fields"]["comment"]["total"].as_u64().unwrap() >= 2)
            .map(|c| key_of(c))
            .expect("a child with two comments");
        let deleted = rest
            .iter()
            .flat_map(|c| {
                c["fields"]["subtasks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(key_of)
            })
            .next()
            .or_else(|| rest.last().map(|c| key_of(c)))
            .unwrap();

        // A day of changes by other clients.
        site.call(
            "PUT",
            &format!("{api}/issue/{edited}"),
            Some(json!({"fields": {
                "summary": "Edited by a sync script",
                "description": "Rewritten\n* by a sync",
                "labels": ["synced"]
            }})),
        );
        site.call(
            "POST",
            &format!("{api}/issue/{edited}/comment"),
            Some(json!({"body": "A new comment"})),
        );
        let comments = site.call("GET", &format!("{api}/issue/{commented}/comment"), None);
        let ids: Vec<String> = comments["comments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect();
        site.call(
            "PUT",
            &format!("{api}/issue/{commented}/comment/{}", ids[0]),
            Some(json!({"body": "Edited comment"})),
        );
        site.call(
            "DELETE",
            &format!("{api}/issue/{commented}/comment/{}", ids[1]),
            None,
        );
        site.call("DELETE", &format!("{api}/issue/{deleted}"), None);
        let move_to = match flavor {
            Flavor::Cloud => json!({"fields": {"parent": {"key": other}}}),
            Flavor::DataCenter => {
                let link = site
                    .field_id("Epic Link")
                    .expect("an Epic Link field on DC");
                json!({"fields": {link: other}})
            }
        };
        site.call("PUT", &format!("{api}/issue/{moved}"), Some(move_to));
        // A component some issue in the project carries: deleting it strips it from them
        // without moving their `updated`.
        let carried = site
            .search("component is not EMPTY ORDER BY key ASC", &["components"])
            .first()
            .map(|i| {
                i["fields"]["components"][0]["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .expect("an issue with a component");
        site.call("DELETE", &format!("{api}/component/{carried}"), None);

        let p1 = user.snapshot("jira:PROJ", &[]);
        assert!(p1["deleted"].as_u64().unwrap() >= 2, "{p1}");
        assert_same_as_full(&user, "jira:PROJ", &p1);
        let e1 = user.snapshot(&epic_scope, &[]);
        assert_same_as_full(&user, &epic_scope, &e1);

        // The epic's diff: the moved issue and its subtasks left the scope, the deleted one
        // is gone, the rest are changes.
        let d = diff_json(&user, &epic_scope, id(&e0), id(&e1));
        let removed: Vec<&str> = d["issues"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["op"] == "removed")
            .map(|i| i["key"].as_str().unwrap())
            .collect();
        assert!(
            removed.contains(&moved.as_str()),
            "{moved} not removed: {removed:?}"
        );
        for s in &moved_subtasks {
            assert!(
                removed.contains(&s.as_str()),
                "{s} not removed: {removed:?}"
            );
        }
        assert!(
            removed.contains(&deleted.as_str()),
            "{deleted} not removed: {removed:?}"
        );
        let changes = d["changes"].as_array().unwrap();
        let has = |key: &str, field: &str| {
            changes
                .iter()
                .any(|c| c["issue_key"] == json!(key) && c["field"] == json!(field))
        };
        assert!(has(&edited, "summary") && has(&edited, "description") && has(&edited, "labels"));
        // Comments of issues that stayed: one deleted, one edited, one added (the removed
        // issues' comments leave with them).
        let on_kept = |op: &str| {
            changes
                .iter()
                .filter(|c| {
                    c["kind"] == "comment"
                        && c["op"] == json!(op)
                        && !removed.contains(&c["issue_key"].as_str().unwrap())
                })
                .count()
        };
        assert_eq!(on_kept("removed"), 1, "{}", d["summary"]);
        assert_eq!(on_kept("changed"), 1, "{}", d["summary"]);
        assert_eq!(on_kept("added"), 1, "{}", d["summary"]);
        // The project's diff shows the move as a change of the epic, and the component as
        // removed with the issues it left.
        let d = diff_json(&user, "jira:PROJ", id(&p0), id(&p1));
        let field = match flavor {
            Flavor::Cloud => "parent",
            Flavor::DataCenter => "epic_link",
        };
        assert!(
            d["changes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["issue_key"] == json!(moved)
                    && c["field"] == json!(field)
                    && c["before"] == json!(epic)
                    && c["after"] == json!(other)),
            "{moved}: no {field} change in {}",
            d["changes"]
        );
        let gone = d["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["kind"] == "component" && c["op"] == "removed")
            .unwrap_or_else(|| panic!("no component removal in {}", d["changes"]));
        assert!(!gone["issue_keys"].as_array().unwrap().is_empty(), "{gone}");
        assert_eq!(d["summary"]["components_removed"], json!(1));
    }
}

/// Environment changes for one command: a variable set, or removed (`None`).
type Env<'a> = Vec<(&'a str, Option<&'a str>)>;

fn assert_one_line_error(run: &Run, needle: &str) {
    assert_eq!(run.code, 2, "expected exit 2: {run:?}");
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one line on stderr, got: {}",
        run.stderr
    );
    assert!(lines[0].starts_with("error: "), "{}", lines[0]);
    assert!(
        lines[0].contains(needle),
        "{:?} should mention {needle:?}",
        lines[0]
    );
    assert!(
        !run.stderr.contains(TOKEN) && !run.stdout.contains(TOKEN),
        "the token leaked: {run:?}"
    );
}

fn assert_nothing_written(user: &JiraUser) {
    let list = user.run(&["--json", "snapshot", "list"]);
    if list.code == 0 {
        assert_eq!(
            list.json(),
            json!([]),
            "a failed command left a catalog entry"
        );
    }
    let blobs = user.store().join("blobs");
    assert!(
        !blobs.exists() || std::fs::read_dir(&blobs).unwrap().next().is_none(),
        "blobs were written"
    );
}

#[test]
fn jira_bad_input_is_one_line_exit_2_and_nothing_written() {
    for flavor in FLAVORS {
        let site = Site::start(flavor, &["--issues", "40", "--comments", "40"]);
        let story = site
            .search("issuetype = Story ORDER BY key ASC", &["summary"])
            .first()
            .map(key_of)
            .expect("a story");
        let not_an_epic = format!("jira:{story}");
        let cases: Vec<(&str, Env<'_>, String)> = vec![
            ("jira:NOPE", vec![], "project NOPE not found".into()),
            ("jira:PROJ-9999", vec![], "epic PROJ-9999 not found".into()),
            (
                not_an_epic.as_str(),
                vec![],
                format!("{story} is a Story, not an epic"),
            ),
            (
                "jira:PROJ",
                vec![("JIRA_API_TOKEN", Some("wrong-token"))],
                "rejected the credentials".into(),
            ),
            (
                "jira:PROJ",
                match flavor {
                    // A Data Center personal access token (no email) sent to Cloud.
                    Flavor::Cloud => vec![("JIRA_EMAIL", None)],
                    // A Cloud API token (with the account's email) sent to Data Center.
                    Flavor::DataCenter => vec![("JIRA_EMAIL", Some("tester@example.com"))],
                },
                match flavor {
                    Flavor::Cloud => "set JIRA_EMAIL too".into(),
                    Flavor::DataCenter => "unset JIRA_EMAIL".into(),
                },
            ),
            (
                "jira:PROJ",
                vec![("JIRA_BASE_URL", None)],
                "JIRA_BASE_URL is not set".into(),
            ),
            ("jira:PR-OJ-1", vec![], "invalid scope".into()),
        ];
        for (scope, env, needle) in cases {
            let user = JiraUser::new(&site);
            let run = user.run_with(&["snapshot", "create", scope], &env);
            assert_one_line_error(&run, &needle);
            assert_nothing_written(&user);
            // A live diff needs the same things.
            if env.is_empty() && scope != "jira:PR-OJ-1" {
                let run = user.run(&["diff", scope, "--from", "latest"]);
                assert_eq!(run.code, 2, "{run:?}");
            }
        }
        // Rollback options that do not fit a Jira scope are refused before anything is
        // read or written.
        let user = JiraUser::new(&site);
        user.snapshot("jira:PROJ", &[]);
        let before = site.stats()["writes"].clone();
        for (flags, needle) in [
            (&["--only", "12"][..], "is not a Jira issue key"),
            (&["--only", "PROJ-99999"][..], "PROJ-99999"),
            (&["--fields", "milestones"][..], "unknown field"),
            (&["--close-new-issues"][..], "GitHub scopes only"),
        ] {
            let mut args = vec![
                "rollback",
                "jira:PROJ",
                "--to",
                "latest",
                "--execute",
                "--yes",
            ];
            args.extend_from_slice(flags);
            let run = user.run(&args);
            assert_one_line_error(&run, needle);
            assert_eq!(run.code, 2, "{run:?}");
        }
        assert_eq!(site.stats()["writes"], before);
    }
}

#[test]
fn jira_snapshots_under_injected_faults_are_exact() {
    // 10% of requests answer 5xx or 429 with Retry-After: retries must not cost a record,
    // duplicate one, or turn into a false deletion.
    let site = Site::start(
        Flavor::Cloud,
        &[
            "--issues",
            "250",
            "--comments",
            "900",
            "--seed",
            "5",
            "--fault-rate",
            "0.1",
        ],
    );
    let user = JiraUser::new(&site);
    let truth = site.stats()["counts"].clone();
    let run = user
        .run(&["-v", "--json", "snapshot", "create", "jira:PROJ"])
        .ok();
    let retries = run.stderr.matches("retrying").count();
    assert!(retries > 0, "no fault was met: {}", run.stderr);
    let a = run.json();
    assert_eq!(a["counts"]["issues"], truth["issues"], "{a}");
    assert_eq!(a["counts"]["comments"], truth["comments"], "{a}");
    let b = user.snapshot("jira:PROJ", &["--full"]);
    assert_eq!(
        records_text_at(&user.store(), id(&a), site.url()),
        records_text_at(&user.store(), id(&b), site.url()),
        "two captures of one state under faults differ"
    );
    // An edit and a deleted issue, then an incremental under faults equals a full one.
    let victim = site
        .search("issuetype = Task ORDER BY key DESC", &["summary"])
        .first()
        .map(key_of)
        .unwrap();
    site.call(
        "PUT",
        "/rest/api/2/issue/PROJ-3",
        Some(json!({"fields": {"summary": "faulty day"}})),
    );
    site.call(
        "DELETE",
        &format!("/rest/api/2/issue/{victim}?deleteSubtasks=true"),
        None,
    );
    let c = user.snapshot("jira:PROJ", &[]);
    assert!(c["deleted"].as_u64().unwrap() >= 1, "{c}");
    assert_same_as_full(&user, "jira:PROJ", &c);
}

#[test]
fn jira_scopes_go_everywhere_a_scope_goes() {
    let site = Site::start(Flavor::DataCenter, &["--issues", "60", "--comments", "120"]);
    let user = JiraUser::new(&site);
    let epic = site.an_epic(3);
    let epic_scope = format!("jira:{epic}");
    let first = user.snapshot("jira:proj", &["--name", "before-sync"]);
    assert_eq!(
        first["scope"], "jira:proj",
        "the scope keeps the form it was typed in"
    );
    let second = user.snapshot("jira:PROJ", &[]);
    assert_eq!(
        second["parent"], first["id"],
        "one project, one history, whatever the case"
    );
    user.snapshot(&epic_scope, &[]);

    let listed = user
        .run(&["--json", "snapshot", "list", "jira:PROJ"])
        .ok()
        .json();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    let text = user.run(&["snapshot", "list"]).ok().stdout;
    assert!(
        text.contains("jira:proj") && text.contains(&epic_scope),
        "{text}"
    );
    let shown = user.run(&["snapshot", "show", "before-sync"]).ok().stdout;
    assert!(
        shown.contains("components") && shown.contains("versions"),
        "{shown}"
    );
    let shown = user
        .run(&["--json", "snapshot", "show", "before-sync"])
        .ok()
        .json();
    assert_eq!(shown["scope"], "jira:proj", "{shown}");

    // Diff snapshot ↔ live after a change, in all three formats.
    site.call(
        "PUT",
        "/rest/api/2/issue/PROJ-2",
        Some(json!({"fields": {"summary": "Changed live"}})),
    );
    let text = user.run(&["diff", "jira:PROJ"]).ok().stdout;
    assert!(
        text.contains("PROJ-2 Changed live") && text.contains("Summary"),
        "{text}"
    );
    let md = user
        .run(&["diff", "jira:PROJ", "--format", "markdown"])
        .ok()
        .stdout;
    assert!(
        md.contains("PROJ-2") && md.contains("| Components |"),
        "{md}"
    );
    let j = user
        .run(&["diff", "jira:PROJ", "--format", "json"])
        .ok()
        .json();
    assert_eq!(j["schema_version"], 1);
    assert_eq!(j["summary"]["total"], 1, "{j}");
    assert_eq!(j["changes"][0]["issue_key"], "PROJ-2");
    assert_eq!(j["changes"][0]["field"], "summary");
    let exit = user.run(&["diff", "jira:PROJ", "--exit-code"]);
    assert_eq!(exit.code, 1, "{exit:?}");

    user.run(&["verify", "--all"]).ok();
    user.run(&["verify", "jira:PROJ"]).ok();
    let preview = user
        .run(&["--json", "prune", "jira:PROJ", "--keep-last", "1"])
        .ok()
        .json();
    assert_eq!(preview["executed"], false, "{preview}");
    user.run(&["prune", "jira:PROJ", "--keep-last", "1", "--execute"])
        .ok();
    let listed = user
        .run(&["--json", "snapshot", "list", "jira:PROJ"])
        .ok()
        .json();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let epic_id = user
        .run(&["--json", "snapshot", "list", &epic_scope])
        .ok()
        .json()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    user.run(&["snapshot", "delete", &epic_id]).ok();
    let listed = user
        .run(&["--json", "snapshot", "list", &epic_scope])
        .ok()
        .json();
    assert_eq!(listed, json!([]));
    user.run(&["verify", "--all"]).ok();
}

pub fn python() -> String {
    match std::env::var("BACKTRACK_TEST_PYTHON") {
        Ok(p) if !p.trim().is_empty() => p,
        _ => panic!(
            "BACKTRACK_TEST_PYTHON is not set: run the project's test command, which creates \
             .venv with PyPI jira and sets it"
        ),
    }
}

#[test]
fn jira_changes_made_by_pypi_jira_all_show_in_the_diff_and_nothing_else() {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("py/jira_changes.py");
    for flavor in FLAVORS {
        let site = Site::start(
            flavor,
            &["--issues", "150", "--comments", "400", "--seed", "21"],
        );
        let user = JiraUser::new(&site);
        let before = user.snapshot("jira:PROJ", &[]);
        let out = Command::new(python())
            .arg(&script)
            .args([site.url(), flavor.arg(), TOKEN, "PROJ"])
            .output()
            .expect("run jira_changes.py");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "jira_changes.py failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let did: Value = stdout
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str(l).ok())
            .expect("the script's JSON summary");
        let after = user.snapshot("jira:PROJ", &[]);
        let d = diff_json(&user, "jira:PROJ", id(&before), id(&after));
        // The live diff says the same.
        let live = user
            .run(&[
                "diff",
                "jira:PROJ",
                "--from",
                id(&before),
                "--format",
                "json",
            ])
            .ok()
            .json();
        assert_eq!(
            live["changes"], d["changes"],
            "{flavor:?}: snapshot and live diffs differ"
        );

        let edited = did["edited"].as_str().unwrap();
        let subtask = did["subtask"].as_str().unwrap();
        // (issue key, kind, field, op, before, after); `Value::Null` where the value is not
        // checked exactly.
        let mut expected: Vec<(String, &str, &str, &str, Value, Value)> = vec![
            (
                edited.into(),
                "issue",
                "summary",
                "changed",
                did["summary"][0].clone(),
                did["summary"][1].clone(),
            ),
            (
                edited.into(),
                "issue",
                "description",
                "changed",
                Value::Null,
                Value::Null,
            ),
            (
                edited.into(),
                "issue",
                "status",
                "changed",
                did["status"][0].clone(),
                did["status"][1].clone(),
            ),
            (
                edited.into(),
                "issue",
                "assignee",
                "changed",
                did["assignee"][0].clone(),
                did["assignee"][1].clone(),
            ),
            (
                edited.into(),
                "issue",
                "components",
                "added",
                Value::Null,
                did["components_added"][0].clone(),
            ),
            (
                edited.into(),
                "issue",
                "story_points",
                "changed",
                Value::Null,
                Value::Null,
            ),
            (
                edited.into(),
                "issue",
                "subtasks",
                "added",
                Value::Null,
                json!(subtask),
            ),
            (
                subtask.into(),
                "issue",
                "*",
                "added",
                Value::Null,
                Value::Null,
            ),
            (
                did["comment_deleted"]["issue"].as_str().unwrap().into(),
                "comment",
                "*",
                "removed",
                Value::Null,
                Value::Null,
            ),
            (
                did["moved"]["issue"].as_str().unwrap().into(),
                "issue",
                did["moved"]["field"].as_str().unwrap(),
                "changed",
                did["moved"]["from"].clone(),
                did["moved"]["to"].clone(),
            ),
        ];
        for l in did["labels_added"].as_array().unwrap() {
            expected.push((
                edited.into(),
                "issue",
                "labels",
                "added",
                Value::Null,
                l.clone(),
            ));
        }
        for l in did["labels_removed"].as_array().unwrap() {
            expected.push((
                edited.into(),
                "issue",
                "labels",
                "removed",
                l.clone(),
                Value::Null,
            ));
        }
        let changes = d["changes"].as_array().unwrap();
        let shown: Vec<String> = changes
            .iter()
            .map(|c| {
                format!(
                    "{} {} {} {}",
                    c["issue_key"], c["kind"], c["field"], c["op"]
                )
            })
            .collect();
        assert_eq!(
            changes.len(),
            expected.len(),
            "{flavor:?}: the diff has other changes than the script made: {shown:#?}\nscript: {did}"
        );
        for (key, kind, field, op, before_v, after_v) in &expected {
            let c = changes
                .iter()
                .find(|c| {
                    c["issue_key"] == json!(key)
                        && c["kind"] == json!(kind)
                        && c["field"] == json!(field)
                        && c["op"] == json!(op)
                        && (after_v.is_null() || op == &"changed" || c["after"] == *after_v)
                        && (before_v.is_null() || op == &"changed" || c["before"] == *before_v)
                })
                .unwrap_or_else(|| {
                    panic!("{flavor:?}: no {key} {kind} {field} {op} in {shown:#?}")
                });
            if *op == "changed" {
                assert!(!c["before"].is_null() || !c["after"].is_null(), "{c}");
                assert_ne!(c["before"], c["after"], "{c}");
                if !before_v.is_null() {
                    assert_eq!(c["before"], *before_v, "{c}");
                }
                if !after_v.is_null() {
                    assert_eq!(c["after"], *after_v, "{c}");
                }
            }
        }
        let points = changes
            .iter()
            .find(|c| c["field"] == "story_points")
            .unwrap();
        assert_eq!(points["after"].as_f64(), Some(8.0), "{points}");
        assert_eq!(
            points["before"].as_f64(),
            did["story_points"][0].as_f64(),
            "{points}"
        );
        let description = changes
            .iter()
            .find(|c| c["field"] == "description")
            .unwrap();
        assert!(
            description["after"]
                .as_str()
                .unwrap()
                .contains("retries up to three times"),
            "{description}"
        );
        assert!(
            !description["hunks"].as_array().unwrap().is_empty(),
            "{description}"
        );
        let deleted = changes.iter().find(|c| c["kind"] == "comment").unwrap();
        assert_eq!(deleted["key"], did["comment_deleted"]["id"], "{deleted}");
    }
}

#[test]
fn jira_scopes_on_s3_and_dynamodb() {
    let site = Site::start(
        Flavor::Cloud,
        &["--issues", "60", "--comments", "150", "--seed", "3"],
    );
    let user = JiraUser::new(&site);
    let store = format!("s3://{}/archive", crate::aws::unique("b"));
    let catalog = format!("dynamodb://{}", crate::aws::unique("t"));
    let endpoint = crate::aws::moto_url();
    let env = [
        ("BACKTRACK_STORE", Some(store.as_str())),
        ("BACKTRACK_CATALOG", Some(catalog.as_str())),
        ("AWS_ENDPOINT_URL", Some(endpoint.as_str())),
    ];
    let run = |args: &[&str]| user.run_with(args, &env).ok();
    run(&["init"]);
    let good = run(&[
        "--json",
        "snapshot",
        "create",
        "jira:PROJ",
        "--name",
        "good",
    ])
    .json();
    assert_eq!(good["status"], "completed", "{good}");
    assert_eq!(good["counts"]["issues"], site.stats()["counts"]["issues"]);
    let epic = site.an_epic(3);
    run(&["snapshot", "create", &format!("jira:{epic}")]);
    let list = run(&["--json", "snapshot", "list", "jira:PROJ"]).json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let shown = run(&["--json", "snapshot", "show", "good"]).json();
    assert_eq!(shown["scope"], "jira:PROJ", "{shown}");

    site.call(
        "PUT",
        "/rest/api/2/issue/PROJ-4",
        Some(json!({"fields": {"labels": ["on-s3"]}})),
    );
    let changed = user.run_with(
        &["diff", "jira:PROJ", "--format", "json", "--exit-code"],
        &env,
    );
    assert_eq!(changed.code, 1, "{changed:?}");
    assert!(changed.stdout.contains("on-s3"), "{}", changed.stdout);
    let next = run(&["--json", "snapshot", "create", "jira:PROJ"]).json();
    assert_eq!(next["mode"], "incremental", "{next}");
    let d = run(&[
        "--json",
        "diff",
        "jira:PROJ",
        "--from",
        "good",
        "--to",
        "latest",
    ])
    .json();
    assert!(
        d["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["after"] == "on-s3"),
        "{d}"
    );

    let verify = run(&["--json", "verify", "--all"]).json();
    assert_eq!(verify["problems"], json!([]), "{verify}");
    run(&["prune", "jira:PROJ", "--keep-last", "1", "--execute"]);
    let list = run(&["--json", "snapshot", "list", "jira:PROJ"]).json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["id"], next["id"]);
    run(&["snapshot", "delete", next["id"].as_str().unwrap()]);
    let list = run(&["--json", "snapshot", "list", "jira:PROJ"]).json();
    assert_eq!(list, json!([]));
}
