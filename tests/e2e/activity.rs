//! Issue #20, the activity log around its edges: who changed what survives `export` →
//! `import` and `copy` folder → S3 (moto), and a failing issue events listing (the sandbox
//! breaks that one route on purpose) degrades a snapshot and a diff to "unattributed, and
//! why" while `rollback --by` refuses rather than guess. A bot token and a human token change
//! the repository over HTTP, as in `attribution`.

use serde_json::{json, Value};

use crate::aws::AwsUser;
use crate::util::{http, Run, SandboxProc, User};

const SCOPE: &str = "github:acme/widgets";
const REPO: &str = "/repos/acme/widgets";
pub(crate) const BOT: &str = "bot-token";
pub(crate) const HUMAN: &str = "human-token";
const EVENTS: &str = "GET /repos/{owner}/{repo}/issues/events";

pub(crate) fn sandbox() -> SandboxProc {
    SandboxProc::start(&[
        "--issues",
        "14",
        "--comments",
        "10",
        "--seed",
        "31",
        "--token",
        "bot-token=sync-bot",
        "--token",
        "human-token=alice",
    ])
}

fn as_user(sb: &SandboxProc, token: &str, method: &str, path: &str, body: Value) {
    let (status, reply) = http(
        &sb.url,
        method,
        &format!("{REPO}{path}"),
        Some(body),
        Some(token),
    );
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {reply}"
    );
}

pub(crate) fn issue(sb: &SandboxProc, n: u64) -> Value {
    sb.api("GET", &format!("{REPO}/issues/{n}"), None).1
}

/// Labels to add, and #8, #11, #12 open (the bot locks one, the human closes one).
pub(crate) fn prepare(sb: &SandboxProc) {
    for name in ["from-bot", "from-human"] {
        as_user(
            sb,
            HUMAN,
            "POST",
            "/labels",
            json!({"name": name, "color": "ededed"}),
        );
    }
    for n in [8, 11, 12] {
        as_user(
            sb,
            HUMAN,
            "PATCH",
            &format!("/issues/{n}"),
            json!({"state": "open"}),
        );
    }
}

/// The bot retypes #2, locks #8 and labels #10.
pub(crate) fn bot_damage(sb: &SandboxProc) {
    as_user(sb, BOT, "PATCH", "/issues/2", json!({"type": "Bug"}));
    as_user(
        sb,
        BOT,
        "PUT",
        "/issues/8/lock",
        json!({"lock_reason": "spam"}),
    );
    as_user(
        sb,
        BOT,
        "POST",
        "/issues/10/labels",
        json!({"labels": ["from-bot"]}),
    );
}

/// The human renames #11, closes #12, rewrites #13's body and labels #10 too.
pub(crate) fn human_edits(sb: &SandboxProc) {
    as_user(
        sb,
        HUMAN,
        "PATCH",
        "/issues/11",
        json!({"title": "Renamed by a person"}),
    );
    as_user(sb, HUMAN, "PATCH", "/issues/12", json!({"state": "closed"}));
    as_user(
        sb,
        HUMAN,
        "PATCH",
        "/issues/13",
        json!({"body": "Rewritten by a person"}),
    );
    as_user(
        sb,
        HUMAN,
        "POST",
        "/issues/10/labels",
        json!({"labels": ["from-human"]}),
    );
}

/// The bot in two rounds: first it retypes #2; then, after a time this returns (RFC 3339,
/// for `--since`), it locks #8 and labels #10 while the human edits (see [`human_edits`]).
/// The sandbox stamps writes from its own clock (at least a second apart, so it can run
/// ahead of ours): the time is the sandbox's next second, and the second round waits until
/// our clock has passed it too (a `since` in the future is refused).
pub(crate) fn bot_in_two_rounds(sb: &SandboxProc) -> String {
    as_user(sb, BOT, "PATCH", "/issues/2", json!({"type": "Bug"}));
    let (status, clock) = sb.api("POST", "/_sandbox/clock", Some(json!({"advance_secs": 0})));
    assert_eq!(status, 200, "{clock}");
    let now = chrono::DateTime::parse_from_rfc3339(clock["now"].as_str().unwrap()).unwrap();
    let since = now + chrono::Duration::seconds(1);
    while chrono::Utc::now() < since + chrono::Duration::milliseconds(100) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    as_user(
        sb,
        BOT,
        "PUT",
        "/issues/8/lock",
        json!({"lock_reason": "spam"}),
    );
    as_user(
        sb,
        BOT,
        "POST",
        "/issues/10/labels",
        json!({"labels": ["from-bot"]}),
    );
    human_edits(sb);
    since.to_rfc3339()
}

/// Each change of a JSON diff with its attribution: `(issue, field, before, after,
/// attribution)`, in the diff's order.
fn attributions(d: &Value) -> Vec<(Value, Value, Value, Value, Value)> {
    d["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["issue"].clone(),
                c["field"].clone(),
                c["before"].clone(),
                c["after"].clone(),
                c["attribution"].clone(),
            )
        })
        .collect()
}

fn attribution_of(d: &Value, issue: u64, field: &str) -> Value {
    d["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["issue"] == issue && c["field"] == field)
        .unwrap_or_else(|| panic!("no {field} change on #{issue}: {d}"))["attribution"]
        .clone()
}

/// The diff between two references, as JSON.
fn diff_json(run: impl Fn(&[&str]) -> Run, from: &str, to: &str) -> Value {
    run(&[
        "diff", SCOPE, "--from", from, "--to", to, "--format", "json",
    ])
    .ok()
    .json()
}

/// `rollback --by sync-bot` preview's operations (the plan, as JSON).
fn bot_plan(run: impl Fn(&[&str]) -> Run) -> Value {
    let preview = run(&[
        "--json", "rollback", SCOPE, "--to", "good", "--by", "sync-bot",
    ])
    .ok()
    .json();
    preview["plan"]["ops"].clone()
}

fn set_fault(sb: &SandboxProc, status: Option<u16>) {
    let (code, reply) = sb.api(
        "POST",
        "/_sandbox/faults",
        Some(json!({"route": EVENTS, "status": status})),
    );
    assert_eq!(code, 200, "{reply}");
}

fn warnings(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.to_ascii_lowercase().contains("warn"))
        .collect()
}

#[test]
fn aws_activity_logs_travel_through_export_import_and_copy_to_s3() {
    let sb = sandbox();
    prepare(&sb);
    let alice = User::new(&sb);
    alice
        .run(&["snapshot", "create", SCOPE, "--name", "good"])
        .ok();
    bot_damage(&sb);
    human_edits(&sb);
    alice
        .run(&["snapshot", "create", SCOPE, "--name", "after"])
        .ok();

    let original = diff_json(|a| alice.run(a), "good", "after");
    let before = attributions(&original);
    // The diff is attributed in the first place: the bot's and the human's, by name.
    assert_eq!(
        attribution_of(&original, 2, "issue_type")["actors"],
        json!(["sync-bot"])
    );
    assert_eq!(
        attribution_of(&original, 11, "title")["actors"],
        json!(["alice"])
    );
    assert_eq!(
        attribution_of(&original, 13, "body")["source"],
        "unattributed"
    );
    let against_live = diff_json(|a| alice.run(a), "good", "live");
    let plan = bot_plan(|a| alice.run(a));
    let touched: Vec<u64> = plan
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["number"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(touched, [2, 8, 10], "the bot's objects: {plan}");

    // Exported, then imported into an empty store.
    let file = alice.home.path().join("widgets.btar");
    let file = file.to_str().unwrap();
    let exported = alice
        .run(&["--json", "export", SCOPE, "-o", file])
        .ok()
        .json();
    // Two snapshots' records plus two activity logs.
    assert_eq!(
        exported["snapshots"].as_array().unwrap().len(),
        2,
        "{exported}"
    );
    let bob = User::new(&sb);
    let imported = bob
        .run(&["--json", "import", file, "--execute"])
        .ok()
        .json();
    assert_eq!(
        imported["blobs_written"], imported["blobs_needed"],
        "{imported}"
    );
    bob.run(&["verify", "--all"]).ok();
    let after_import = diff_json(|a| bob.run(a), "good", "after");
    assert_eq!(
        attributions(&after_import),
        before,
        "attribution after import"
    );
    assert_eq!(
        attributions(&diff_json(|a| bob.run(a), "good", "live")),
        attributions(&against_live),
        "a live diff from the imported snapshot starts where the original's log ended"
    );
    assert_eq!(
        bot_plan(|a| bob.run(a)),
        plan,
        "rollback --by from the import"
    );

    // Copied folder → S3 + DynamoDB (moto).
    let aws = AwsUser::new(&sb);
    let copied = alice
        .command(&[
            "--json",
            "copy",
            SCOPE,
            "--to-store",
            &aws.store,
            "--to-catalog",
            &aws.catalog,
        ])
        .env("AWS_ENDPOINT_URL", crate::aws::moto_url())
        .output()
        .unwrap();
    assert!(copied.status.success(), "{copied:?}");
    aws.run(&["verify", "--all"]).ok();
    let after_copy = diff_json(|a| aws.run(a), "good", "after");
    assert_eq!(attributions(&after_copy), before, "attribution after copy");
    assert_eq!(
        bot_plan(|a| aws.run(a)),
        plan,
        "rollback --by from the copy"
    );

    // Executed from the copy: the bot's three objects, three writes, the human's edits stay.
    let writes = sb.stats()["writes"].as_u64().unwrap();
    let report = aws
        .run(&[
            "--json",
            "rollback",
            SCOPE,
            "--to",
            "good",
            "--by",
            "sync-bot",
            "--execute",
            "--yes",
            "--write-interval-ms",
            "0",
        ])
        .ok()
        .json();
    assert_eq!(report["executed"].as_array().unwrap().len(), 3, "{report}");
    assert_eq!(sb.stats()["writes"].as_u64().unwrap() - writes, 3);
    assert_eq!(issue(&sb, 8)["locked"], false);
    assert_eq!(issue(&sb, 11)["title"], "Renamed by a person");
    assert_eq!(issue(&sb, 12)["state"], "closed");
    assert_eq!(issue(&sb, 13)["body"], "Rewritten by a person");
}

#[test]
fn activity_listing_failures_degrade_snapshots_and_diffs_and_refuse_rollback_by() {
    let sb = sandbox();
    prepare(&sb);
    let user = User::new(&sb);
    user.run(&["snapshot", "create", SCOPE, "--name", "good"])
        .ok();
    bot_damage(&sb);
    human_edits(&sb);

    // A diff against live, with the listing refused (403, 404, 410): the diff is whole,
    // the changes events would have attributed are unattributed, and one warning says why.
    let clean = diff_json(|a| user.run(a), "good", "live");
    for status in [403u16, 404, 410] {
        set_fault(&sb, Some(status));
        let run = user
            .run(&[
                "diff", SCOPE, "--from", "good", "--to", "live", "--format", "json",
            ])
            .ok();
        let d = run.json();
        assert_eq!(
            d["changes"],
            clean["changes"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .map(|c| {
                            let mut c = c.clone();
                            let new_comment = c["kind"] == "comment" && c["op"] == "added";
                            if !new_comment {
                                c["attribution"] =
                                    json!({"actors": [], "at": null, "source": "unattributed"});
                            }
                            c
                        })
                        .collect::<Vec<_>>()
                })
                .map_or(Value::Null, Value::from),
            "HTTP {status}: the same changes, unattributed"
        );
        let warned = warnings(&run.stderr);
        assert_eq!(
            warned.len(),
            1,
            "HTTP {status}: one warning line: {}",
            run.stderr
        );
        assert!(
            warned[0].contains("unattributed")
                && warned[0].contains(&format!("HTTP {status}"))
                && warned[0].contains("again"),
            "HTTP {status}: {}",
            warned[0]
        );
    }

    // A snapshot while the listing fails with 503 (after the client's retries): it
    // completes, says so once, and keeps its records.
    set_fault(&sb, Some(503));
    let during = user.run(&["--json", "snapshot", "create", SCOPE, "--name", "during"]);
    let during = during.ok();
    assert_eq!(during.json()["status"], "completed", "{during:?}");
    assert!(
        during.stderr.contains("issue events listing failed"),
        "{}",
        during.stderr
    );
    set_fault(&sb, None);
    user.run(&["verify", "--all"]).ok();
    let gap = user
        .run(&[
            "diff", SCOPE, "--from", "good", "--to", "during", "--format", "json",
        ])
        .ok();
    assert_eq!(
        attribution_of(&gap.json(), 2, "issue_type")["source"],
        "unattributed"
    );
    let warned = warnings(&gap.stderr);
    assert_eq!(warned.len(), 1, "{}", gap.stderr);
    assert!(
        warned[0].contains("when the newer snapshot was taken") && warned[0].contains("503"),
        "{}",
        warned[0]
    );

    // The next snapshot lists the failed window again: nothing is lost, no warning.
    as_user(&sb, BOT, "PATCH", "/issues/3", json!({"type": "Feature"}));
    user.run(&["snapshot", "create", SCOPE, "--name", "next"])
        .ok();
    let healed = user
        .run(&[
            "diff", SCOPE, "--from", "good", "--to", "next", "--format", "json",
        ])
        .ok();
    let d = healed.json();
    for (n, field) in [(2, "issue_type"), (3, "issue_type"), (8, "locked")] {
        assert_eq!(
            attribution_of(&d, n, field)["actors"],
            json!(["sync-bot"]),
            "#{n} {field}"
        );
    }
    assert_eq!(attribution_of(&d, 11, "title")["actors"], json!(["alice"]));
    assert!(warnings(&healed.stderr).is_empty(), "{}", healed.stderr);

    // rollback --by with the listing refused: exit 2, why and what to do, nothing written,
    // no pre-rollback snapshot.
    set_fault(&sb, Some(404));
    let writes = sb.stats()["writes"].as_u64().unwrap();
    let snapshots = user.run(&["--json", "snapshot", "list", SCOPE]).ok().json();
    for execute in [false, true] {
        let mut args = vec!["rollback", SCOPE, "--to", "good", "--by", "sync-bot"];
        if execute {
            args.extend(["--execute", "--yes", "--write-interval-ms", "0"]);
        }
        let refused = user.run(&args);
        assert_eq!(refused.code, 2, "{refused:?}");
        assert!(
            refused.stderr.contains("--by/--since")
                && refused.stderr.contains("listing them failed")
                && refused.stderr.contains("HTTP 404")
                && refused.stderr.contains("without --by/--since"),
            "{}",
            refused.stderr
        );
    }
    assert_eq!(
        sb.stats()["writes"].as_u64().unwrap(),
        writes,
        "nothing written"
    );
    assert_eq!(
        user.run(&["--json", "snapshot", "list", SCOPE]).ok().json(),
        snapshots,
        "no snapshot taken"
    );
    // Answering again: the bot's three objects, nobody else's.
    set_fault(&sb, None);
    let plan = bot_plan(|a| user.run(a));
    let touched: Vec<u64> = plan
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["number"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(touched, [2, 3, 8, 10], "{plan}");
}

#[test]
fn sandbox_route_faults_break_one_route_until_cleared() {
    let sb = SandboxProc::start(&["--issues", "2", "--comments", "0"]);
    set_fault(&sb, Some(410));
    let (status, body) = sb.api("GET", &format!("{REPO}/issues/events"), None);
    assert_eq!(status, 410, "{body}");
    assert_eq!(body["message"], "Issues are disabled for this repo");
    // Other routes answer as before.
    assert_eq!(sb.api("GET", &format!("{REPO}/issues/1"), None).0, 200);
    let (_, listed) = sb.api("GET", "/_sandbox/faults", None);
    assert_eq!(listed["faults"], json!([{"route": EVENTS, "status": 410}]));
    let (bad, _) = sb.api(
        "POST",
        "/_sandbox/faults",
        Some(json!({"route": "x", "status": 200})),
    );
    assert_eq!(bad, 422);
    set_fault(&sb, None);
    assert_eq!(sb.api("GET", &format!("{REPO}/issues/events"), None).0, 200);
}
