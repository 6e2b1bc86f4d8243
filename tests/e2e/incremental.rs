//! Issue 8: incremental snapshots list only what changed, merge it into the parent, and
//! notice deletions — proven by comparing each incremental snapshot with a full one taken
//! right after it, record by record.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use backtrack::catalog::SqliteCatalog;
use backtrack::record::Record;
use backtrack::scope::Scope;
use backtrack::snapshot::{Archive, SnapshotOptions};
use backtrack::store::LocalStore;
use backtrack::tracker::{
    FetchOptions, FetchReport, GitHubConfig, GitHubTracker, Totals, Tracker, TrackerError,
};
use serde_json::{json, Value};

use crate::snapshot::records_text;
use crate::util::{SandboxProc, User, SANDBOX_TOKEN};

const SCOPE: &str = "github:acme/widgets";
const REPO: &str = "/repos/acme/widgets";

fn snapshot(user: &User, extra: &[&str]) -> Value {
    let mut args = vec!["--json", "snapshot", "create", SCOPE];
    args.extend_from_slice(extra);
    user.run(&args).ok().json()
}

fn id(report: &Value) -> &str {
    report["id"].as_str().unwrap()
}

/// The ids of one issue's comments, in creation order.
fn comment_ids(sandbox: &SandboxProc, issue: u64) -> Vec<u64> {
    sandbox
        .list_all(&format!("{REPO}/issues/{issue}/comments"))
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect()
}

fn call(sandbox: &SandboxProc, method: &str, path: &str, body: Option<Value>) {
    // Retries what `--fault-rate` injects (5xx, secondary-limit 403/429), as any client must.
    for attempt in 0..30 {
        let (status, reply) = sandbox.api(method, path, body.clone());
        if (200..300).contains(&status) || (attempt > 0 && method == "DELETE" && status == 404) {
            return;
        }
        assert!(
            status >= 500 || status == 403 || status == 429,
            "{method} {path}: {status} {reply}"
        );
    }
    panic!("{method} {path}: still failing after 30 attempts");
}

/// Asserts the incremental snapshot holds exactly what a full capture of the same state
/// holds, then drops the full one so the next incremental builds on the incremental.
fn assert_same_as_full(user: &User, sandbox: &SandboxProc, incremental: &Value) {
    let full = snapshot(user, &["--full"]);
    assert_eq!(full["mode"], "full", "{full}");
    assert_eq!(
        incremental["counts"], full["counts"],
        "{incremental}\n{full}"
    );
    let a = records_text(user, id(incremental), &sandbox.url);
    let b = records_text(user, id(&full), &sandbox.url);
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y, "incremental and full captures differ");
    }
    user.run(&["snapshot", "delete", id(&full), "--force"]).ok();
}

#[test]
fn incremental_snapshots_merge_changes_and_detect_deletions() {
    let sandbox = SandboxProc::start(&["--issues", "450", "--comments", "1800", "--seed", "11"]);
    let user = User::new(&sandbox);

    let full = snapshot(&user, &[]);
    assert_eq!(full["mode"], "full", "{full}");

    // Nothing changed: two count probes, two 304 revalidations, two empty windows, and one
    // page of issue events (who changed what).
    let quiet = snapshot(&user, &[]);
    assert_eq!(quiet["mode"], "incremental", "{quiet}");
    assert_eq!(quiet["deleted"], 0);
    assert_eq!(quiet["not_modified"], 2, "{quiet}");
    assert!(quiet["requests"].as_u64().unwrap() <= 7, "{quiet}");
    assert_eq!(quiet["blobs_written"], 0, "{quiet}");

    // Edits, a new comment, deletions in the first page, the middle and the very end of
    // the creation order (an open and a closed issue), and a deleted label.
    call(
        &sandbox,
        "PATCH",
        &format!("{REPO}/issues/3"),
        Some(json!({"title": "renamed"})),
    );
    call(
        &sandbox,
        "PATCH",
        &format!("{REPO}/issues/200"),
        Some(json!({"state": "closed"})),
    );
    call(
        &sandbox,
        "POST",
        &format!("{REPO}/issues/9/comments"),
        Some(json!({"body": "new"})),
    );
    let on_12 = comment_ids(&sandbox, 12);
    let on_300 = comment_ids(&sandbox, 300);
    assert!(
        !on_12.is_empty() && on_300.len() >= 2,
        "seed has comments on #12 and #300"
    );
    call(
        &sandbox,
        "DELETE",
        &format!("{REPO}/issues/comments/{}", on_12[0]),
        None,
    );
    call(
        &sandbox,
        "DELETE",
        &format!("{REPO}/issues/comments/{}", on_300[1]),
        None,
    );
    let edit = on_300[0];
    call(
        &sandbox,
        "PATCH",
        &format!("{REPO}/issues/comments/{edit}"),
        Some(json!({"body": "edited"})),
    );
    call(
        &sandbox,
        "PATCH",
        &format!("{REPO}/issues/150"),
        Some(json!({"state": "closed"})),
    );
    let deleted_issues = [2u64, 150, 301, 450];
    let mut orphaned = 0;
    for n in deleted_issues {
        orphaned += comment_ids(&sandbox, n).len() as u64;
        call(&sandbox, "DELETE", &format!("{REPO}/issues/{n}"), None);
    }
    let label = sandbox.list_all(&format!("{REPO}/labels"))[0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    call(
        &sandbox,
        "DELETE",
        &format!("{REPO}/labels/{}", label.replace(' ', "%20")),
        None,
    );

    let before = sandbox.stats()["total"].as_u64().unwrap();
    let inc = snapshot(&user, &[]);
    let spent = sandbox.stats()["total"].as_u64().unwrap() - before;
    assert_eq!(inc["mode"], "incremental", "{inc}");
    assert_eq!(inc["requests"].as_u64().unwrap(), spent);
    assert_eq!(
        inc["deleted"].as_u64().unwrap(),
        deleted_issues.len() as u64 + orphaned + 2,
        "4 issues, their comments and 2 more comments: {inc}"
    );
    // Far below a full capture (450 issues + 1800 comments need 23+ pages), deletions
    // included: a binary search per gap, not a re-listing.
    eprintln!(
        "incremental with deletions: {spent} requests, {} deleted",
        inc["deleted"]
    );
    assert!(spent <= 40, "{spent} requests: {inc}");
    assert_same_as_full(&user, &sandbox, &inc);

    // The diff between the full and the incremental snapshot names every deletion.
    let diff = user
        .run(&[
            "--json",
            "diff",
            SCOPE,
            "--from",
            id(&full),
            "--to",
            id(&inc),
            "--format",
            "json",
        ])
        .ok()
        .json();
    let text = diff.to_string();
    for n in deleted_issues {
        assert!(
            text.contains(&format!("\"number\":{n}")),
            "issue #{n} missing from {diff}"
        );
    }
    for c in [on_12[0], on_300[1]] {
        assert!(
            text.contains(&c.to_string()),
            "comment {c} missing from the diff"
        );
    }

    // The incremental snapshot equals the live state.
    user.run(&[
        "diff",
        SCOPE,
        "--from",
        "latest",
        "--to",
        "live",
        "--exit-code",
    ])
    .ok();
}

#[test]
fn reconciliation_runs_every_nth_snapshot_and_after_a_sandbox_clock_jump() {
    let sandbox = SandboxProc::start(&["--issues", "120", "--comments", "300"]);
    let user = User::new(&sandbox);
    assert_eq!(snapshot(&user, &[])["mode"], "full");
    assert_eq!(
        snapshot(&user, &["--reconcile-every", "2"])["mode"],
        "incremental"
    );
    assert_eq!(
        snapshot(&user, &["--reconcile-every", "2"])["mode"],
        "incremental"
    );
    assert_eq!(snapshot(&user, &["--reconcile-every", "2"])["mode"], "full");

    // A simulated day later, a change lands past the overlap window and is still seen.
    let (status, now) = sandbox.api(
        "POST",
        "/_sandbox/clock",
        Some(json!({"advance_secs": 86_400})),
    );
    assert_eq!(status, 200, "{now}");
    call(
        &sandbox,
        "PATCH",
        &format!("{REPO}/issues/7"),
        Some(json!({"body": "a day later"})),
    );
    let inc = snapshot(&user, &[]);
    assert_eq!(inc["mode"], "incremental");
    assert_same_as_full(&user, &sandbox, &inc);
    let (status, _) = sandbox.api("POST", "/_sandbox/clock", Some(json!({"advance_secs": -1})));
    assert_eq!(status, 422, "the clock only moves forward");
}

#[test]
fn incremental_snapshots_stay_exact_under_injected_faults() {
    // 10% of API requests fail (5xx, secondary limits): retries must not turn into missed
    // changes or false deletions.
    let sandbox = SandboxProc::start(&[
        "--issues",
        "300",
        "--comments",
        "1200",
        "--seed",
        "3",
        "--fault-rate",
        "0.1",
    ]);
    let user = User::new(&sandbox);
    assert_eq!(snapshot(&user, &[])["mode"], "full");
    let on_5 = comment_ids(&sandbox, 5);
    call(
        &sandbox,
        "PATCH",
        &format!("{REPO}/issues/8"),
        Some(json!({"title": "faulty day"})),
    );
    if let Some(c) = on_5.first() {
        call(
            &sandbox,
            "DELETE",
            &format!("{REPO}/issues/comments/{c}"),
            None,
        );
    }
    call(&sandbox, "DELETE", &format!("{REPO}/issues/123"), None);
    let inc = snapshot(&user, &[]);
    assert_eq!(inc["mode"], "incremental", "{inc}");
    assert!(
        inc["deleted"].as_u64().unwrap() > u64::from(!on_5.is_empty()),
        "{inc}"
    );
    assert_same_as_full(&user, &sandbox, &inc);
}

/// Every manifest entry of a snapshot as `kind:id blob embeds`, in key order: what an
/// incremental capture must share with a full one besides the records' content.
fn entries_text(user: &User, id: &str) -> Vec<String> {
    in_archive(user, |archive| {
        let id = id.to_string();
        async move {
            let entry = archive.resolve(None, &id).await.unwrap();
            let manifest = archive.load_manifest(&entry).await.unwrap();
            manifest
                .entries
                .iter()
                .map(|e| format!("{} {} {:?}", e.key(), e.blob, e.embeds))
                .collect()
        }
    })
}

/// Runs `f` on the user's store and catalog, in process.
fn in_archive<F, Fut, T>(user: &User, f: F) -> T
where
    F: FnOnce(Archive) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Arc::new(LocalStore::open(user.store()).unwrap());
        let catalog = Arc::new(SqliteCatalog::open(&user.store().join("catalog.sqlite")).unwrap());
        f(Archive::new(store, catalog)).await
    })
}

/// [`assert_same_as_full`], and the two manifests agree entry for entry: the same blob for
/// every record (byte-identical canonical JSON) and the same recorded embeds.
fn assert_same_entries_as_full(user: &User, sandbox: &SandboxProc, incremental: &Value) {
    let full = snapshot(user, &["--full"]);
    assert_eq!(
        entries_text(user, id(incremental)),
        entries_text(user, id(&full)),
        "incremental and full manifests differ"
    );
    user.run(&["snapshot", "delete", id(&full), "--force"]).ok();
    assert_same_as_full(user, sandbox, incremental);
}

/// Issue numbers by what they carry: `label id → issues`, `milestone number → issues`.
type Carriers = (BTreeMap<u64, BTreeSet<u64>>, BTreeMap<u64, BTreeSet<u64>>);

fn carriers(sandbox: &SandboxProc) -> Carriers {
    let mut labels: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    let mut milestones: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    for i in sandbox.list_all(&format!("{REPO}/issues?state=all")) {
        let n = i["number"].as_u64().unwrap();
        for l in i["labels"].as_array().unwrap() {
            labels
                .entry(l["id"].as_u64().unwrap())
                .or_default()
                .insert(n);
        }
        if let Some(m) = i["milestone"]["number"].as_u64() {
            milestones.entry(m).or_default().insert(n);
        }
    }
    (labels, milestones)
}

/// The issues every incremental listing returns again: those updated within the overlap
/// (60 s) before the newest `updated_at`, which the parent's cursor holds.
fn relisted(sandbox: &SandboxProc) -> BTreeSet<u64> {
    let issues = sandbox.list_all(&format!("{REPO}/issues?state=all"));
    let newest = issues
        .iter()
        .filter_map(|i| i["updated_at"].as_str())
        .filter_map(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .max()
        .unwrap();
    let window = newest - chrono::Duration::seconds(60);
    issues
        .iter()
        .filter(|i| {
            i["updated_at"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .is_some_and(|t| t >= window)
        })
        .map(|i| i["number"].as_u64().unwrap())
        .collect()
}

fn enc(name: &str) -> String {
    name.replace(' ', "%20")
}

/// An incremental snapshot and the requests it cost, as the sandbox counted them.
fn measured_snapshot(user: &User, sandbox: &SandboxProc) -> (Value, u64) {
    let before = sandbox.stats()["total"].as_u64().unwrap();
    let report = snapshot(user, &[]);
    let spent = sandbox.stats()["total"].as_u64().unwrap() - before;
    assert_eq!(report["mode"], "incremental", "{report}");
    assert_eq!(report["requests"].as_u64().unwrap(), spent, "{report}");
    (report, spent)
}

/// GitHub embeds labels and milestones whole in every issue that carries them and does not
/// touch those issues when one is edited or deleted, so a `since` listing never returns
/// them. Each kind of change is followed by an incremental snapshot that must equal a full
/// one, entry for entry and record for record, at the request cost of a quiet one: the
/// carriers are re-derived from the store, never asked of GitHub again.
#[test]
fn incremental_snapshots_refresh_the_copies_of_edited_and_deleted_labels_and_milestones() {
    let sandbox = SandboxProc::start(&["--issues", "400", "--comments", "800", "--seed", "21"]);
    let user = User::new(&sandbox);
    assert_eq!(snapshot(&user, &[])["mode"], "full");
    let (quiet, quiet_spent) = measured_snapshot(&user, &sandbox);
    assert_eq!(quiet["refreshed"], Value::Null, "{quiet}");

    let (by_label, by_milestone) = carriers(&sandbox);
    let relisted = relisted(&sandbox);
    // The labels and milestones carried by the most issues, one for each change.
    let mut labels: Vec<Value> = sandbox.list_all(&format!("{REPO}/labels"));
    labels.sort_by_key(|l| {
        std::cmp::Reverse(
            by_label
                .get(&l["id"].as_u64().unwrap())
                .map_or(0, BTreeSet::len),
        )
    });
    let mut milestones: Vec<Value> = sandbox.list_all(&format!("{REPO}/milestones?state=all"));
    milestones.sort_by_key(|m| {
        std::cmp::Reverse(
            by_milestone
                .get(&m["number"].as_u64().unwrap())
                .map_or(0, BTreeSet::len),
        )
    });
    let label = |i: usize| {
        (
            labels[i]["name"].as_str().unwrap().to_string(),
            labels[i]["id"].as_u64().unwrap(),
        )
    };
    let milestone = |i: usize| milestones[i]["number"].as_u64().unwrap();

    let (l0, l0_id) = label(0);
    let (l1, l1_id) = label(1);
    let (l2, l2_id) = label(2);
    let (l3, l3_id) = label(3);
    let (m0, m1, m2) = (milestone(0), milestone(1), milestone(2));
    // (what, method, path, body, issues reached, whether an old definition is read)
    // Each change, the issues it reaches, and whether the parent's version of the definition
    // is read to tell what changed (a deletion needs no reading).
    struct Step<'a> {
        what: &'a str,
        method: &'a str,
        path: String,
        body: Option<Value>,
        reached: &'a BTreeSet<u64>,
        edited: bool,
    }
    let steps = [
        // Renamed to sort last by name: a full listing keeps the issues' label order (by
        // id), and so must the re-derived copies.
        Step {
            what: "rename",
            method: "PATCH",
            path: format!("{REPO}/labels/{}", enc(&l0)),
            body: Some(json!({"new_name": "zz renamed"})),
            reached: &by_label[&l0_id],
            edited: true,
        },
        Step {
            what: "recolour",
            method: "PATCH",
            path: format!("{REPO}/labels/{}", enc(&l1)),
            body: Some(json!({"color": "123abc"})),
            reached: &by_label[&l1_id],
            edited: true,
        },
        Step {
            what: "describe",
            method: "PATCH",
            path: format!("{REPO}/labels/{}", enc(&l2)),
            body: Some(json!({"description": "now described"})),
            reached: &by_label[&l2_id],
            edited: true,
        },
        Step {
            what: "delete label",
            method: "DELETE",
            path: format!("{REPO}/labels/{}", enc(&l3)),
            body: None,
            reached: &by_label[&l3_id],
            edited: false,
        },
        Step {
            what: "retitle milestone",
            method: "PATCH",
            path: format!("{REPO}/milestones/{m0}"),
            body: Some(json!({"title": "retitled by a script"})),
            reached: &by_milestone[&m0],
            edited: true,
        },
        Step {
            what: "move due date",
            method: "PATCH",
            path: format!("{REPO}/milestones/{m1}"),
            body: Some(json!({"due_on": "2031-05-01T07:00:00Z"})),
            reached: &by_milestone[&m1],
            edited: true,
        },
        Step {
            what: "delete milestone",
            method: "DELETE",
            path: format!("{REPO}/milestones/{m2}"),
            body: None,
            reached: &by_milestone[&m2],
            edited: false,
        },
    ];
    for Step {
        what,
        method,
        path,
        body,
        reached,
        edited,
    } in steps
    {
        let reached: BTreeSet<u64> = reached.difference(&relisted).copied().collect();
        assert!(
            reached.len() >= 5,
            "{what}: too few issues carry it to prove anything"
        );
        call(&sandbox, method, &path, body);
        let (inc, spent) = measured_snapshot(&user, &sandbox);
        // Labels or milestones answer 200 instead of 304: not one request more.
        assert_eq!(spent, quiet_spent, "{what}: {inc}");
        let refreshed = &inc["refreshed"];
        assert_eq!(refreshed["definitions"], 1, "{what}: {inc}");
        assert_eq!(refreshed["records"], reached.len() as u64, "{what}: {inc}");
        assert_eq!(
            refreshed["read"],
            reached.len() as u64 + u64::from(edited),
            "{what}: the issues reached, and the definition as the parent held it: {inc}"
        );
        assert_eq!(refreshed["unindexed"], 0, "{what}: {inc}");
        assert_same_entries_as_full(&user, &sandbox, &inc);
        user.run(&[
            "diff",
            SCOPE,
            "--from",
            "latest",
            "--to",
            "live",
            "--exit-code",
        ])
        .ok();
    }
    // Milestone issue counts move when an issue closes; no other issue's copy shows them.
    let open = sandbox.list_all(&format!("{REPO}/issues?state=open"));
    let closing = open
        .iter()
        .find(|i| i["milestone"]["number"].as_u64() == Some(m0))
        .unwrap()["number"]
        .as_u64()
        .unwrap();
    call(
        &sandbox,
        "PATCH",
        &format!("{REPO}/issues/{closing}"),
        Some(json!({"state": "closed"})),
    );
    let (inc, _) = measured_snapshot(&user, &sandbox);
    assert_eq!(inc["refreshed"], Value::Null, "{inc}");
    assert_same_entries_as_full(&user, &sandbox, &inc);
}

/// A build of backtrack from before the refresh neither recorded what each issue embeds nor
/// refreshed copies, so its incremental snapshots kept a renamed label and a deleted
/// milestone on the issues carrying them. The first snapshot of a build that records embeds
/// reads each issue of such a parent once from the store, heals the copies, records embeds,
/// and from then on reads only what a change reaches.
#[test]
fn an_incremental_snapshot_heals_a_parent_written_before_embeds_were_recorded() {
    let sandbox = SandboxProc::start(&["--issues", "300", "--comments", "600", "--seed", "4"]);
    let user = User::new(&sandbox);
    user.run(&["init"]).ok();
    let (by_label, by_milestone) = carriers(&sandbox);
    let relisted = relisted(&sandbox);
    let url = user.api_url.clone();
    let held = in_archive(&user, |archive| async move {
        legacy_snapshot(&archive, &url, true).await
    });
    assert!(entries_text(&user, &held)
        .iter()
        .all(|e| e.ends_with(" None")));

    let label = sandbox
        .list_all(&format!("{REPO}/labels"))
        .into_iter()
        .max_by_key(|l| {
            by_label
                .get(&l["id"].as_u64().unwrap())
                .map_or(0, BTreeSet::len)
        })
        .unwrap();
    let milestone = *by_milestone
        .iter()
        .max_by_key(|(_, issues)| issues.len())
        .unwrap()
        .0;
    call(
        &sandbox,
        "PATCH",
        &format!("{REPO}/labels/{}", enc(label["name"].as_str().unwrap())),
        Some(json!({"new_name": "renamed while old"})),
    );
    call(
        &sandbox,
        "DELETE",
        &format!("{REPO}/milestones/{milestone}"),
        None,
    );
    let stale: BTreeSet<u64> = by_label[&label["id"].as_u64().unwrap()]
        .union(&by_milestone[&milestone])
        .copied()
        .filter(|n| !relisted.contains(n))
        .collect();
    let url = user.api_url.clone();
    in_archive(&user, |archive| async move {
        legacy_snapshot(&archive, &url, false).await
    });
    // The old build's snapshot shows the old name and milestone against the live state.
    let stale_diff = user.run(&[
        "diff",
        SCOPE,
        "--from",
        "latest",
        "--to",
        "live",
        "--exit-code",
    ]);
    assert_eq!(
        stale_diff.code, 1,
        "{}{}",
        stale_diff.stdout, stale_diff.stderr
    );

    let (inc, spent) = measured_snapshot(&user, &sandbox);
    let refreshed = &inc["refreshed"];
    assert_eq!(
        refreshed["definitions"], 0,
        "nothing changed since the parent: {inc}"
    );
    assert_eq!(refreshed["unindexed"], 300 - relisted.len() as u64, "{inc}");
    assert_eq!(refreshed["records"], stale.len() as u64, "{inc}");
    assert!(entries_text(&user, id(&inc))
        .iter()
        .filter(|e| e.starts_with("issue:"))
        .all(|e| !e.ends_with(" None")));
    assert_same_entries_as_full(&user, &sandbox, &inc);
    user.run(&[
        "diff",
        SCOPE,
        "--from",
        "latest",
        "--to",
        "live",
        "--exit-code",
    ])
    .ok();

    // From the store, not GitHub: a quiet snapshot costs the same; and it reads nothing.
    let (quiet, quiet_spent) = measured_snapshot(&user, &sandbox);
    assert_eq!(quiet["refreshed"], Value::Null, "{quiet}");
    assert_eq!(spent, quiet_spent);
}

/// A snapshot as a build from before recorded embeds takes it: the same capture, by a
/// tracker that declares no embedding.
async fn legacy_snapshot(archive: &Archive, api_url: &str, full: bool) -> String {
    let scope: Scope = SCOPE.parse().unwrap();
    let config = GitHubConfig::new(api_url, Some(SANDBOX_TOKEN.to_string()));
    let tracker = WithoutEmbeds(GitHubTracker::new(&scope, &config).unwrap());
    let opts = SnapshotOptions {
        full,
        ..SnapshotOptions::default()
    };
    let report = archive
        .create_snapshot(Arc::new(tracker), &opts)
        .await
        .unwrap();
    assert_eq!(report.refreshed, None);
    report.id.to_string()
}

/// The GitHub tracker without [`Tracker::embedding`], as before it existed.
#[derive(Debug)]
struct WithoutEmbeds(GitHubTracker);

#[async_trait::async_trait]
impl Tracker for WithoutEmbeds {
    fn scope(&self) -> &Scope {
        self.0.scope()
    }
    async fn check(&self) -> Result<(), TrackerError> {
        self.0.check().await
    }
    async fn probe(&self) -> Result<Option<Totals>, TrackerError> {
        self.0.probe().await
    }
    async fn fetch(
        &self,
        opts: &FetchOptions,
        out: tokio::sync::mpsc::Sender<Record>,
    ) -> Result<FetchReport, TrackerError> {
        self.0.fetch(opts, out).await
    }
    fn requests(&self) -> u64 {
        self.0.requests()
    }
}
