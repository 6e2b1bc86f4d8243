//! Issue 14: Jira rollback in place, through the CLI as a user runs it, against
//! `backtrack sandbox --tracker jira` in both flavours. The damage is done by a client we
//! did not write (PyPI `jira`, `tests/py/jira_chaos.py`), and the result is read back
//! through it and compared field by field with what it read before the damage.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::jira::{python, Flavor, JiraUser, Site, FLAVORS, TOKEN};

const SEEDED: [&str; 8] = [
    "--issues",
    "60",
    "--comments",
    "150",
    "--epics",
    "3",
    "--seed",
    "5",
];

/// `jira_chaos.py MODE`: its last line of output, as JSON.
fn chaos_py(site: &Site, mode: &str) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("py/jira_chaos.py");
    let out = Command::new(python())
        .arg(&script)
        .args([mode, site.url(), site.flavor.arg(), TOKEN, "PROJ"])
        .output()
        .expect("run jira_chaos.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "jira_chaos.py {mode} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .expect("the script's JSON")
}

/// Every restorable field of every issue, as PyPI `jira` reads it.
fn dump(site: &Site) -> Value {
    chaos_py(site, "dump")
}

/// Writes the sandbox counted so far.
fn writes(site: &Site) -> u64 {
    site.stats()["writes"].as_u64().unwrap()
}

/// The writes a plan makes: one per operation, one per hop of a walk.
fn planned_writes(plan: &Value) -> u64 {
    plan["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| match o["op"].as_str() {
            Some("jira_transition") => o["path"].as_array().unwrap().len().max(1) as u64,
            _ => 1,
        })
        .sum()
}

fn rollback(user: &JiraUser, extra: &[&str]) -> Value {
    let mut args = vec![
        "--json",
        "rollback",
        "jira:PROJ",
        "--to",
        "before",
        "--write-interval-ms",
        "0",
    ];
    args.extend_from_slice(extra);
    user.run(&args).ok().json()
}

/// The state after a rollback equals the state before the chaos, field by field, except
/// what the preview said cannot come back: the deleted subtask, and the recreated comments'
/// ids and attribution (each recreated exactly once, marked by its comment property, with
/// its original text and visibility).
fn assert_restored(flavor: Flavor, before: &Value, after: &Value, lost: &[&str]) {
    let (before, after) = (before.as_object().unwrap(), after.as_object().unwrap());
    let extra: Vec<&String> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    assert!(extra.is_empty(), "{flavor:?}: issues left over: {extra:?}");
    for (key, was) in before {
        if lost.contains(&key.as_str()) {
            assert!(!after.contains_key(key), "{flavor:?}: {key} came back?");
            continue;
        }
        let now = &after[key];
        for (field, value) in was.as_object().unwrap() {
            if field == "comments" {
                continue;
            }
            assert_eq!(&now[field], value, "{flavor:?}: {key} {field}");
        }
        let live: Vec<&Value> = now["comments"].as_array().unwrap().iter().collect();
        for c in was["comments"].as_array().unwrap() {
            match live.iter().find(|l| l["id"] == c["id"]) {
                Some(l) => {
                    assert_eq!(
                        l["body"], c["body"],
                        "{flavor:?}: {key} comment {}",
                        c["id"]
                    );
                    assert_eq!(
                        l["visibility"], c["visibility"],
                        "{flavor:?}: {key} comment {}",
                        c["id"]
                    );
                }
                None => {
                    let original: u64 = c["id"].as_str().unwrap().parse().unwrap();
                    let copies: Vec<&&Value> = live
                        .iter()
                        .filter(|l| l["restored"] == json!(original))
                        .collect();
                    assert_eq!(
                        copies.len(),
                        1,
                        "{flavor:?}: {key} comment {original}: {copies:?}"
                    );
                    let body = copies[0]["body"].as_str().unwrap();
                    assert!(
                        body.contains(c["body"].as_str().unwrap())
                            && body.contains("Restored by backtrack"),
                        "{flavor:?}: {key} comment {original}: {body}"
                    );
                    assert_eq!(
                        copies[0]["visibility"], c["visibility"],
                        "{flavor:?}: {key} comment {original}"
                    );
                }
            }
        }
        assert_eq!(
            live.len(),
            was["comments"].as_array().unwrap().len(),
            "{flavor:?}: {key} has other comments than before: {live:?}"
        );
    }
}

fn ops_of<'a>(plan: &'a Value, key: &str) -> Vec<&'a Value> {
    plan["ops"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["key"] == json!(key))
        .collect()
}

fn lost_keys(plan: &Value) -> Vec<String> {
    plan["irrecoverable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn jira_rollback_undoes_pypi_jira_chaos_field_by_field_on_both_flavours() {
    for flavor in FLAVORS {
        let site = Site::start(flavor, &SEEDED);
        let user = JiraUser::new(&site);
        let before = dump(&site);
        user.snapshot("jira:PROJ", &["--name", "before"]);
        let did = chaos_py(&site, "chaos");
        let s = |k: &str| did[k].as_str().unwrap().to_string();
        let (edited, reopened, moved) = (s("edited"), s("reopened"), s("moved"));
        let (added, deleted) = (s("subtask_added"), s("subtask_deleted"));

        // The preview names every loss before anything runs, and leaves the new subtask
        // alone unless asked.
        let preview = rollback(&user, &[]);
        assert_eq!(preview["executed"], false);
        let plan = &preview["plan"];
        let lost = lost_keys(plan);
        for k in [format!("issue:{deleted}"), format!("issue:{added}")] {
            assert!(lost.contains(&k), "{flavor:?}: {k} not named in {lost:?}");
        }
        for c in did["comments_deleted"].as_array().unwrap() {
            let k = format!("comment:{}", c.as_str().unwrap());
            assert!(lost.contains(&k), "{flavor:?}: {k} not named in {lost:?}");
        }
        assert!(
            plan["irrecoverable"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["key"].as_str().unwrap().starts_with("component:")
                    && i["what"]
                        .as_str()
                        .unwrap()
                        .contains(did["component_deleted"].as_str().unwrap())),
            "{flavor:?}: the recreated component's new id is not named: {plan}"
        );
        assert!(
            ops_of(plan, &added).is_empty(),
            "{flavor:?}: the new subtask is touched"
        );
        // The component comes back before any issue that uses it.
        let first_issue_op = plan["ops"]
            .as_array()
            .unwrap()
            .iter()
            .position(|o| o["key"].is_string())
            .unwrap();
        let component_op = plan["ops"]
            .as_array()
            .unwrap()
            .iter()
            .position(|o| o["op"] == "jira_create_component")
            .expect("the deleted component is recreated");
        assert!(component_op < first_issue_op, "{flavor:?}: {plan}");
        // One PUT for every changed field of the edited issue, then the walk back.
        let edits = ops_of(plan, &edited);
        assert_eq!(edits[0]["op"], "jira_edit_issue");
        let fields: Vec<&str> = edits[0]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["field"].as_str().unwrap())
            .collect();
        for f in [
            "summary",
            "description",
            "labels",
            "components",
            "priority",
            "assignee",
            "due_date",
            "story_points",
        ] {
            assert!(
                fields.contains(&f),
                "{flavor:?}: {f} missing from {fields:?}"
            );
        }
        let walk: Vec<&str> = edits[1]["path"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["to"].as_str().unwrap())
            .collect();
        assert_eq!(walk, ["Reopened", "In Progress", "To Do"], "{flavor:?}");
        let back = ops_of(plan, &reopened);
        let walk = back.iter().find(|o| o["op"] == "jira_transition").unwrap();
        assert_eq!(walk["path"][0]["to"], "Done", "{flavor:?}: {walk}");
        assert!(!walk["resolution"].is_null(), "{flavor:?}: {walk}");
        let parent_field = if flavor == Flavor::Cloud {
            "parent"
        } else {
            "epic_link"
        };
        assert!(
            ops_of(plan, &moved)[0]["changes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["field"] == parent_field),
            "{flavor:?}: the move between epics is not undone"
        );
        let text = user
            .run(&["rollback", "jira:PROJ", "--to", "before"])
            .ok()
            .stdout;
        assert!(
            text.contains("Done → Reopened → In Progress → To Do")
                && text.contains("Cannot be restored")
                && text.contains("--delete-new-subtasks"),
            "{flavor:?}: {text}"
        );

        // --only and --fields narrow the plan.
        let only = rollback(&user, &["--only", &edited.to_lowercase()]);
        assert!(
            only["plan"]["ops"]
                .as_array()
                .unwrap()
                .iter()
                .all(|o| o["key"] == json!(edited) || o["op"] == "jira_create_component"),
            "{flavor:?}: {}",
            only["plan"]
        );
        let narrow = rollback(&user, &["--fields", "summary,status"]);
        for o in narrow["plan"]["ops"].as_array().unwrap() {
            match o["op"].as_str().unwrap() {
                "jira_transition" => {}
                "jira_edit_issue" => assert!(
                    o["changes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|c| c["field"] == "summary"),
                    "{flavor:?}: {o}"
                ),
                other => panic!("{flavor:?}: --fields summary,status planned {other}"),
            }
        }

        // Execute: every write is one the plan shows.
        let written_before = writes(&site);
        let report = rollback(&user, &["--delete-new-subtasks", "--execute", "--yes"]);
        assert_eq!(
            report["verification"]["clean"], true,
            "{flavor:?}: {report}"
        );
        assert_eq!(
            writes(&site) - written_before,
            planned_writes(&report["plan"]),
            "{flavor:?}: writes differ from the plan's operations: {}",
            site.stats()
        );
        assert!(
            ops_of(&report["plan"], &added)
                .iter()
                .any(|o| o["op"] == "jira_delete_issue"),
            "{flavor:?}"
        );
        let after = dump(&site);
        assert_restored(flavor, &before, &after, &[deleted.as_str()]);

        // Nothing left to do; the undo point is there.
        let again = rollback(&user, &["--delete-new-subtasks"]);
        assert_eq!(again["plan"]["ops"], json!([]), "{flavor:?}: {again}");
        let pre = report["pre_rollback_snapshot"].as_str().unwrap();
        let undo = user.run(&["--json", "restore", pre]).ok().json();
        assert!(
            !undo["plan"]["ops"].as_array().unwrap().is_empty(),
            "{flavor:?}: restoring the pre-rollback snapshot would change nothing: {undo}"
        );
    }
}

/// Moves an issue along transitions by name, as another client would.
fn walk(site: &Site, key: &str, names: &[&str]) {
    let api = site.flavor.api();
    for name in names {
        let ts = site.call("GET", &format!("{api}/issue/{key}/transitions"), None);
        let t = ts["transitions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["to"]["name"] == json!(name))
            .unwrap_or_else(|| panic!("{key}: no transition to {name} in {ts}"));
        let mut body = json!({"transition": {"id": t["id"]}});
        if *name == "Done" {
            body["fields"] = json!({"resolution": {"name": "Duplicate"}});
        }
        site.call(
            "POST",
            &format!("{api}/issue/{key}/transitions"),
            Some(body),
        );
    }
}

fn status(site: &Site, key: &str) -> (String, Value) {
    let i = site.call(
        "GET",
        &format!("{}/issue/{key}?fields=status,resolution", site.flavor.api()),
        None,
    );
    (
        i["fields"]["status"]["name"].as_str().unwrap().to_string(),
        i["fields"]["resolution"]["name"].clone(),
    )
}

fn transition_posts(site: &Site) -> u64 {
    let route = format!("POST {}/issue/{{key}}/transitions", site.flavor.api());
    site.stats()["by_route"][route].as_u64().unwrap_or(0)
}

#[test]
fn jira_status_walks_the_shortest_path_and_a_killed_walk_never_repeats_a_hop() {
    for flavor in FLAVORS {
        let site = Site::start(
            flavor,
            &[
                "--issues",
                "40",
                "--comments",
                "40",
                "--epics",
                "2",
                "--seed",
                "8",
                "--latency-ms",
                "120",
            ],
        );
        let user = JiraUser::new(&site);
        let find = |jql: &str| {
            site.search(jql, &["summary"])
                .iter()
                .map(|i| i["key"].as_str().unwrap().to_string())
                .next()
                .unwrap()
        };
        let x =
            find("project = PROJ AND issuetype = Story AND status = \"To Do\" ORDER BY key ASC");
        let y = find(
            "project = PROJ AND issuetype in (Story, Task) AND status = Done ORDER BY key ASC",
        );
        let y_was = status(&site, &y);
        user.snapshot("jira:PROJ", &["--name", "before"]);
        walk(&site, &x, &["In Progress", "In Review", "Done"]);
        walk(&site, &y, &["Reopened", "In Progress", "To Do"]);

        let preview = rollback(&user, &["--fields", "status"]);
        let path = |key: &str| -> Vec<String> {
            ops_of(&preview["plan"], key)[0]["path"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["to"].as_str().unwrap().to_string())
                .collect()
        };
        // Three hops back (the only way), and two forward (not three through review).
        assert_eq!(path(&x), ["Reopened", "In Progress", "To Do"], "{flavor:?}");
        assert_eq!(path(&y), ["In Progress", "Done"], "{flavor:?}");

        // Killed once the first hop has landed (the walk then reads the next status, a
        // request the sandbox answers slowly), then run again: five hops in all, none
        // repeated. (A kill during a transition's own request could leave it counted by
        // the sandbox but never applied, so the kill waits for the hop to show.)
        let first = preview["plan"]["ops"][0]["key"]
            .as_str()
            .unwrap()
            .to_string();
        let first_was = status(&site, &first).0;
        let posts = transition_posts(&site);
        let mut child = user
            .command(&[
                "rollback",
                "jira:PROJ",
                "--to",
                "before",
                "--fields",
                "status",
                "--execute",
                "--yes",
                "--write-interval-ms",
                "0",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while status(&site, &first).0 == first_was {
            assert!(Instant::now() < deadline, "{flavor:?}: no hop was taken");
            assert!(
                child.try_wait().unwrap().is_none(),
                "{flavor:?}: finished before a kill"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let mid = transition_posts(&site) - posts;
        assert!(mid < 5, "{flavor:?}: the kill came too late ({mid} hops)");
        let report = rollback(&user, &["--fields", "status", "--execute", "--yes"]);
        assert_eq!(
            report["verification"]["clean"], true,
            "{flavor:?}: {report}"
        );
        assert_eq!(
            transition_posts(&site) - posts,
            5,
            "{flavor:?}: a hop was repeated or skipped (killed after {mid}): {report} {}",
            site.stats()
        );
        assert_eq!(status(&site, &x).0, "To Do", "{flavor:?}");
        assert_eq!(
            status(&site, &x).1,
            Value::Null,
            "{flavor:?}: leaving Done clears the resolution"
        );
        assert_eq!(
            status(&site, &y),
            y_was,
            "{flavor:?}: Done with its resolution"
        );
    }
}

/// Per original comment id, how many live comments restore it (by comment property).
fn restored_copies(state: &Value) -> BTreeMap<u64, usize> {
    let mut out = BTreeMap::new();
    for issue in state.as_object().unwrap().values() {
        for c in issue["comments"].as_array().unwrap() {
            if let Some(o) = c["restored"].as_u64() {
                *out.entry(o).or_default() += 1;
            }
        }
    }
    out
}

#[test]
fn jira_rollbacks_killed_at_random_points_converge_without_duplicates() {
    let trials: u64 = std::env::var("BACKTRACK_KILL_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    for flavor in FLAVORS {
        kill_trials(flavor, trials);
    }
}

/// `trials` rollbacks of the same chaos, each killed at a point spread over a whole run,
/// then run again to the end.
fn kill_trials(flavor: Flavor, trials: u64) {
    let site = Site::start(flavor, &[&SEEDED[..], &["--latency-ms", "5"]].concat());
    let args = [
        "rollback",
        "jira:PROJ",
        "--to",
        "before",
        "--delete-new-subtasks",
        "--execute",
        "--yes",
        "--write-interval-ms",
        "0",
    ];
    let reset = || {
        site.call("POST", "/_sandbox/reset", None);
    };
    // How long one uninterrupted rollback takes, to spread the kills over a whole run.
    let full_run = {
        reset();
        let user = JiraUser::new(&site);
        user.snapshot("jira:PROJ", &["--name", "before"]);
        chaos_py(&site, "chaos");
        let started = Instant::now();
        user.run(&args).ok();
        started.elapsed()
    };
    let mut killed_mid_run = 0;
    for trial in 0..trials {
        reset();
        let before = dump(&site);
        let user = JiraUser::new(&site);
        user.snapshot("jira:PROJ", &["--name", "before"]);
        let did = chaos_py(&site, "chaos");
        let mut child = user
            .command(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(full_run.mul_f64((trial * 7919 % 23) as f64 / 23.0));
        if child.try_wait().unwrap().is_none() {
            killed_mid_run += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        let run = user.run(&[&["--json"], &args[..]].concat());
        assert_eq!(run.code, 0, "{flavor:?} trial {trial}: {run:?}");
        let after = dump(&site);
        let dupes: Vec<_> = restored_copies(&after)
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .collect();
        assert!(
            dupes.is_empty(),
            "{flavor:?} trial {trial}: duplicated comments {dupes:?}"
        );
        assert_restored(
            flavor,
            &before,
            &after,
            &[did["subtask_deleted"].as_str().unwrap()],
        );
        let components: Vec<String> = site
            .call(
                "GET",
                &format!("{}/project/PROJ/components", flavor.api()),
                None,
            )
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect();
        let mut unique = components.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            unique.len(),
            components.len(),
            "{flavor:?} trial {trial}: {components:?}"
        );
    }
    assert!(
        killed_mid_run * 4 >= trials,
        "{flavor:?}: only {killed_mid_run}/{trials} kills landed mid-run"
    );
}

#[test]
fn jira_rollback_under_injected_faults_and_rate_limits_converges() {
    // One request in ten answers a 5xx or a 429 with Retry-After, before any state changes:
    // reads and writes are retried (after the wait Jira asked for), and a run that gives up
    // is resumed by the same command.
    let site = Site::start(
        Flavor::Cloud,
        &[&SEEDED[..], &["--fault-rate", "0.1"]].concat(),
    );
    let user = JiraUser::new(&site);
    user.snapshot("jira:PROJ", &["--name", "before"]);
    let api = site.flavor.api();
    let todo = site.search(
        "project = PROJ AND issuetype in (Story, Task) AND status = \"To Do\" ORDER BY key ASC",
        &["summary", "comment"],
    );
    for i in &todo[..3] {
        let key = i["key"].as_str().unwrap();
        site.call(
            "PUT",
            &format!("{api}/issue/{key}"),
            Some(json!({"fields": {"summary": "Rewritten", "labels": ["wrecked"]}})),
        );
    }
    let moved = todo[0]["key"].as_str().unwrap();
    walk(&site, moved, &["In Progress", "In Review", "Done"]);
    let commented = todo
        .iter()
        .find(|i| i["fields"]["comment"]["total"].as_u64().unwrap() > 0)
        .unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let comments = site.call("GET", &format!("{api}/issue/{commented}/comment"), None);
    let victim = comments["comments"][0]["id"].as_str().unwrap().to_string();
    site.call(
        "DELETE",
        &format!("{api}/issue/{commented}/comment/{victim}"),
        None,
    );

    let mut runs = 0;
    let mut retried = 0;
    loop {
        runs += 1;
        let run = user.run(&[
            "-v",
            "--json",
            "rollback",
            "jira:PROJ",
            "--to",
            "before",
            "--execute",
            "--yes",
            "--write-interval-ms",
            "0",
        ]);
        retried += run.stderr.matches("retrying").count() + run.stderr.matches("slow down").count();
        if run.code == 0 {
            let report = run.json();
            assert_eq!(report["verification"]["clean"], true, "{report}");
            break;
        }
        assert!(runs < 6, "still failing after {runs} runs: {run:?}");
    }
    let again = rollback(&user, &[]);
    assert_eq!(again["plan"]["ops"], json!([]), "{again}");
    let live = site.call(
        "GET",
        &format!("{api}/issue/{commented}/comment?expand=properties"),
        None,
    );
    let copies = live["comments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            c["properties"].as_array().into_iter().flatten().any(|p| {
                p["key"] == "backtrack.restored"
                    && p["value"]["original"].as_u64().map(|o| o.to_string())
                        == Some(victim.clone())
            })
        })
        .count();
    assert_eq!(copies, 1, "{live}");
    assert!(retried > 0, "no fault was met");
}

/// The issue property a recreated issue carries, or null.
fn recreated_property(site: &Site, key: &str) -> Value {
    let (status, reply) = site.api(
        "GET",
        &format!(
            "{}/issue/{key}/properties/backtrack.restored",
            site.flavor.api()
        ),
        None,
    );
    if status == 404 {
        Value::Null
    } else {
        assert_eq!(status, 200, "{key}: {reply}");
        reply["value"].clone()
    }
}

/// Keys of the project's issues that carry a `backtrack.restored` issue property, per
/// original key (several would be duplicates).
fn recreations(site: &Site) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in site.search("project = PROJ ORDER BY key ASC", &["summary"]) {
        let key = i["key"].as_str().unwrap();
        let p = recreated_property(site, key);
        if let Some(original) = p["key"].as_str() {
            out.entry(original.to_string())
                .or_default()
                .push(key.to_string());
        }
    }
    out
}

#[test]
fn jira_recreate_deleted_brings_issues_and_subtasks_back_once_under_new_keys() {
    for flavor in FLAVORS {
        // Slow enough answers that the kill below lands while the run is still writing.
        let site = Site::start(flavor, &[&SEEDED[..], &["--latency-ms", "25"]].concat());
        let user = JiraUser::new(&site);
        let api = site.flavor.api();
        // A story (or task) with subtasks and comments, out of its first status: deleting
        // it takes its subtasks along.
        let victim = site
            .search(
                "project = PROJ AND issuetype in (Story, Task) AND status != \"To Do\" ORDER BY key ASC",
                &["subtasks", "comment", "status"],
            )
            .into_iter()
            .find(|i| {
                !i["fields"]["subtasks"].as_array().unwrap().is_empty()
                    && i["fields"]["comment"]["total"].as_u64().unwrap() > 0
            })
            .expect("a story with subtasks and comments, past To Do");
        let key = victim["key"].as_str().unwrap().to_string();
        let subtasks: Vec<String> = victim["fields"]["subtasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["key"].as_str().unwrap().to_string())
            .collect();
        let before = dump(&site);
        user.snapshot("jira:PROJ", &["--name", "before"]);
        site.call(
            "DELETE",
            &format!("{api}/issue/{key}?deleteSubtasks=true"),
            None,
        );
        let gone: Vec<&String> = std::iter::once(&key).chain(&subtasks).collect();

        // Without the flag: named, not recreated.
        let plain = rollback(&user, &[]);
        assert!(
            plain["plan"]["ops"]
                .as_array()
                .unwrap()
                .iter()
                .all(|o| o["op"] != "jira_recreate_issue"),
            "{flavor:?}: {}",
            plain["plan"]
        );
        let lost = lost_keys(&plain["plan"]);
        for k in &gone {
            assert!(lost.contains(&format!("issue:{k}")), "{flavor:?}: {k}");
        }

        // The preview: the story first, then its walk, then its subtasks; every loss named.
        let preview = rollback(&user, &["--recreate-deleted"]);
        let ops = preview["plan"]["ops"].as_array().unwrap();
        let creates: Vec<&str> = ops
            .iter()
            .filter(|o| o["op"] == "jira_recreate_issue")
            .map(|o| o["original_key"].as_str().unwrap())
            .collect();
        assert_eq!(creates.len(), gone.len(), "{flavor:?}: {creates:?}");
        assert_eq!(creates[0], key, "{flavor:?}: the parent comes first");
        for o in ops
            .iter()
            .filter(|o| o["op"] == "jira_recreate_issue" && o["subtask"] == true)
        {
            let parent = o["fields"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["field"] == "parent")
                .unwrap_or_else(|| panic!("{flavor:?}: a subtask without its parent: {o}"));
            assert_eq!(parent["to"], json!(key), "{flavor:?}: {o}");
            assert!(parent["recreated"].is_u64(), "{flavor:?}: {o}");
        }
        let walks = ops
            .iter()
            .filter(|o| o["op"] == "jira_transition" && o["recreated"].is_u64())
            .count();
        assert!(walks >= 1, "{flavor:?}: the story's status is not walked");
        for k in &gone {
            let loss = preview["plan"]["irrecoverable"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["key"] == json!(format!("issue:{k}")))
                .unwrap_or_else(|| panic!("{flavor:?}: {k} not named"));
            let text = format!("{} {}", loss["what"], loss["reason"]);
            for needle in ["new key on execute", "creator", "created date"] {
                assert!(text.contains(needle), "{flavor:?}: {needle} in {text}");
            }
        }
        let text = user
            .run(&[
                "rollback",
                "jira:PROJ",
                "--to",
                "before",
                "--recreate-deleted",
            ])
            .ok()
            .stdout;
        assert!(
            text.contains(&format!("{key} recreate deleted"))
                && text.contains("new key on execute"),
            "{flavor:?}: {text}"
        );

        // Killed once the story's recreation has landed, then run again: each deleted
        // issue comes back exactly once.
        let args = [
            "rollback",
            "jira:PROJ",
            "--to",
            "before",
            "--recreate-deleted",
            "--execute",
            "--yes",
            "--write-interval-ms",
            "0",
        ];
        let newest = site
            .search("project = PROJ ORDER BY key DESC", &["summary"])
            .first()
            .map(|i| i["key"].as_str().unwrap().to_string())
            .unwrap();
        let written_before = writes(&site);
        let mut child = user
            .command(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let made = site
                .search(&format!("project = PROJ AND key > {newest}"), &["summary"])
                .len();
            assert!(
                child.try_wait().unwrap().is_none(),
                "{flavor:?}: the run ended before a kill"
            );
            if made > 0 {
                break;
            }
            assert!(Instant::now() < deadline, "{flavor:?}: nothing was created");
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.kill();
        let _ = child.wait();
        let run = user.run(&[&["--json"], &args[..]].concat());
        assert_eq!(run.code, 0, "{flavor:?}: {run:?}");
        let report = run.json();
        assert_eq!(
            report["verification"]["clean"], true,
            "{flavor:?}: {report}"
        );
        let made = recreations(&site);
        for k in &gone {
            assert_eq!(
                made.get(*k).map(Vec::len),
                Some(1),
                "{flavor:?}: {k} recreated other than once: {made:?}"
            );
            assert_eq!(
                report["recreated"][k.as_str()],
                json!(made[*k][0]),
                "{flavor:?}: {report}"
            );
        }
        assert!(
            writes(&site) - written_before <= planned_writes(&preview["plan"]) + 1,
            "{flavor:?}: more writes than the plan's (+ the killed run's one in flight)"
        );
        let renamed = |k: &str| made.get(k).map_or(k.to_string(), |v| v[0].clone());

        // Field by field: the recreations equal the deleted originals, under new keys,
        // with the attribution line leading the description and each comment once.
        let after = dump(&site);
        for k in &gone {
            let (was, now) = (&before[k.as_str()], &after[renamed(k).as_str()]);
            let property = recreated_property(&site, &renamed(k));
            assert_eq!(property["key"], json!(k), "{flavor:?}");
            for (field, value) in was.as_object().unwrap() {
                match field.as_str() {
                    "comments" => {}
                    "description" => {
                        let text = now[field].as_str().unwrap_or_default();
                        assert!(
                            text.contains("Restored by backtrack")
                                && text.contains(&format!("Originally {k}"))
                                && value.as_str().is_none_or(|v| text.contains(v.trim())),
                            "{flavor:?}: {k} description: {text:?} (was {value})"
                        );
                    }
                    "parent" | "epic_link" => assert_eq!(
                        now[field],
                        value.as_str().map_or(Value::Null, |p| json!(renamed(p))),
                        "{flavor:?}: {k} {field}"
                    ),
                    _ => assert_eq!(&now[field], value, "{flavor:?}: {k} {field}"),
                }
            }
            let live = now["comments"].as_array().unwrap();
            assert_eq!(
                live.len(),
                was["comments"].as_array().unwrap().len(),
                "{flavor:?}: {k}: {live:?}"
            );
            for c in was["comments"].as_array().unwrap() {
                let original: u64 = c["id"].as_str().unwrap().parse().unwrap();
                let copies: Vec<&Value> = live
                    .iter()
                    .filter(|l| l["restored"] == json!(original))
                    .collect();
                assert_eq!(copies.len(), 1, "{flavor:?}: {k} comment {original}");
                assert!(
                    copies[0]["body"]
                        .as_str()
                        .unwrap()
                        .contains(c["body"].as_str().unwrap()),
                    "{flavor:?}: {k} comment {original}"
                );
                assert_eq!(copies[0]["visibility"], c["visibility"], "{flavor:?}");
            }
        }
        // Everything else as it was.
        let others: Vec<&String> = before
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| !gone.contains(k))
            .collect();
        for k in others {
            assert_eq!(before[k.as_str()], after[k.as_str()], "{flavor:?}: {k}");
        }

        // Nothing left to do, and the recreations are not "new issues" to this target.
        let again = rollback(
            &user,
            &[
                "--recreate-deleted",
                "--delete-new-issues",
                "--delete-new-subtasks",
            ],
        );
        assert_eq!(again["plan"]["ops"], json!([]), "{flavor:?}: {again}");

        // Undo: the pre-rollback snapshot has no recreations. They are named and left in
        // place, and deleted only when asked, each once (subtasks with their parent).
        let pre = report["pre_rollback_snapshot"].as_str().unwrap();
        let undo = user.run(&["--json", "restore", pre]).ok().json();
        assert_eq!(undo["plan"]["ops"], json!([]), "{flavor:?}: {undo}");
        let named = lost_keys(&undo["plan"]);
        for k in &gone {
            assert!(
                named.contains(&format!("issue:{}", renamed(k))),
                "{flavor:?}: {named:?}"
            );
        }
        let undo = user
            .run(&[
                "--json",
                "restore",
                pre,
                "--delete-new-issues",
                "--delete-new-subtasks",
            ])
            .ok()
            .json();
        let deletes: Vec<&str> = undo["plan"]["ops"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                assert_eq!(o["op"], "jira_delete_issue", "{flavor:?}: {o}");
                o["key"].as_str().unwrap()
            })
            .collect();
        assert_eq!(deletes, [renamed(&key)], "{flavor:?}: {undo}");
    }
}

#[test]
fn jira_rollback_names_an_unreachable_status_and_writes_everything_else() {
    // A project whose workflow makes Done final (`--workflow restricted`): an issue another
    // client closed cannot go back, which the preview says before anything runs; the rest
    // of the rollback goes ahead, and the run succeeds.
    for flavor in FLAVORS {
        let site = Site::start(
            flavor,
            &[&SEEDED[..], &["--workflow", "restricted"]].concat(),
        );
        let user = JiraUser::new(&site);
        let api = site.flavor.api();
        let in_progress = site.search(
            "project = PROJ AND issuetype in (Story, Task) AND status = \"In Progress\" ORDER BY key ASC",
            &["summary"],
        );
        let todo = site.search(
            "project = PROJ AND issuetype in (Story, Task) AND status = \"To Do\" ORDER BY key ASC",
            &["summary"],
        );
        let closed = in_progress[0]["key"].as_str().unwrap().to_string();
        let moved = todo[0]["key"].as_str().unwrap().to_string();
        let before = dump(&site);
        user.snapshot("jira:PROJ", &["--name", "before"]);
        // Done offers no way out, as Jira lists a final status's transitions: none.
        for (key, to) in [(&closed, "Done"), (&moved, "In Progress")] {
            site.call(
                "PUT",
                &format!("{api}/issue/{key}"),
                Some(json!({"fields": {"summary": format!("Synced {key}")}})),
            );
            walk(&site, key, &[to]);
        }
        let out = site.call("GET", &format!("{api}/issue/{closed}/transitions"), None);
        assert_eq!(out["transitions"], json!([]), "{flavor:?}: {out}");

        let preview = rollback(&user, &[]);
        let plan = &preview["plan"];
        let named = plan["irrecoverable"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["key"] == json!(format!("issue:{closed}")))
            .unwrap_or_else(|| panic!("{flavor:?}: {closed}'s status is not named: {plan}"));
        assert!(
            named["what"]
                .as_str()
                .unwrap()
                .contains("Done → In Progress is unreachable"),
            "{flavor:?}: {named}"
        );
        let ops = ops_of(plan, &closed);
        assert_eq!(ops.len(), 1, "{flavor:?}: {ops:?}");
        assert_eq!(ops[0]["op"], "jira_edit_issue", "{flavor:?}");
        let back = ops_of(plan, &moved);
        assert_eq!(back[1]["op"], "jira_transition", "{flavor:?}: {back:?}");
        let text = user
            .run(&["rollback", "jira:PROJ", "--to", "before"])
            .ok()
            .stdout;
        assert!(
            text.contains(&format!(
                "{closed} status Done → In Progress is unreachable"
            )),
            "{flavor:?}: {text}"
        );

        let posts = transition_posts(&site);
        let written = writes(&site);
        let run = user.run(&[
            "--json",
            "rollback",
            "jira:PROJ",
            "--to",
            "before",
            "--execute",
            "--yes",
            "--write-interval-ms",
            "0",
        ]);
        assert_eq!(run.code, 0, "{flavor:?}: {run:?}");
        let report = run.json();
        assert_eq!(
            report["verification"]["clean"], true,
            "{flavor:?}: {report}"
        );
        assert_eq!(
            writes(&site) - written,
            planned_writes(&report["plan"]),
            "{flavor:?}"
        );
        assert_eq!(
            transition_posts(&site) - posts,
            1,
            "{flavor:?}: only {moved}'s walk is attempted"
        );
        let after = dump(&site);
        for (key, was) in before.as_object().unwrap() {
            let now = &after[key.as_str()];
            if *key == closed {
                assert_eq!(now["summary"], was["summary"], "{flavor:?}");
                assert_eq!(now["status"], "Done", "{flavor:?}");
            } else {
                assert_eq!(now, was, "{flavor:?}: {key}");
            }
        }
    }
}
