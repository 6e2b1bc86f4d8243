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

/// `backtrack ARGS` against the destination site, with the user's store and the
/// destination flavour's credentials (an email beside the token on Cloud only).
fn at_dest(user: &JiraUser, dest: &Site, args: &[&str]) -> Run {
    let email = match dest.flavor {
        Flavor::Cloud => Some("tester@example.com"),
        Flavor::DataCenter => None,
    };
    user.run_with(
        args,
        &[("JIRA_BASE_URL", Some(dest.url())), ("JIRA_EMAIL", email)],
    )
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

/// Each epic's Epic Name, by key, on a site that has the field (`None` on one without).
fn epic_names(site: &Site, project: &str) -> Option<BTreeMap<String, Value>> {
    let field = site.field_id("Epic Name")?;
    Some(
        site.search(
            &format!("project = {project} AND issuetype = Epic ORDER BY key ASC"),
            &["summary", &field],
        )
        .into_iter()
        .map(|i| {
            (
                i["key"].as_str().unwrap().to_string(),
                i["fields"][&field].clone(),
            )
        })
        .collect(),
    )
}

/// Walks `key` to Done on `site`, with `resolution` on Done's screen.
fn resolve(site: &Site, key: &str, resolution: &str) {
    for _ in 0..4 {
        let list = site.call("GET", &format!("/rest/api/2/issue/{key}/transitions"), None);
        let ts = list["transitions"].as_array().unwrap();
        if let Some(done) = ts.iter().find(|t| t["to"]["name"] == "Done") {
            site.call(
                "POST",
                &format!("/rest/api/2/issue/{key}/transitions"),
                Some(json!({"transition": {"id": done["id"]}, "fields": {"resolution": {"name": resolution}}})),
            );
            return;
        }
        let on = ts
            .iter()
            .find(|t| t["to"]["name"] == "In Progress")
            .expect("a way towards Done");
        site.call(
            "POST",
            &format!("/rest/api/2/issue/{key}/transitions"),
            Some(json!({"transition": {"id": on["id"]}})),
        );
    }
    panic!("{key} did not reach Done");
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
        // Data Center refuses an epic without its Epic Name: each copy carries the
        // original's (Cloud has no such field).
        match (epic_names(&src, "PROJ"), epic_names(&dest, "DEST")) {
            (Some(was), Some(now)) => {
                assert!(!was.is_empty(), "{flavor:?}");
                for (k, name) in &was {
                    assert!(name.is_string(), "{flavor:?}: {k} has no Epic Name");
                    assert_eq!(&now[&moved[k]], name, "{flavor:?}: {k} Epic Name");
                }
            }
            (None, None) => assert_eq!(flavor, Flavor::Cloud),
            other => panic!("{flavor:?}: Epic Name on one site only: {other:?}"),
        }
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

        // The undo the report names deletes the copies (a subtask with its parent) and
        // nothing of the source; previewed first, writing nothing.
        let undo: Vec<String> = report["undo"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .skip(1)
            .map(str::to_string)
            .collect();
        let undo: Vec<&str> = undo.iter().map(String::as_str).collect();
        let (w3, src_writes) = (writes(&dest), writes(&src));
        let preview = at_dest(&user, &dest, &[&["--json"], &undo[..]].concat())
            .ok()
            .json();
        assert_eq!(writes(&dest), w3, "{flavor:?}: the undo's preview wrote");
        let deletes = ops_of(&preview["plan"], "jira_delete_issue");
        let subtasks = src
            .search("project = PROJ", &["issuetype"])
            .iter()
            .filter(|i| i["fields"]["issuetype"]["subtask"] == true)
            .count();
        assert!(subtasks > 0, "{flavor:?}");
        assert_eq!(
            deletes.len(),
            n_issues - subtasks,
            "{flavor:?}: one deletion per copy, subtasks with their parents"
        );
        let undone = at_dest(
            &user,
            &dest,
            &[
                &["--json"],
                &undo[..],
                &["--execute", "--yes", "--write-interval-ms", "0"],
            ]
            .concat(),
        )
        .ok()
        .json();
        assert_eq!(
            undone["verification"]["clean"], true,
            "{flavor:?}: {undone}"
        );
        assert_eq!(
            dest.search("project = DEST", &["summary"]).len(),
            0,
            "{flavor:?}: copies left after the undo"
        );
        assert_eq!(
            writes(&src),
            src_writes,
            "{flavor:?}: the undo wrote to the source"
        );
        assert_eq!(dump(&src, "PROJ"), before, "{flavor:?}: the source changed");
        eprintln!(
            "{flavor:?}: undo deleted {} issues ({} with their subtasks) in {} writes",
            n_issues,
            deletes.len(),
            writes(&dest) - w3
        );

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

/// Between sites that differ (a Cloud project copied into a Data Center one whose project
/// has no Developers role and whose site has no jira-software-users group): resolutions
/// map by name (Won't Do is 10001 on Cloud, 2 on Data Center), comments restricted to a
/// role or group the destination has keep it, the others are named in the preview and not
/// copied (never shown to everyone), and each epic gets the Epic Name Data Center requires.
/// Also the sandboxes' create metadata in each flavour's shape.
#[test]
fn jira_restore_into_maps_resolutions_restrictions_and_epic_names_across_sites() {
    let src = Site::start(Flavor::Cloud, &SOURCE_ARGS);
    let dest_args = [
        &DEST_ARGS[..],
        &[
            "--roles",
            "Administrators,Users",
            "--groups",
            "jira-administrators",
        ],
    ]
    .concat();
    let dest = Site::start(Flavor::DataCenter, &dest_args);
    let user = JiraUser::new(&src);

    // Create metadata as each flavour answers it: Cloud's pages are `issueTypes` and
    // `fields` (PageOfCreateMetaIssueTypes / …WithField), Data Center's `values`.
    let cloud_types = src.call("GET", "/rest/api/3/issue/createmeta/PROJ/issuetypes", None);
    assert!(
        cloud_types["issueTypes"].is_array() && cloud_types.get("values").is_none(),
        "{cloud_types}"
    );
    let story = cloud_types["issueTypes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Story")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let cloud_fields = src.call(
        "GET",
        &format!("/rest/api/3/issue/createmeta/PROJ/issuetypes/{story}"),
        None,
    );
    assert!(
        cloud_fields["fields"].is_array() && cloud_fields.get("values").is_none(),
        "{cloud_fields}"
    );
    let dc_types = dest.call("GET", "/rest/api/2/issue/createmeta/DEST/issuetypes", None);
    let epic_type = dc_types["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Epic")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let epic_name = dest.field_id("Epic Name").unwrap();
    let epic_screen = dest.call(
        "GET",
        &format!("/rest/api/2/issue/createmeta/DEST/issuetypes/{epic_type}"),
        None,
    );
    let on_screen = epic_screen["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["fieldId"] == json!(epic_name))
        .expect("Epic Name on the epic's create screen");
    assert_eq!(on_screen["required"], true);
    // Data Center's answer to an epic without it.
    let (status, refused) = dest.api(
        "POST",
        "/rest/api/2/issue",
        Some(json!({"fields": {"project": {"key": "DEST"}, "issuetype": {"id": epic_type}, "summary": "no name"}})),
    );
    assert_eq!(status, 400, "{refused}");
    assert_eq!(
        refused,
        json!({"errorMessages": [], "errors": {epic_name.clone(): "Epic Name is required."}})
    );
    let (status, _) = dest.api(
        "POST",
        "/rest/api/2/issue",
        Some(json!({"fields": {"project": {"key": "DEST"}, "issuetype": {"id": epic_type}, "summary": "named", epic_name.clone(): "Named"}})),
    );
    assert_eq!(status, 201);
    let own = dest.search("project = DEST", &["summary"]);
    let own_key = own[0]["key"].as_str().unwrap().to_string();
    dest.call("DELETE", &format!("/rest/api/2/issue/{own_key}"), None);

    // A story resolved Won't Do, and a comment restricted to a role both sites have.
    let open: Vec<String> = src
        .search(
            "project = PROJ AND issuetype = Story AND statusCategory != Done ORDER BY key ASC",
            &["summary"],
        )
        .iter()
        .map(|i| i["key"].as_str().unwrap().to_string())
        .collect();
    let wont = open[0].clone();
    resolve(&src, &wont, "Won't Do");
    src.call(
        "POST",
        &format!("/rest/api/2/issue/{}/comment", open[1]),
        Some(json!({"body": "for users only", "visibility": {"type": "role", "value": "Users"}})),
    );
    user.snapshot("jira:PROJ", &["--name", "good"]);
    let before = dump(&src, "PROJ");
    let issues = before.as_object().unwrap();
    assert_eq!(issues[&wont]["resolution"], "Won't Do");
    let restricted = |kind: &str, value: &str| -> usize {
        issues
            .values()
            .flat_map(|i| i["comments"].as_array().unwrap())
            .filter(|c| c["visibility"] == json!([kind, value]))
            .count()
    };
    let (developers, software) = (
        restricted("role", "Developers"),
        restricted("group", "jira-software-users"),
    );
    let n_comments: usize = issues
        .values()
        .map(|i| i["comments"].as_array().unwrap().len())
        .sum();
    assert!(
        developers + software > 0,
        "the seed restricts some comments"
    );
    assert_eq!(restricted("role", "Users"), 1);

    // The preview names each comment it cannot restrict the same way, and nothing else
    // about resolutions.
    let preview = at_dest(
        &user,
        &dest,
        &["--json", "restore", "good", "--into", "jira:DEST"],
    )
    .ok()
    .json();
    let plan = &preview["plan"];
    let lost: Vec<&str> = plan["irrecoverable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["what"].as_str().unwrap())
        .collect();
    let named = |what: &str| lost.iter().filter(|w| w.contains(what)).count();
    assert_eq!(
        named("(restricted to the role \"Developers\")"),
        developers,
        "{lost:#?}"
    );
    assert_eq!(
        named("(restricted to the group \"jira-software-users\")"),
        software,
        "{lost:#?}"
    );
    assert_eq!(named(" resolution "), 0, "{lost:#?}");
    let epics: Vec<String> = src
        .search("project = PROJ AND issuetype = Epic", &["summary"])
        .iter()
        .map(|i| i["key"].as_str().unwrap().to_string())
        .collect();
    assert!(!epics.is_empty());
    for k in &epics {
        assert!(
            lost.contains(&format!("{k} Epic Name").as_str()),
            "{lost:#?}"
        );
    }
    let posted = ops_of(plan, "jira_recreate_comment");
    assert_eq!(posted.len(), n_comments - developers - software);

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
    assert_eq!(report["verification"]["clean"], true, "{report}");
    let moved: BTreeMap<String, String> = report["recreated"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    assert_eq!(moved.len(), issues.len());
    let after = dump(&dest, "DEST");
    let mut resolved = 0;
    let mut copied_comments = 0;
    for (k, was) in issues {
        let now = &after[moved[k].as_str()];
        assert_eq!(now["status"], was["status"], "{k}");
        assert_eq!(now["resolution"], was["resolution"], "{k}");
        resolved += usize::from(!was["resolution"].is_null());
        for c in now["comments"].as_array().unwrap() {
            copied_comments += 1;
            let v = &c["visibility"];
            assert!(
                v.is_null() || *v == json!(["role", "Users"]),
                "{k}: a copy restricted to {v}"
            );
        }
    }
    assert_eq!(after[moved[&wont].as_str()]["resolution"], "Won't Do");
    assert_eq!(copied_comments, n_comments - developers - software);
    let users_only: Vec<&Value> = after[moved[&open[1]].as_str()]["comments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["visibility"] == json!(["role", "Users"]))
        .collect();
    assert_eq!(users_only.len(), 1);
    // Cloud keeps no Epic Name: Data Center's required one is the summary.
    let names = epic_names(&dest, "DEST").unwrap();
    for k in &epics {
        assert_eq!(
            names[&moved[k]],
            issues[k.as_str()]["summary"],
            "{k} Epic Name"
        );
    }
    eprintln!(
        "Cloud → Data Center: {} issues ({resolved} resolved, {} epics named), {copied_comments} of {n_comments} comments copied, {} restricted to a role or group the destination lacks",
        issues.len(),
        epics.len(),
        developers + software
    );
}

/// The Action's `into:` input under act: a dispatch snapshots `jira:PROJ` on one site, a
/// second previews the copy into `jira:DEST` on another (no write), a third executes it
/// (every issue copied once, the pre-rollback snapshot as the output), and a fourth
/// finds nothing left to do.
#[test]
fn jira_restore_into_through_the_action_under_act() {
    use crate::action::{assert_not_printed, is_snapshot_id, Act, REPO};
    const JIRA_TOKEN: &str = "jira-act-copy-token-81c2";
    let github = crate::util::SandboxProc::start(&["--issues", "1", "--comments", "0"]);
    let token = format!("{JIRA_TOKEN}=syncbot");
    let src = Site::start(
        Flavor::Cloud,
        &[
            "--issues",
            "12",
            "--comments",
            "10",
            "--epics",
            "1",
            "--token",
            &token,
        ],
    );
    let dest = Site::start(
        Flavor::Cloud,
        &[&DEST_ARGS[..], &["--token", &token]].concat(),
    );
    let mut act = Act::new(&github);
    act.secrets
        .push(("JIRA_API_TOKEN".into(), JIRA_TOKEN.into()));
    act.vars.push(("JIRA_URL".into(), src.url().to_string()));
    act.vars
        .push(("JIRA_DEST_URL".into(), dest.url().to_string()));
    act.vars
        .push(("JIRA_EMAIL".into(), "syncbot@example.com".into()));
    let wf = act.workflow(
        "jira-copy.yml",
        r#"name: backtrack jira copy
on:
  workflow_dispatch:
    inputs:
      snapshot:
        description: the snapshot to copy (empty - take one)
        default: ""
      execute:
        description: make the copy
        default: "false"
permissions:
  contents: read
jobs:
  snapshot:
    if: inputs.snapshot == ''
    runs-on: ubuntu-latest
    steps:
      - id: backtrack
        uses: backtrack-dev/backtrack@v1
        with:
          command: snapshot
          scope: jira:PROJ
          name: good
          jira-url: ${{ vars.JIRA_URL }}
          jira-email: ${{ vars.JIRA_EMAIL }}
          jira-token: ${{ secrets.JIRA_API_TOKEN }}
          store: ${{ vars.BACKTRACK_STORE }}
          binary: ${{ vars.BACKTRACK_BINARY }}
  copy:
    if: inputs.snapshot != ''
    runs-on: ubuntu-latest
    steps:
      - id: backtrack
        uses: backtrack-dev/backtrack@v1
        with:
          command: rollback
          scope: jira:PROJ
          to: ${{ inputs.snapshot }}
          into: jira:DEST
          execute: ${{ inputs.execute }}
          jira-url: ${{ vars.JIRA_DEST_URL }}
          jira-email: ${{ vars.JIRA_EMAIL }}
          jira-token: ${{ secrets.JIRA_API_TOKEN }}
          store: ${{ vars.BACKTRACK_STORE }}
          binary: ${{ vars.BACKTRACK_BINARY }}
      - run: echo "Pre-copy snapshot ${{ steps.backtrack.outputs.snapshot-id }}"
"#,
    );
    let dispatch = |snapshot: &str, execute: bool| {
        json!({"inputs": {"snapshot": snapshot, "execute": execute.to_string()},
               "ref": "refs/heads/main",
               "repository": {"full_name": REPO, "name": "widgets", "owner": {"login": "acme"}}})
    };
    let run = act.run(&wf, "workflow_dispatch", dispatch("", false));
    run.assert_ok();
    let id = run
        .outputs()
        .get("snapshot-id")
        .cloned()
        .unwrap_or_default();
    assert!(is_snapshot_id(&id), "snapshot-id {id:?}:\n{}", run.text);
    let n_issues = src.search("project = PROJ", &["summary"]).len();

    let w0 = writes(&dest);
    let run = act.run(&wf, "workflow_dispatch", dispatch("good", false));
    run.assert_ok();
    assert_eq!(writes(&dest), w0, "the preview wrote:\n{}", run.text);
    assert_eq!(
        run.outputs().get("changes").map(String::as_str),
        Some("true"),
        "{}",
        run.text
    );
    let summary = run.summary();
    assert!(summary.contains("jira:DEST"), "{summary}");
    assert_not_printed(&run, JIRA_TOKEN);

    let run = act.run(&wf, "workflow_dispatch", dispatch("good", true));
    run.assert_ok();
    let made = copies(&dest, "DEST");
    assert_eq!(made.len(), n_issues, "{made:?}\n{}", run.text);
    assert!(made.values().all(|v| v.len() == 1), "{made:?}");
    let pre = run
        .outputs()
        .get("snapshot-id")
        .cloned()
        .unwrap_or_default();
    assert!(is_snapshot_id(&pre) && pre != id, "{}", run.text);
    assert!(run.summary().contains("jira:DEST"), "{}", run.summary());
    assert_not_printed(&run, JIRA_TOKEN);
    let list = act
        .cli(&["--json", "snapshot", "list", "jira:DEST"])
        .ok()
        .json();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == pre.as_str() && s["trigger"] == "pre-rollback"),
        "{list}"
    );

    // Run again: the copies are found by their property; nothing is written.
    let w1 = writes(&dest);
    let run = act.run(&wf, "workflow_dispatch", dispatch("good", true));
    run.assert_ok();
    assert_eq!(writes(&dest), w1, "a second copy wrote:\n{}", run.text);
    assert_eq!(copies(&dest, "DEST").len(), n_issues);
    eprintln!(
        "act: {n_issues} issues copied by the Action in {} writes; the re-run wrote none",
        w1 - w0
    );
}
