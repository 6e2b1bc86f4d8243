//! Issue 15 item 4 for Jira: `restore REF --into jira:OTHER` copies a project's snapshot
//! (epics, stories, subtasks, comments, links) into another project, through the CLI, on
//! both flavours. The source and the destination are two `backtrack sandbox --tracker jira`
//! sites started the way a user starts them (the destination an empty project `DEST`);
//! both are read back through PyPI `jira` (`tests/py/jira_chaos.py dump`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::jira::{python, Flavor, JiraUser, Site, FLAVORS, TOKEN};
use crate::util::Run;

const SOURCE_ARGS: [&str; 8] = [
    "--issues",
    "30",
    "--comments",
    "60",
    "--epics",
    "2",
    "--seed",
    "5",
];

/// An empty project `DEST` on a site of the same seed (so the same people and fields).
const DEST_ARGS: [&str; 10] = [
    "--project",
    "DEST",
    "--issues",
    "0",
    "--comments",
    "0",
    "--epics",
    "0",
    "--seed",
    "5",
];

/// Every field of every issue of `project`, as PyPI `jira` reads it.
fn dump(site: &Site, project: &str) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("py/jira_chaos.py");
    let out = Command::new(python())
        .arg(&script)
        .args(["dump", site.url(), site.flavor.arg(), TOKEN, project])
        .output()
        .expect("run jira_chaos.py");
    assert!(
        out.status.success(),
        "jira_chaos.py dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .expect("the dump's JSON")
}

/// Each issue's outward links as `(type, other key)`, sorted.
fn links(site: &Site, project: &str) -> BTreeMap<String, Vec<(String, String)>> {
    site.search(&format!("project = {project}"), &["issuelinks"])
        .into_iter()
        .map(|i| {
            let mut out: Vec<(String, String)> = i["fields"]["issuelinks"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|l| {
                    let other = l["outwardIssue"]["key"].as_str()?;
                    Some((l["type"]["name"].as_str()?.to_string(), other.to_string()))
                })
                .collect();
            out.sort();
            (i["key"].as_str().unwrap().to_string(), out)
        })
        .collect()
}

fn writes(site: &Site) -> u64 {
    site.stats()["writes"].as_u64().unwrap()
}

/// Transitions posted so far (a walk makes one write per hop).
fn hops(site: &Site) -> u64 {
    site.stats()["by_route"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.starts_with("POST ") && k.ends_with("/issue/{key}/transitions"))
        .map(|(_, n)| n.as_u64().unwrap())
        .sum()
}

fn ops_of<'a>(plan: &'a Value, op: &str) -> Vec<&'a Value> {
    plan["ops"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["op"] == op)
        .collect()
}

/// `backtrack ARGS` against the destination site, with the user's store.
fn at_dest(user: &JiraUser, dest: &Site, args: &[&str]) -> Run {
    user.run_with(args, &[("JIRA_BASE_URL", Some(dest.url()))])
}

/// Keys of the issues of `project` that carry the `backtrack.restored` property, per
/// original key (more than one would be a duplicate).
fn copies(site: &Site, project: &str) -> BTreeMap<String, Vec<String>> {
    let api = site.flavor.api();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in site.search(
        &format!("project = {project} ORDER BY key ASC"),
        &["summary"],
    ) {
        let key = i["key"].as_str().unwrap();
        let (status, reply) = site.api(
            "GET",
            &format!("{api}/issue/{key}/properties/backtrack.restored"),
            None,
        );
        if status == 200 {
            let original = reply["value"]["key"].as_str().unwrap().to_string();
            out.entry(original).or_default().push(key.to_string());
        }
    }
    out
}

/// The destination holds a faithful copy of every source issue under `moved` (old → new
/// key): fields, status, parent and epic equal modulo keys, the description led by its
/// attribution, each comment once with its author and date, and the links. Returns the
/// comments compared.
fn assert_copied(
    flavor: Flavor,
    before: &Value,
    after: &Value,
    moved: &BTreeMap<String, String>,
) -> usize {
    let before = before.as_object().unwrap();
    assert_eq!(
        after.as_object().unwrap().len(),
        before.len(),
        "{flavor:?}: the destination holds other than one copy per issue"
    );
    let renamed = |k: &str| {
        moved
            .get(k)
            .unwrap_or_else(|| panic!("{flavor:?}: {k} not copied"))
            .clone()
    };
    let mut compared = 0;
    for (k, was) in before {
        let now = &after[renamed(k).as_str()];
        for (field, value) in was.as_object().unwrap() {
            match field.as_str() {
                "comments" => {}
                "description" => {
                    let text = now[field].as_str().unwrap_or_default();
                    assert!(
                        text.contains("Copied by backtrack from jira:PROJ (snapshot good)")
                            && text.contains(&format!("Originally {k}, created by"))
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
        let (was_c, now_c) = (
            was["comments"].as_array().unwrap(),
            now["comments"].as_array().unwrap(),
        );
        assert_eq!(now_c.len(), was_c.len(), "{flavor:?}: {k} comments");
        for (c, copy) in was_c.iter().zip(now_c) {
            let original: u64 = c["id"].as_str().unwrap().parse().unwrap();
            assert_eq!(copy["restored"], json!(original), "{flavor:?}: {k} order");
            let body = copy["body"].as_str().unwrap();
            assert!(
                body.contains("Copied by backtrack from")
                    && body.contains("Originally written by")
                    && body.contains(c["body"].as_str().unwrap().trim()),
                "{flavor:?}: {k} comment {original}: {body:?}"
            );
            assert_eq!(copy["visibility"], c["visibility"], "{flavor:?}: {k}");
            compared += 1;
        }
    }
    compared
}

#[test]
fn jira_restore_into_copies_a_project_once_on_both_flavours() {
    for flavor in FLAVORS {
        let src = Site::start(flavor, &SOURCE_ARGS);
        let dest = Site::start(flavor, &DEST_ARGS);
        let user = JiraUser::new(&src);
        let api = flavor.api();
        // A link we know of, besides the seeded ones.
        let keys: Vec<String> = src
            .search(
                "project = PROJ AND issuetype in (Story, Task) ORDER BY key ASC",
                &["summary"],
            )
            .iter()
            .map(|i| i["key"].as_str().unwrap().to_string())
            .collect();
        let (s, r) = src.api(
            "POST",
            &format!("{api}/issueLink"),
            Some(json!({"type": {"name": "Blocks"}, "inwardIssue": {"key": keys[0]}, "outwardIssue": {"key": keys[1]}})),
        );
        assert_eq!(s, 201, "{r}");
        user.snapshot("jira:PROJ", &["--name", "good"]);
        let before = dump(&src, "PROJ");
        let source_links = links(&src, "PROJ");
        let n_issues = before.as_object().unwrap().len();
        let n_comments: usize = before
            .as_object()
            .unwrap()
            .values()
            .map(|i| i["comments"].as_array().unwrap().len())
            .sum();
        let n_links: usize = source_links.values().map(Vec::len).sum();
        assert!(n_links >= 1 && n_comments > 0, "{flavor:?}");

        // Across trackers: refused, nothing written, and told what to do.
        let refused = user.run(&["restore", "good", "--into", "github:acme/widgets"]);
        assert_eq!(refused.code, 2, "{flavor:?}: {refused:?}");
        assert!(
            refused.stderr.contains("same tracker kind")
                && refused.stderr.contains("--into jira:PROJECT"),
            "{flavor:?}: {}",
            refused.stderr
        );

        // The preview writes nothing and names every loss.
        let w0 = writes(&dest);
        let preview = at_dest(
            &user,
            &dest,
            &["--json", "restore", "good", "--into", "jira:DEST"],
        )
        .ok()
        .json();
        assert_eq!(writes(&dest), w0, "{flavor:?}: the preview wrote");
        let plan = &preview["plan"];
        assert_eq!(
            ops_of(plan, "jira_recreate_issue").len(),
            n_issues,
            "{flavor:?}"
        );
        assert_eq!(
            ops_of(plan, "jira_recreate_comment").len(),
            n_comments,
            "{flavor:?}"
        );
        assert_eq!(
            ops_of(plan, "jira_link_copies").len(),
            n_links,
            "{flavor:?}"
        );
        // Parents first: every parent or epic is created before the issues under it.
        let order: Vec<&str> = ops_of(plan, "jira_recreate_issue")
            .iter()
            .map(|o| o["original_key"].as_str().unwrap())
            .collect();
        for o in ops_of(plan, "jira_recreate_issue") {
            for f in o["fields"].as_array().unwrap() {
                if f["field"] == "parent" || f["field"] == "epic_link" {
                    let (p, c) = (
                        f["to"].as_str().unwrap(),
                        o["original_key"].as_str().unwrap(),
                    );
                    let pos = |k: &str| order.iter().position(|x| *x == k).unwrap();
                    assert!(pos(p) < pos(c), "{flavor:?}: {p} after {c}");
                    assert!(f["recreated"].is_u64(), "{flavor:?}: {f}");
                }
            }
        }
        let lost: Vec<&str> = plan["irrecoverable"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["key"].as_str().unwrap())
            .collect();
        for k in ["keys", "authors", "dates"] {
            assert!(lost.contains(&k), "{flavor:?}: {k} not named: {lost:?}");
        }
        let text = at_dest(&user, &dest, &["restore", "good", "--into", "jira:DEST"])
            .ok()
            .stdout;
        assert!(
            text.contains("copy as a new") && text.contains("new key on execute"),
            "{flavor:?}: {text}"
        );

        // Executed: every write is a planned operation (a walk, one per hop).
        let (w1, h1) = (writes(&dest), hops(&dest));
        let started = Instant::now();
        let report = at_dest(
            &user,
            &dest,
            &[
                "--json",
                "restore",
                "good",
                "--into",
                "jira:DEST",
                "--execute",
                "--yes",
                "--write-interval-ms",
                "0",
            ],
        )
        .ok()
        .json();
        let seconds = started.elapsed().as_secs_f64();
        assert_eq!(
            report["verification"]["clean"], true,
            "{flavor:?}: {report}"
        );
        let planned = report["plan"]["ops"].as_array().unwrap().len() as u64;
        let walks = ops_of(&report["plan"], "jira_transition").len() as u64;
        let (written, hopped) = (writes(&dest) - w1, hops(&dest) - h1);
        assert_eq!(
            written,
            planned - walks + hopped,
            "{flavor:?}: writes other than the plan's"
        );
        assert!(hopped >= walks, "{flavor:?}");
        eprintln!(
            "{flavor:?}: {n_issues} issues, {n_comments} comments, {n_links} links: {planned} operations ({walks} walks, {hopped} transitions), {written} writes, {seconds:.2} s"
        );
        let moved: BTreeMap<String, String> = report["recreated"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        assert_eq!(moved.len(), n_issues, "{flavor:?}: {report}");
        assert!(
            report["undo"]
                .as_str()
                .unwrap()
                .ends_with("--delete-new-issues --delete-new-subtasks"),
            "{flavor:?}: {report}"
        );
        let after = dump(&dest, "DEST");
        let compared = assert_copied(flavor, &before, &after, &moved);
        assert_eq!(compared, n_comments, "{flavor:?}");
        let copied_links = links(&dest, "DEST");
        for (k, ls) in &source_links {
            let mut want: Vec<(String, String)> = ls
                .iter()
                .map(|(t, o)| (t.clone(), moved[o].clone()))
                .collect();
            want.sort();
            assert_eq!(copied_links[&moved[k]], want, "{flavor:?}: {k} links");
        }
        // A re-plan has nothing to do.
        let again = at_dest(
            &user,
            &dest,
            &["--json", "restore", "good", "--into", "jira:DEST"],
        )
        .ok()
        .json();
        assert_eq!(again["plan"]["ops"], json!([]), "{flavor:?}: {again}");

        // Killed after k writes, then run again: no duplicate, and it converges.
        let slow = Site::start(flavor, &[&DEST_ARGS[..], &["--latency-ms", "25"]].concat());
        let args = [
            "restore",
            "good",
            "--into",
            "jira:DEST",
            "--execute",
            "--yes",
            "--write-interval-ms",
            "0",
        ];
        let (w2, h2) = (writes(&slow), hops(&slow));
        let mut child = user
            .command(&args)
            .env("JIRA_BASE_URL", slow.url())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            assert!(
                child.try_wait().unwrap().is_none(),
                "{flavor:?}: the run ended before a kill"
            );
            if writes(&slow) - w2 >= 5 {
                break;
            }
            assert!(Instant::now() < deadline, "{flavor:?}: nothing was written");
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.kill();
        let _ = child.wait();
        let killed_at = writes(&slow) - w2;
        assert!(
            killed_at < written,
            "{flavor:?}: killed after the whole copy ({killed_at})"
        );
        let run = at_dest(&user, &slow, &[&["--json"], &args[..]].concat());
        assert_eq!(run.code, 0, "{flavor:?}: {run:?}");
        let resumed = run.json();
        assert_eq!(
            resumed["verification"]["clean"], true,
            "{flavor:?}: {resumed}"
        );
        let made = copies(&slow, "DEST");
        assert_eq!(made.len(), n_issues, "{flavor:?}: {made:?}");
        for (k, v) in &made {
            assert_eq!(v.len(), 1, "{flavor:?}: {k} copied {} times", v.len());
        }
        // Walks learn the workflow as they go, so a fresh process may take another path;
        // every other write is made once (one more only for the write in flight).
        let (total, walked) = (writes(&slow) - w2, hops(&slow) - h2);
        assert!(
            total - walked <= written - hopped + 1,
            "{flavor:?}: {total} writes ({walked} transitions) for a copy that takes {written} ({hopped})"
        );
        assert!(walked >= walks, "{flavor:?}");
        let moved: BTreeMap<String, String> = made
            .iter()
            .map(|(k, v)| (k.clone(), v[0].clone()))
            .collect();
        let after = dump(&slow, "DEST");
        assert_copied(flavor, &before, &after, &moved);
        let again = at_dest(
            &user,
            &slow,
            &["--json", "restore", "good", "--into", "jira:DEST"],
        )
        .ok()
        .json();
        assert_eq!(again["plan"]["ops"], json!([]), "{flavor:?}: {again}");
        eprintln!(
            "{flavor:?}: killed after {killed_at} writes, resumed: {total} writes in all, {} copies, none twice",
            made.len()
        );
    }
}
