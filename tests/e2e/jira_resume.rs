//! Issue 19 item 3 for Jira: a capture whose budget (`--max-requests`, `--max-duration`) runs
//! out stops between two search pages as `partial`, never read as completed, and the next
//! runs continue from its key checkpoint to one completed snapshot equal, record by record, to
//! an uninterrupted one — on Jira Cloud and Data Center, with changes between the runs, and
//! through a kill -9.

use std::time::Duration;

use serde_json::{json, Value};

use crate::jira::{JiraUser, Site, FLAVORS};
use crate::snapshot::records_text_at;
use crate::util::kill_under_way;

fn id(report: &Value) -> &str {
    report["id"].as_str().unwrap()
}

fn key(issue: &Value) -> String {
    issue["key"].as_str().unwrap().to_string()
}

/// The scope's snapshots as `snapshot list` shows them, oldest first: (id, status).
fn statuses(user: &JiraUser, scope: &str) -> Vec<(String, String)> {
    crate::util::id_statuses(&user.run(&["--json", "snapshot", "list", scope]).ok().json())
}

/// A full, uninterrupted snapshot of `scope` in a store of its own.
fn reference(site: &Site, scope: &str) -> (JiraUser, Value) {
    let user = JiraUser::new(site);
    let full = user.snapshot(scope, &[]);
    assert_eq!(full["status"], "completed", "{full}");
    assert_eq!(full["mode"], "full", "{full}");
    (user, full)
}

/// The two snapshots hold the same records, raw JSON included.
fn assert_same(what: &str, (a, ra): (&JiraUser, &Value), (b, rb): (&JiraUser, &Value)) {
    assert_eq!(ra["counts"], rb["counts"], "{what}: {ra}\n{rb}");
    let x = records_text_at(&a.store(), id(ra), &a.url);
    let y = records_text_at(&b.store(), id(rb), &b.url);
    assert_eq!(x.len(), y.len(), "{what}");
    for (p, q) in x.iter().zip(&y) {
        assert_eq!(
            p, q,
            "{what}: the continued capture differs from a full one"
        );
    }
}

/// Runs `snapshot create scope extra` until it completes; every earlier run must end
/// `partial` (exit 0), each continuing the one before. Returns the runs' reports.
fn until_completed(user: &JiraUser, scope: &str, extra: &[&str]) -> Vec<Value> {
    let mut runs: Vec<Value> = Vec::new();
    loop {
        let report = user.snapshot(scope, extra);
        if let Some(before) = runs.last() {
            assert_eq!(
                report["parent"], before["id"],
                "{scope}: each run continues the checkpoint before it: {report}"
            );
            assert_eq!(report["mode"], "incremental", "{scope}: {report}");
        }
        let status = report["status"].as_str().unwrap().to_string();
        runs.push(report);
        match status.as_str() {
            "completed" => return runs,
            "partial" => {}
            other => panic!("{scope}: a run ended {other}: {runs:?}"),
        }
        assert!(runs.len() < 30, "{scope}: never completes: {runs:?}");
    }
}

/// `snapshot list` shows the checkpoints `partial` and the last run `completed`, and only
/// then does `latest` resolve.
fn assert_listed(user: &JiraUser, scope: &str, runs: &[Value]) {
    let mut listed = statuses(user, scope);
    listed.sort();
    let mut expected: Vec<(String, String)> = runs
        .iter()
        .map(|r| (id(r).to_string(), r["status"].as_str().unwrap().to_string()))
        .collect();
    expected.sort();
    assert_eq!(listed, expected, "{scope}");
    // `latest` now resolves, to the one completed snapshot.
    let last = id(runs.last().unwrap());
    let diff = user.run(&["diff", scope, "--from", "latest", "--to", last]);
    assert_eq!(
        diff.code, 0,
        "{scope}: {}
{}",
        diff.stdout, diff.stderr
    );
}

/// With only checkpoints, `latest` (the newest completed snapshot) resolves to none of them.
fn assert_no_latest(user: &JiraUser, scope: &str) {
    let diff = user.run(&["diff", scope, "--from", "latest", "--to", "latest"]);
    assert_ne!(
        diff.code, 0,
        "{scope}: `latest` must not resolve to a partial snapshot"
    );
}

#[test]
fn jira_captures_out_of_budget_end_partial_and_the_next_runs_complete_them() {
    for flavor in FLAVORS {
        let site = Site::start(
            flavor,
            &["--issues", "420", "--comments", "1700", "--seed", "41"],
        );
        // An epic with subtasks under its children: its walk takes two searches.
        let epic = site
            .search("issuetype = Epic ORDER BY key ASC", &["summary"])
            .iter()
            .map(key)
            .find(|e| {
                let top = site
                    .search(
                        &format!("{} ORDER BY key ASC", site.epic_jql(e)),
                        &["summary"],
                    )
                    .len();
                top >= 5 && site.epic_truth(e).len() > top
            })
            .expect("an epic with subtasks");
        // An epic's issues fit a search page or two: its budget lets one page through a run.
        for (scope, budget) in [
            ("jira:PROJ".to_string(), "5"),
            (format!("jira:{epic}"), "1"),
        ] {
            let (whole, full) = reference(&site, &scope);
            let user = JiraUser::new(&site);

            // The first run, as a person reads it: partial, exit 0, and what to do next.
            let first = user.run(&["snapshot", "create", &scope, "--max-requests", budget]);
            assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
            assert!(
                first.stdout.contains("this snapshot is partial")
                    && first
                        .stdout
                        .contains(&format!("run `snapshot create {scope}` again")),
                "{flavor:?} {scope}: {}",
                first.stdout
            );
            let listed = statuses(&user, &scope);
            assert_eq!(listed.len(), 1, "{listed:?}");
            assert_eq!(listed[0].1, "partial", "{listed:?}");
            assert_no_latest(&user, &scope);
            let shown = user
                .run(&["--json", "snapshot", "show", &listed[0].0])
                .ok()
                .json();
            assert_eq!(shown["id"], listed[0].0.as_str(), "{shown}");
            assert_eq!(shown["status"], "partial", "{shown}");
            let held = shown["counts"]["issues"].as_u64().unwrap();
            assert!(
                held > 0 && held < full["counts"]["issues"].as_u64().unwrap(),
                "{flavor:?} {scope}: a {budget}-request budget reads part of the issues: {shown}"
            );

            let mut runs = vec![shown.clone()];
            runs.extend(until_completed(&user, &scope, &["--max-requests", budget]));
            assert_eq!(runs[1]["parent"], runs[0]["id"], "{scope}: {runs:?}");
            for r in &runs[1..] {
                // Three fixed reads, the checkpoint's key checked, a page always read, its
                // comment listings; the completing run's catch-up runs whole.
                if r["status"] == "partial" {
                    let n = r["requests"].as_u64().unwrap();
                    assert!(n <= 12, "{flavor:?} {scope}: {r}");
                }
            }
            if scope == "jira:PROJ" {
                assert!(
                    runs.len() >= 3,
                    "{flavor:?}: 420 issues at 5 requests a run take several runs: {runs:?}"
                );
            }
            eprintln!(
                "{flavor:?} {scope}: {} runs at --max-requests {budget}, requests {:?}",
                runs.len(),
                runs.iter()
                    .map(|r| r["requests"].clone())
                    .collect::<Vec<_>>()
            );
            assert_listed(&user, &scope, &runs);
            assert_same(&scope, (&whole, &full), (&user, runs.last().unwrap()));
            let verify = user.run(&["verify", &scope]);
            assert_eq!(verify.code, 0, "{}\n{}", verify.stdout, verify.stderr);
        }
    }
}

/// The issues of the project in key order, as another client lists them.
fn keys(site: &Site) -> Vec<Value> {
    site.search(
        "project = PROJ ORDER BY key ASC",
        &["subtasks", "comment", "issuetype"],
    )
}

#[test]
fn jira_continued_captures_equal_a_full_one_after_changes_between_runs() {
    let api = "/rest/api/2";
    for flavor in FLAVORS {
        let site = Site::start(
            flavor,
            &["--issues", "420", "--comments", "1700", "--seed", "43"],
        );
        let scope = "jira:PROJ";
        let user = JiraUser::new(&site);
        let first = user.snapshot(scope, &["--max-requests", "5"]);
        assert_eq!(first["status"], "partial", "{first}");
        assert_no_latest(&user, scope);
        let read = first["counts"]["issues"].as_u64().unwrap() as usize;
        let all = keys(&site);
        assert!(read < all.len(), "{first}");
        // The walk reads in key order: the first `read` keys are in the checkpoint.
        let (done, left) = all.split_at(read);
        let plain = |issues: &[Value]| -> Vec<String> {
            issues
                .iter()
                .filter(|i| i["fields"]["subtasks"].as_array().unwrap().is_empty())
                .map(key)
                .collect()
        };
        let done_plain = plain(done);
        let left_plain = plain(left);

        // Changes by other clients between the runs: behind the checkpoint and ahead of it,
        // and the checkpoint's own last key deleted.
        site.call(
            "PUT",
            &format!("{api}/issue/{}", done_plain[0]),
            Some(json!({"fields": {"summary": "Edited behind the checkpoint"}})),
        );
        site.call(
            "POST",
            &format!("{api}/issue/{}/comment", done_plain[1]),
            Some(json!({"body": "A comment behind the checkpoint"})),
        );
        site.call(
            "DELETE",
            &format!("{api}/issue/{}?deleteSubtasks=true", done_plain[2]),
            None,
        );
        site.call(
            "DELETE",
            &format!("{api}/issue/{}?deleteSubtasks=true", key(&done[read - 1])),
            None,
        );
        site.call(
            "PUT",
            &format!("{api}/issue/{}", left_plain[0]),
            Some(json!({"fields": {"summary": "Edited ahead of the checkpoint"}})),
        );
        site.call(
            "DELETE",
            &format!("{api}/issue/{}?deleteSubtasks=true", left_plain[1]),
            None,
        );
        let created = site.call(
            "POST",
            &format!("{api}/issue"),
            Some(json!({"fields": {
                "project": {"key": "PROJ"},
                "summary": "Created between the runs",
                "issuetype": {"name": "Task"}
            }})),
        );

        let second = user.snapshot(scope, &["--max-requests", "5"]);
        assert_eq!(second["status"], "partial", "{flavor:?}: {second}");
        assert_eq!(second["parent"], first["id"], "{second}");
        // More changes while a checkpoint is pending: one issue the first run read and one
        // the second read.
        let now = keys(&site);
        let second_read = now
            .iter()
            .map(key)
            .find(|k| {
                left.iter().any(|l| key(l) == *k)
                    && !left_plain[..2].contains(k)
                    && done.iter().all(|d| key(d) != *k)
            })
            .unwrap();
        site.call(
            "PUT",
            &format!("{api}/issue/{second_read}"),
            Some(json!({"fields": {"labels": ["touched-between-runs"]}})),
        );
        site.call(
            "PUT",
            &format!("{api}/issue/{}", done_plain[3]),
            Some(json!({"fields": {"labels": ["touched-again"]}})),
        );

        let mut runs = vec![first.clone(), second.clone()];
        runs.extend(until_completed(&user, scope, &["--max-requests", "5"]));
        let done_report = runs.last().unwrap().clone();
        assert_eq!(done_report["parent"], runs[runs.len() - 2]["id"]);
        assert!(
            done_report["deleted"].as_u64().unwrap() >= 2,
            "{flavor:?}: the two issues deleted behind the checkpoint leave: {done_report}"
        );
        assert_listed(&user, scope, &runs);
        let (whole, full) = reference(&site, scope);
        assert_same(
            &format!("{flavor:?} after changes"),
            (&whole, &full),
            (&user, &done_report),
        );
        // The created issue and the edits are in; the deleted ones are not.
        let texts = records_text_at(&user.store(), id(&done_report), &user.url).join("\n");
        assert!(texts.contains("Created between the runs"), "{created}");
        assert!(texts.contains("Edited behind the checkpoint"));
        assert!(texts.contains("Edited ahead of the checkpoint"));
        assert!(texts.contains("A comment behind the checkpoint"));
        eprintln!(
            "{flavor:?}: with changes between runs, {} runs, requests {:?}",
            runs.len(),
            runs.iter()
                .map(|r| r["requests"].clone())
                .collect::<Vec<_>>()
        );
    }
}

/// An incremental capture on a completed snapshot searches what changed within its budget
/// too: after 210 summaries edited (subtasks' among them, whose copies in their parents
/// change without moving the parents' `updated`), a comment, a deletion and a new issue, a
/// run at `--max-requests 5` ends `partial` between two pages of the change search; with
/// edits between the runs behind its checkpoint and ahead of it, the next runs complete it,
/// equal record by record to a full snapshot of the final state.
#[test]
fn jira_incremental_captures_out_of_budget_end_partial_and_the_next_runs_complete_them() {
    let api = "/rest/api/2";
    for flavor in FLAVORS {
        let site = Site::start(
            flavor,
            &["--issues", "420", "--comments", "1700", "--seed", "67"],
        );
        let scope = "jira:PROJ";
        let user = JiraUser::new(&site);
        let base = user.snapshot(scope, &[]);
        assert_eq!(base["status"], "completed", "{base}");
        let all = keys(&site);
        let edited: Vec<String> = all.iter().step_by(2).map(key).collect();
        assert!(edited.len() > 200, "{}", edited.len());
        for (n, k) in edited.iter().enumerate() {
            site.call(
                "PUT",
                &format!("{api}/issue/{k}"),
                Some(json!({"fields": {"summary": format!("Edited after the snapshot {n}")}})),
            );
        }
        let plain: Vec<String> = all
            .iter()
            .skip(1)
            .step_by(2)
            .filter(|i| i["fields"]["subtasks"].as_array().unwrap().is_empty())
            .map(key)
            .collect();
        site.call(
            "POST",
            &format!("{api}/issue/{}/comment", plain[0]),
            Some(json!({"body": "A comment after the snapshot"})),
        );
        site.call(
            "DELETE",
            &format!("{api}/issue/{}?deleteSubtasks=true", plain[1]),
            None,
        );
        site.call(
            "POST",
            &format!("{api}/issue"),
            Some(json!({"fields": {
                "project": {"key": "PROJ"},
                "summary": "Created after the snapshot",
                "issuetype": {"name": "Task"}
            }})),
        );

        let first = user.snapshot(scope, &["--max-requests", "5"]);
        assert_eq!(first["status"], "partial", "{flavor:?}: {first}");
        assert_eq!(first["mode"], "incremental", "{first}");
        assert_eq!(first["parent"], base["id"], "{first}");
        // `latest` is still the completed snapshot the capture builds on.
        let diff = user.run(&[
            "diff",
            scope,
            "--from",
            "latest",
            "--to",
            id(&base),
            "--exit-code",
        ]);
        assert_eq!(diff.code, 0, "{}\n{}", diff.stdout, diff.stderr);

        // More changes while the checkpoint is pending: behind it (an issue the first run
        // read, one it passed unchanged) and ahead of it.
        site.call(
            "PUT",
            &format!("{api}/issue/{}", key(&all[0])),
            Some(json!({"fields": {"summary": "Edited again behind the checkpoint"}})),
        );
        site.call(
            "PUT",
            &format!("{api}/issue/{}", plain[2]),
            Some(json!({"fields": {"labels": ["touched-between-runs"]}})),
        );
        site.call(
            "PUT",
            &format!("{api}/issue/{}", plain[plain.len() - 1]),
            Some(json!({"fields": {"summary": "Edited ahead of the checkpoint"}})),
        );

        let mut runs = vec![first.clone()];
        runs.extend(until_completed(&user, scope, &["--max-requests", "5"]));
        assert_eq!(runs[1]["parent"], first["id"], "{runs:?}");
        eprintln!(
            "{flavor:?}: an incremental capture of 210+ changes at --max-requests 5: {} runs, requests {:?}",
            runs.len(),
            runs.iter()
                .map(|r| r["requests"].clone())
                .collect::<Vec<_>>()
        );
        assert!(
            runs.len() >= 3,
            "{flavor:?}: 210 changes at one search page a run take several runs: {runs:?}"
        );
        let done = runs.last().unwrap();
        assert!(
            done["deleted"].as_u64().unwrap() >= 1,
            "{flavor:?}: the deleted issue leaves: {done}"
        );
        // The base and the last run are completed; every run before it is a checkpoint.
        let mut listed = statuses(&user, scope);
        listed.sort();
        let mut expected: Vec<(String, String)> = std::iter::once(&base)
            .chain(&runs)
            .map(|r| (id(r).to_string(), r["status"].as_str().unwrap().to_string()))
            .collect();
        expected.sort();
        assert_eq!(listed, expected, "{flavor:?}");

        let (whole, full) = reference(&site, scope);
        assert_same(
            &format!("{flavor:?} incremental out of budget"),
            (&whole, &full),
            (&user, done),
        );
        let texts = records_text_at(&user.store(), id(done), &user.url).join("\n");
        for wanted in [
            "Created after the snapshot",
            "Edited again behind the checkpoint",
            "Edited ahead of the checkpoint",
            "A comment after the snapshot",
            "touched-between-runs",
        ] {
            assert!(texts.contains(wanted), "{flavor:?}: {wanted}");
        }
        let verify = user.run(&["verify", scope]);
        assert_eq!(verify.code, 0, "{}\n{}", verify.stdout, verify.stderr);
    }
}

#[test]
fn jira_a_kill_during_a_budgeted_capture_or_its_continuation_leaves_no_completed_entry() {
    for flavor in FLAVORS {
        let site = Site::start(
            flavor,
            &[
                "--issues",
                "420",
                "--comments",
                "1700",
                "--seed",
                "47",
                "--latency-ms",
                "60",
            ],
        );
        let scope = "jira:PROJ";
        let (whole, full) = reference(&site, scope);
        let user = JiraUser::new(&site);
        user.run(&["init"]).ok();
        let in_progress = || {
            statuses(&user, scope)
                .iter()
                .any(|(_, s)| s == "in_progress")
        };
        let capture = |extra: &[&str]| {
            let mut args = vec!["snapshot", "create", scope];
            args.extend_from_slice(extra);
            let mut cmd = user.command(&args);
            cmd.env("BACKTRACK_LEASE_TTL", "4");
            cmd
        };
        let lapse = Duration::from_secs(6);

        // Killed within a budget: nothing completed, nothing partial.
        kill_under_way(capture(&["--max-requests", "30"]), in_progress, lapse);
        let after = statuses(&user, scope);
        assert_eq!(after.len(), 1, "{after:?}");
        assert_eq!(after[0].1, "failed", "{flavor:?}: {after:?}");
        let verify = user.run(&["verify", scope]);
        assert_eq!(verify.code, 0, "{}\n{}", verify.stdout, verify.stderr);

        let first = user.snapshot(scope, &["--max-requests", "5"]);
        assert_eq!(first["status"], "partial", "{first}");

        // Killed while continuing the checkpoint (within a budget again).
        kill_under_way(capture(&["--max-requests", "8"]), in_progress, lapse);
        let after = statuses(&user, scope);
        assert!(
            !after.iter().any(|(_, s)| s == "completed"),
            "{flavor:?}: no completed entry without its data: {after:?}"
        );
        assert!(
            after.iter().any(|(i, s)| s == "partial" && i == id(&first)),
            "the checkpoint stays: {after:?}"
        );
        assert_eq!(
            after.iter().filter(|(_, s)| s == "failed").count(),
            2,
            "{after:?}"
        );
        let verify = user.run(&["verify", scope]);
        assert_eq!(verify.code, 0, "{}\n{}", verify.stdout, verify.stderr);
        for (i, _) in after.iter().filter(|(_, s)| s != "completed") {
            let diff = user.run(&["diff", scope, "--from", i]);
            assert_ne!(diff.code, 0, "diff of {i} must refuse");
            assert!(diff.stderr.contains("not completed"), "{}", diff.stderr);
        }

        let runs = until_completed(&user, scope, &["--max-requests", "5"]);
        let done = runs.last().unwrap();
        assert_eq!(done["status"], "completed");
        assert_eq!(
            runs[0]["parent"], first["id"],
            "it continues the checkpoint"
        );
        assert_same(
            &format!("{flavor:?} after kills"),
            (&whole, &full),
            (&user, done),
        );
        let verify = user.run(&["verify", scope]);
        assert_eq!(verify.code, 0, "{}\n{}", verify.stdout, verify.stderr);
    }
}

#[test]
fn jira_a_duration_budget_ends_partial_and_the_next_runs_complete_it() {
    for flavor in FLAVORS {
        // Every request takes 250 ms: a whole capture needs well over a second.
        let site = Site::start(
            flavor,
            &[
                "--issues",
                "420",
                "--comments",
                "1700",
                "--seed",
                "53",
                "--latency-ms",
                "250",
            ],
        );
        let scope = "jira:PROJ";
        let (whole, full) = reference(&site, scope);
        let user = JiraUser::new(&site);
        let runs = until_completed(&user, scope, &["--max-duration", "1s"]);
        assert!(
            runs.len() >= 2,
            "{flavor:?}: a 1 s budget at 250 ms a request cannot read 420 issues in one run: {runs:?}"
        );
        assert_eq!(runs[0]["status"], "partial");
        assert_listed(&user, scope, &runs);
        assert_same(
            &format!("{flavor:?} --max-duration"),
            (&whole, &full),
            (&user, runs.last().unwrap()),
        );
        eprintln!(
            "{flavor:?}: --max-duration 1s at 250 ms latency: {} runs, requests {:?}",
            runs.len(),
            runs.iter()
                .map(|r| r["requests"].clone())
                .collect::<Vec<_>>()
        );
    }
}

/// Under the Lambda emulator on moto: `POST /snapshots` of a Jira project whose capture needs
/// several invocations (5 requests each) answers 202; each cut-short invocation stores a
/// `partial` checkpoint and hands over to the next through the queue; the last completes the
/// reserved snapshot, equal record by record to an uninterrupted capture.
#[test]
fn jira_a_queued_snapshot_continues_across_invocations_into_one_completed_snapshot() {
    use std::sync::Arc;

    use backtrack::catalog::DynamoCatalog;
    use backtrack::snapshot::Archive;
    use backtrack::store::S3Store;

    use crate::functions::{moto_url, runtime, unique, Bundle};
    use crate::jira::{Flavor, TOKEN};
    use crate::resume::deliver_each;
    use crate::snapshot::records_text_in;
    use crate::util::bin;

    let moto = moto_url();
    let rt = runtime();
    let sqs = rt.block_on(async { aws_sdk_sqs::Client::new(&backtrack::aws::load_config().await) });
    for flavor in FLAVORS {
        let site = Site::start(
            flavor,
            &["--issues", "420", "--comments", "1500", "--seed", "59"],
        );
        let scope = "jira:PROJ";
        let (whole, full) = reference(&site, scope);

        let (bucket, table) = (unique("b"), unique("t"));
        let store = format!("s3://{bucket}/backtrack");
        let catalog = format!("dynamodb://{table}");
        let init = std::process::Command::new(bin())
            .args(["--store", &store, "--catalog", &catalog, "init"])
            .output()
            .unwrap();
        assert!(
            init.status.success(),
            "{}",
            String::from_utf8_lossy(&init.stderr)
        );
        let make_queue = |name: String| {
            rt.block_on(sqs.create_queue().queue_name(name).send())
                .unwrap()
                .queue_url
                .unwrap()
        };
        let (restore_queue, snapshot_queue) = (make_queue(unique("q")), make_queue(unique("sq")));
        let mut env = vec![
            ("JIRA_BASE_URL", site.url().to_string()),
            ("JIRA_API_TOKEN", TOKEN.to_string()),
            ("BACKTRACK_QUEUE_URL", restore_queue),
            ("BACKTRACK_SNAPSHOT_QUEUE_URL", snapshot_queue.clone()),
            ("BACKTRACK_MAX_REQUESTS_PER_INVOCATION", "5".into()),
            ("AWS_ENDPOINT_URL", moto.clone()),
        ];
        if flavor == Flavor::Cloud {
            env.push(("JIRA_EMAIL", "tester@example.com".into()));
        }
        let bundle = Bundle::start(&env, store.clone(), catalog.clone());

        let (status, queued) = bundle.http(
            "snapshot",
            "post-snapshots.json",
            "POST",
            "/snapshots",
            Some(json!({"scope": scope, "name": "nightly"})),
        );
        assert_eq!(status, 202, "{flavor:?}: {queued}");
        let id = queued["snapshot"].as_str().unwrap().to_string();
        let shown = |bundle: &Bundle| bundle.snapshot_entry(&id);
        assert_eq!(shown(&bundle)["status"], "pending");

        let mut outcomes = Vec::new();
        let mut between = Vec::new();
        let delivered = deliver_each(&bundle, &rt, &sqs, &snapshot_queue, |answer| {
            let outcome = answer["jobs"][0]["outcome"]
                .as_str()
                .unwrap_or("?")
                .to_string();
            if outcome == "continuing" {
                between.push(shown(&bundle)["status"].as_str().unwrap().to_string());
            }
            outcomes.push(outcome);
        });
        eprintln!(
            "{flavor:?}: the Jira capture took {delivered} invocations at 5 requests: {outcomes:?}"
        );
        assert!(
            delivered >= 3,
            "{flavor:?}: 420 issues at 5 requests an invocation take several: {outcomes:?}"
        );
        assert_eq!(outcomes.last().map(String::as_str), Some("finished"));
        assert!(
            outcomes[..outcomes.len() - 1]
                .iter()
                .all(|o| o == "continuing"),
            "{outcomes:?}"
        );
        assert!(between.iter().all(|s| s == "in_progress"), "{between:?}");
        let done = shown(&bundle);
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(done["name"], "nightly", "{done}");
        assert_eq!(done["counts"], full["counts"], "{done}\n{full}");

        let (_, listed) = bundle.http("catalog", "list-snapshots.json", "GET", "/snapshots", None);
        let rows = listed["snapshots"].as_array().unwrap();
        let completed: Vec<&str> = rows
            .iter()
            .filter(|r| r["status"] == "completed")
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(completed, [id.as_str()], "{listed}");
        assert_eq!(
            rows.iter().filter(|r| r["status"] == "partial").count(),
            delivered - 1,
            "one checkpoint per cut-short invocation: {listed}"
        );

        let stored = rt.block_on(async {
            let store = S3Store::from_url(&store).await.unwrap();
            let catalog = DynamoCatalog::from_url(&catalog).await.unwrap();
            let archive = Archive::new(Arc::new(store), Arc::new(catalog));
            records_text_in(&archive, &id, site.url()).await
        });
        let expected = records_text_at(&whole.store(), full["id"].as_str().unwrap(), site.url());
        assert_eq!(stored.len(), expected.len(), "{flavor:?}");
        for (x, y) in stored.iter().zip(&expected) {
            assert_eq!(x, y, "{flavor:?}: the continued capture differs");
        }
    }
}
