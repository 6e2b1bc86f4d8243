//! Issue 18, for Jira: model-based rollback tests on both flavours of the Jira sandbox.
//! Random sequences of damage (summary, description, priority, label, component, fix
//! version and assignee edits; status changes through the workflow; epic and parent
//! re-links; comment edits, deletions and additions; issue links added and removed; new
//! issues and subtasks; issue deletions; component and version renames and deletions) are
//! made after a snapshot through the sandbox's REST API, with the requests PyPI `jira`
//! makes; then `rollback --execute` runs as a user runs it, with `--recreate-deleted` and
//! `--delete-new-issues --delete-new-subtasks` drawn per case; then the properties:
//!
//! - every restorable field of every snapshot issue equals the snapshot again, read back
//!   over HTTP (deleted issues, when recreated, under their new key with an attribution
//!   line; deleted comments recreated once each, marked by their comment property);
//! - the sandbox counted exactly the writes the plan's operations make (one each, one per
//!   hop of a walk), and the plan is minimal: it writes only what the damage changed, each
//!   issue and comment at most once, each field only if it differs;
//! - the preview named every loss (deleted comments and issues, new issues left in place,
//!   recreated components and versions, links to issues that stay deleted, a resolution a
//!   transition screen set, issue links added or removed, components and versions renamed)
//!   and nothing that is not one; a second preview plans nothing.
//!
//! The second property kills the rollback after a random number of its writes and resumes
//! it: the same state, no comment or issue recreated twice, and no write made twice but the
//! one idempotent write the kill may have caught between Jira's answer and the journal.
//!
//! One sandbox per flavour serves a whole run; `POST /_sandbox/reset` reseeds it between
//! cases (the seed is deterministic, so keys and ids are the same every case). Cases are
//! `Vec<Damage>` whose `Debug` reads as a script. Failing seeds are kept in
//! `tests/proptest-regressions/jira_model.txt` and replayed first; `PROPTEST_CASES` and
//! `PROPTEST_RNG_SEED` work as in `model.rs`, and `bench/soak jira` runs many more cases.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::process::Stdio;
use std::time::Instant;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{json, Value};

use crate::jira::{Flavor, JiraUser, Site};
use crate::util::{check, kill_after_writes, model_runner, Tally};

/// Small enough that a case costs about a second, with epics, subtasks, links, restricted
/// comments, components and versions.
const SEEDED: [&str; 8] = [
    "--issues",
    "14",
    "--comments",
    "24",
    "--epics",
    "2",
    "--seed",
    "18",
];
const SCOPE: &str = "jira:PROJ";
/// What comments added by the damage start with, to tell them from the snapshot's.
const NEW_COMMENT: &str = "new comment";

/// One step of damage, as another client makes it. Issues by key, comments by id, links by
/// id, components and versions by name: all fixed by the seed. A step on something the
/// damage already removed is refused by Jira (404, 400) and changes nothing.
#[derive(Clone, PartialEq)]
enum Damage {
    Summary {
        key: String,
        text: &'static str,
    },
    Description {
        key: String,
        text: Option<&'static str>,
    },
    Priority {
        key: String,
        name: &'static str,
    },
    Labels {
        key: String,
        labels: Vec<&'static str>,
    },
    Components {
        key: String,
        names: Vec<String>,
    },
    FixVersions {
        key: String,
        names: Vec<String>,
    },
    Assign {
        key: String,
        user: Option<&'static str>,
    },
    DueDate {
        key: String,
        date: Option<&'static str>,
    },
    Transition {
        key: String,
        to: &'static str,
        resolution: &'static str,
    },
    /// A standard issue to another epic (or none); a subtask to another parent.
    Relink {
        key: String,
        to: Option<String>,
    },
    EditComment {
        key: String,
        id: String,
        text: &'static str,
    },
    DeleteComment {
        key: String,
        id: String,
    },
    NewComment {
        key: String,
    },
    Link {
        from: String,
        to: String,
        kind: &'static str,
    },
    Unlink {
        id: String,
    },
    NewIssue {
        summary: &'static str,
        under: Option<String>,
    },
    DeleteIssue {
        key: String,
    },
    RenameComponent {
        name: String,
    },
    DeleteComponent {
        name: String,
    },
    RenameVersion {
        name: String,
    },
    DeleteVersion {
        name: String,
    },
}

impl fmt::Debug for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Damage::Summary { key, text } => write!(f, "set {key} summary to {text:?}"),
            Damage::Description { key, text } => write!(f, "set {key} description to {text:?}"),
            Damage::Priority { key, name } => write!(f, "set {key} priority to {name}"),
            Damage::Labels { key, labels } => write!(f, "set {key} labels to {labels:?}"),
            Damage::Components { key, names } => {
                write!(f, "set {key} components to {names:?}")
            }
            Damage::FixVersions { key, names } => {
                write!(f, "set {key} fix versions to {names:?}")
            }
            Damage::Assign { key, user } => write!(f, "assign {key} to {user:?}"),
            Damage::DueDate { key, date } => write!(f, "set {key} due date to {date:?}"),
            Damage::Transition {
                key,
                to,
                resolution,
            } => {
                if *to == "Done" {
                    write!(f, "move {key} to Done as {resolution:?}")
                } else {
                    write!(f, "move {key} to {to}")
                }
            }
            Damage::Relink { key, to } => write!(f, "move {key} under {to:?}"),
            Damage::EditComment { key, id, text } => {
                write!(f, "edit comment {id} on {key} to {text:?}")
            }
            Damage::DeleteComment { key, id } => write!(f, "delete comment {id} on {key}"),
            Damage::NewComment { key } => write!(f, "comment on {key}"),
            Damage::Link { from, to, kind } => write!(f, "link {from} {kind} {to}"),
            Damage::Unlink { id } => write!(f, "delete issue link {id}"),
            Damage::NewIssue { summary, under } => match under {
                Some(p) => write!(f, "add subtask {summary:?} under {p}"),
                None => write!(f, "create issue {summary:?}"),
            },
            Damage::DeleteIssue { key } => write!(f, "delete {key} (with its subtasks)"),
            Damage::RenameComponent { name } => write!(f, "rename component {name:?}"),
            Damage::DeleteComponent { name } => write!(f, "delete component {name:?}"),
            Damage::RenameVersion { name } => write!(f, "rename version {name:?}"),
            Damage::DeleteVersion { name } => write!(f, "delete version {name:?}"),
        }
    }
}

const SUMMARIES: &[&str] = &["[SYNC] overwritten", "retitled by a script", "tmp"];
const TEXTS: &[&str] = &["overwritten", "edited by a bot", "tmp"];
const PRIORITIES: &[&str] = &["Highest", "High", "Medium", "Low", "Lowest"];
const LABELS: &[&str] = &["backend", "frontend", "synced", "tmp", "tech-debt"];
const USERS: &[&str] = &["alice", "bob", "carol"];
const DATES: &[&str] = &["2031-01-02", "2020-05-05"];
const STATUSES: &[&str] = &["To Do", "In Progress", "In Review", "Done", "Reopened"];
const RESOLUTIONS: &[&str] = &["Done", "Won't Do", "Duplicate"];
const LINK_TYPES: &[&str] = &["Blocks", "Relates", "Duplicate", "Cloners"];

/// What the seeded project holds, read once: what damage is drawn from.
#[derive(Debug, Clone, PartialEq)]
struct World {
    standard: Vec<String>,
    subtasks: Vec<String>,
    epics: Vec<String>,
    /// (issue key, comment id).
    comments: Vec<(String, String)>,
    links: Vec<String>,
    components: Vec<String>,
    versions: Vec<String>,
}

impl World {
    fn of(live: &Live) -> World {
        let mut w = World {
            standard: vec![],
            subtasks: vec![],
            epics: vec![],
            comments: vec![],
            links: vec![],
            components: live.components.values().map(|c| c.0.clone()).collect(),
            versions: live
                .versions
                .values()
                .filter_map(|v| v["name"].as_str().map(str::to_string))
                .collect(),
        };
        let mut links = BTreeSet::new();
        for (key, i) in &live.issues {
            match i.fields["type"].as_str() {
                Some("Epic") => w.epics.push(key.clone()),
                _ if i.fields["subtask"] == true => w.subtasks.push(key.clone()),
                _ => w.standard.push(key.clone()),
            }
            for c in &i.comments {
                w.comments.push((key.clone(), c.id.clone()));
            }
            links.extend(i.links.iter().map(|l| l.0.clone()));
        }
        w.links = links.into_iter().collect();
        w
    }

    fn all(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .standard
            .iter()
            .chain(&self.subtasks)
            .chain(&self.epics)
            .cloned()
            .collect();
        all.sort();
        all
    }
}

fn pick<T: Clone + fmt::Debug + 'static>(from: &[T]) -> impl Strategy<Value = T> + Clone {
    prop::sample::select(from.to_vec())
}

fn subset(from: &[String]) -> impl Strategy<Value = Vec<String>> {
    prop::sample::subsequence(from.to_vec(), 0..=from.len().min(2))
}

fn damage(w: &World) -> BoxedStrategy<Damage> {
    let key = pick(&w.all());
    let standard = pick(&w.standard);
    let comment = pick(&w.comments);
    let mut options: Vec<(u32, BoxedStrategy<Damage>)> = vec![
        (
            2,
            (key.clone(), pick(SUMMARIES))
                .prop_map(|(key, text)| Damage::Summary { key, text })
                .boxed(),
        ),
        (
            1,
            (key.clone(), prop::option::of(pick(TEXTS)))
                .prop_map(|(key, text)| Damage::Description { key, text })
                .boxed(),
        ),
        (
            1,
            (key.clone(), pick(PRIORITIES))
                .prop_map(|(key, name)| Damage::Priority { key, name })
                .boxed(),
        ),
        (
            1,
            (
                key.clone(),
                prop::sample::subsequence(LABELS.to_vec(), 0..3),
            )
                .prop_map(|(key, labels)| Damage::Labels { key, labels })
                .boxed(),
        ),
        (
            1,
            (key.clone(), subset(&w.components))
                .prop_map(|(key, names)| Damage::Components { key, names })
                .boxed(),
        ),
        (
            1,
            (key.clone(), subset(&w.versions))
                .prop_map(|(key, names)| Damage::FixVersions { key, names })
                .boxed(),
        ),
        (
            1,
            (key.clone(), prop::option::of(pick(USERS)))
                .prop_map(|(key, user)| Damage::Assign { key, user })
                .boxed(),
        ),
        (
            1,
            (key.clone(), prop::option::of(pick(DATES)))
                .prop_map(|(key, date)| Damage::DueDate { key, date })
                .boxed(),
        ),
        (
            4,
            (key.clone(), pick(STATUSES), pick(RESOLUTIONS))
                .prop_map(|(key, to, resolution)| Damage::Transition {
                    key,
                    to,
                    resolution,
                })
                .boxed(),
        ),
        (
            1,
            (standard.clone(), prop::option::of(pick(&w.epics)))
                .prop_map(|(key, to)| Damage::Relink { key, to })
                .boxed(),
        ),
        (
            2,
            (comment.clone(), pick(TEXTS))
                .prop_map(|((key, id), text)| Damage::EditComment { key, id, text })
                .boxed(),
        ),
        (
            2,
            comment
                .prop_map(|(key, id)| Damage::DeleteComment { key, id })
                .boxed(),
        ),
        (
            1,
            key.clone()
                .prop_map(|key| Damage::NewComment { key })
                .boxed(),
        ),
        (
            1,
            (key.clone(), key.clone(), pick(LINK_TYPES))
                .prop_map(|(from, to, kind)| Damage::Link { from, to, kind })
                .boxed(),
        ),
        (
            1,
            (pick(SUMMARIES), prop::option::of(standard))
                .prop_map(|(summary, under)| Damage::NewIssue { summary, under })
                .boxed(),
        ),
        (2, key.prop_map(|key| Damage::DeleteIssue { key }).boxed()),
        (
            1,
            pick(&w.components)
                .prop_map(|name| Damage::RenameComponent { name })
                .boxed(),
        ),
        (
            1,
            pick(&w.components)
                .prop_map(|name| Damage::DeleteComponent { name })
                .boxed(),
        ),
        (
            1,
            pick(&w.versions)
                .prop_map(|name| Damage::RenameVersion { name })
                .boxed(),
        ),
        (
            1,
            pick(&w.versions)
                .prop_map(|name| Damage::DeleteVersion { name })
                .boxed(),
        ),
    ];
    if !w.subtasks.is_empty() {
        options.push((
            1,
            (pick(&w.subtasks), pick(&w.standard))
                .prop_map(|(key, to)| Damage::Relink { key, to: Some(to) })
                .boxed(),
        ));
    }
    if !w.links.is_empty() {
        options.push((
            1,
            pick(&w.links).prop_map(|id| Damage::Unlink { id }).boxed(),
        ));
    }
    prop::strategy::Union::new_weighted(options).boxed()
}

/// The site's custom fields and people, as a client finds them.
struct Meta {
    story_points: String,
    epic_link: Option<String>,
    /// User name → what an assignment names them by (accountId on Cloud, name on DC).
    users: BTreeMap<&'static str, String>,
}

impl Meta {
    fn read(site: &Site) -> Meta {
        let story_points = site
            .field_id("Story Points")
            .or_else(|| site.field_id("Story point estimate"))
            .expect("a story points field");
        let epic_link = match site.flavor {
            Flavor::Cloud => None,
            Flavor::DataCenter => Some(site.field_id("Epic Link").expect("Epic Link")),
        };
        let api = site.flavor.api();
        let users = USERS
            .iter()
            .map(|u| {
                let param = match site.flavor {
                    Flavor::Cloud => "query",
                    Flavor::DataCenter => "username",
                };
                let found = site.call("GET", &format!("{api}/user/search?{param}={u}"), None);
                let id = match site.flavor {
                    Flavor::Cloud => found[0]["accountId"].as_str(),
                    Flavor::DataCenter => found[0]["name"].as_str(),
                };
                (*u, id.expect("a seeded user").to_string())
            })
            .collect();
        Meta {
            story_points,
            epic_link,
            users,
        }
    }
}

/// One comment as read back.
#[derive(Debug, Clone, PartialEq)]
struct Comment {
    id: String,
    body: Value,
    visibility: Value,
    /// The original a recreated comment restores (its `backtrack.restored` property).
    restored: Option<u64>,
}

/// One issue as read back: its restorable fields, comments and links.
#[derive(Debug, Clone, PartialEq)]
struct Issue {
    fields: Value,
    comments: Vec<Comment>,
    /// (link id, type, direction, other key).
    links: BTreeSet<(String, String, &'static str, String)>,
}

/// The project as another client reads it over HTTP.
#[derive(Debug, Clone, PartialEq)]
struct Live {
    issues: BTreeMap<String, Issue>,
    /// Component id → (name, description).
    components: BTreeMap<u64, (String, String)>,
    /// Version id → name, description, released, archived, dates.
    versions: BTreeMap<u64, Value>,
}

fn refs(v: &Value) -> Value {
    let mut out: Vec<Value> = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            json!([
                r["id"].as_str().and_then(|s| s.parse::<u64>().ok()),
                r["name"]
            ])
        })
        .collect();
    out.sort_by_key(|r| r[1].as_str().map(str::to_string));
    Value::Array(out)
}

impl Live {
    fn read(site: &Site, meta: &Meta) -> Live {
        let api = site.flavor.api();
        let mut fields = vec![
            "summary",
            "description",
            "status",
            "resolution",
            "assignee",
            "priority",
            "labels",
            "components",
            "fixVersions",
            "duedate",
            "parent",
            "issuelinks",
            "issuetype",
        ];
        fields.push(&meta.story_points);
        if let Some(e) = &meta.epic_link {
            fields.push(e);
        }
        let mut issues = BTreeMap::new();
        for i in site.search("project = PROJ ORDER BY key ASC", &fields) {
            let key = i["key"].as_str().unwrap().to_string();
            let f = &i["fields"];
            let name = |v: &Value| v["name"].clone();
            let person = |v: &Value| match site.flavor {
                Flavor::Cloud => v["accountId"].clone(),
                Flavor::DataCenter => v["name"].clone(),
            };
            let mut labels: Vec<Value> = f["labels"].as_array().cloned().unwrap_or_default();
            labels.sort_by_key(|l| l.as_str().map(str::to_string));
            let fields = json!({
                "type": name(&f["issuetype"]),
                "subtask": f["issuetype"]["subtask"],
                "summary": f["summary"],
                "description": f["description"],
                "status": name(&f["status"]),
                "resolution": name(&f["resolution"]),
                "assignee": person(&f["assignee"]),
                "priority": name(&f["priority"]),
                "labels": labels,
                "components": refs(&f["components"]),
                "fix_versions": refs(&f["fixVersions"]),
                "due_date": f["duedate"],
                "story_points": f[meta.story_points.as_str()],
                "parent": f["parent"]["key"],
                "epic_link": meta.epic_link.as_ref().map_or(Value::Null, |e| f[e.as_str()].clone()),
            });
            let links = f["issuelinks"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|l| {
                    let (dir, other) = if l["outwardIssue"].is_object() {
                        ("outward", &l["outwardIssue"])
                    } else {
                        ("inward", &l["inwardIssue"])
                    };
                    (
                        l["id"].as_str().unwrap_or_default().to_string(),
                        l["type"]["name"].as_str().unwrap_or_default().to_string(),
                        dir,
                        other["key"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            let listed = site.call(
                "GET",
                &format!("{api}/issue/{key}/comment?expand=properties&maxResults=1000"),
                None,
            );
            let comments = listed["comments"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| Comment {
                    id: c["id"].as_str().unwrap_or_default().to_string(),
                    body: c["body"].clone(),
                    visibility: json!([c["visibility"]["type"], c["visibility"]["value"]]),
                    restored: c["properties"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|p| p["key"] == "backtrack.restored")
                        .and_then(|p| p["value"]["original"].as_u64()),
                })
                .collect();
            issues.insert(
                key,
                Issue {
                    fields,
                    comments,
                    links,
                },
            );
        }
        let components = site
            .call("GET", &format!("{api}/project/PROJ/components"), None)
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| {
                Some((
                    c["id"].as_str()?.parse().ok()?,
                    (
                        c["name"].as_str()?.to_string(),
                        c["description"].as_str().unwrap_or_default().to_string(),
                    ),
                ))
            })
            .collect();
        let versions = site
            .call("GET", &format!("{api}/project/PROJ/versions"), None)
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| {
                Some((
                    v["id"].as_str()?.parse().ok()?,
                    json!({
                        "name": v["name"],
                        "description": v["description"],
                        "released": v["released"],
                        "archived": v["archived"],
                        "startDate": v["startDate"],
                        "releaseDate": v["releaseDate"],
                    }),
                ))
            })
            .collect();
        Live {
            issues,
            components,
            versions,
        }
    }
}

/// A rich text value as the flavour writes it: ADF on Cloud, wiki markup on DC.
fn text(flavor: Flavor, s: &str) -> Value {
    match flavor {
        Flavor::Cloud => json!({"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": s}]}
        ]}),
        Flavor::DataCenter => json!(s),
    }
}

/// Applies one step with the requests PyPI `jira` sends for it; whether it changed anything.
/// A step Jira refuses (the thing is gone, or the workflow offers no such move) changes
/// nothing; anything but a success or such a refusal fails the case.
fn apply(site: &Site, meta: &Meta, step: &Damage) -> Result<bool, TestCaseError> {
    let api = site.flavor.api();
    let flavor = site.flavor;
    let issue = |k: &str| format!("{api}/issue/{k}");
    let put = |k: &str, fields: Value| ("PUT", issue(k), json!({ "fields": fields }));
    let (method, path, body) = match step {
        Damage::Summary { key, text } => put(key, json!({ "summary": text })),
        Damage::Description { key, text: t } => put(
            key,
            json!({"description": t.map_or(Value::Null, |t| text(flavor, t))}),
        ),
        Damage::Priority { key, name } => put(key, json!({"priority": {"name": name}})),
        Damage::Labels { key, labels } => put(key, json!({ "labels": labels })),
        Damage::Components { key, names } => put(
            key,
            json!({"components": names.iter().map(|n| json!({"name": n})).collect::<Vec<_>>()}),
        ),
        Damage::FixVersions { key, names } => put(
            key,
            json!({"fixVersions": names.iter().map(|n| json!({"name": n})).collect::<Vec<_>>()}),
        ),
        Damage::Assign { key, user } => match user {
            // `JIRA.assign_issue`: PUT …/assignee; unassigning is an edit of the field.
            Some(u) => {
                let who = &meta.users[u];
                let body = match flavor {
                    Flavor::Cloud => json!({ "accountId": who }),
                    Flavor::DataCenter => json!({ "name": who }),
                };
                ("PUT", format!("{}/assignee", issue(key)), body)
            }
            None => put(key, json!({"assignee": null})),
        },
        Damage::DueDate { key, date } => put(key, json!({ "duedate": date })),
        Damage::Transition {
            key,
            to,
            resolution,
        } => {
            let (s, offered) = site.api("GET", &format!("{}/transitions", issue(key)), None);
            if s == 404 {
                return Ok(false);
            }
            let Some(t) = offered["transitions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|t| t["to"]["name"] == *to)
            else {
                return Ok(false); // not a move the workflow offers from here
            };
            let mut body = json!({"transition": {"id": t["id"]}});
            if *to == "Done" {
                body["fields"] = json!({"resolution": {"name": resolution}});
            }
            ("POST", format!("{}/transitions", issue(key)), body)
        }
        Damage::Relink { key, to } => {
            let subtask = {
                let (s, i) = site.api("GET", &format!("{}?fields=issuetype", issue(key)), None);
                if s == 404 {
                    return Ok(false);
                }
                i["fields"]["issuetype"]["subtask"] == true
            };
            let to = to.as_ref().map_or(Value::Null, |k| json!(k));
            match (&meta.epic_link, subtask) {
                (Some(epic_link), false) => put(key, json!({ epic_link.as_str(): to })),
                _ => put(
                    key,
                    json!({"parent": if to.is_null() { Value::Null } else { json!({"key": to}) }}),
                ),
            }
        }
        Damage::EditComment { key, id, text: t } => (
            "PUT",
            format!("{}/comment/{id}", issue(key)),
            json!({"body": text(flavor, t)}),
        ),
        Damage::DeleteComment { key, id } => (
            "DELETE",
            format!("{}/comment/{id}", issue(key)),
            Value::Null,
        ),
        Damage::NewComment { key } => (
            "POST",
            format!("{}/comment", issue(key)),
            json!({"body": text(flavor, &format!("{NEW_COMMENT} on {key}"))}),
        ),
        Damage::Link { from, to, kind } => (
            "POST",
            format!("{api}/issueLink"),
            json!({"type": {"name": kind}, "inwardIssue": {"key": from}, "outwardIssue": {"key": to}}),
        ),
        Damage::Unlink { id } => ("DELETE", format!("{api}/issueLink/{id}"), Value::Null),
        Damage::NewIssue { summary, under } => {
            let mut fields = json!({
                "project": {"key": "PROJ"},
                "summary": summary,
                "issuetype": {"name": match (under, flavor) {
                    (None, _) => "Task",
                    (Some(_), Flavor::Cloud) => "Subtask",
                    (Some(_), Flavor::DataCenter) => "Sub-task",
                }},
            });
            if let Some(p) = under {
                fields["parent"] = json!({ "key": p });
            }
            ("POST", format!("{api}/issue"), json!({ "fields": fields }))
        }
        Damage::DeleteIssue { key } => (
            "DELETE",
            format!("{}?deleteSubtasks=true", issue(key)),
            Value::Null,
        ),
        Damage::RenameComponent { name }
        | Damage::DeleteComponent { name }
        | Damage::RenameVersion { name }
        | Damage::DeleteVersion { name } => {
            let component = matches!(
                step,
                Damage::RenameComponent { .. } | Damage::DeleteComponent { .. }
            );
            let kind = if component { "component" } else { "version" };
            let list = site.call(
                "GET",
                &format!(
                    "{api}/project/PROJ/{}",
                    if component { "components" } else { "versions" }
                ),
                None,
            );
            let Some(id) = list
                .as_array()
                .into_iter()
                .flatten()
                .find(|d| d["name"] == *name)
                .and_then(|d| d["id"].as_str().map(str::to_string))
            else {
                return Ok(false);
            };
            match step {
                Damage::RenameComponent { .. } | Damage::RenameVersion { .. } => (
                    "PUT",
                    format!("{api}/{kind}/{id}"),
                    json!({"name": format!("{name} (renamed)")}),
                ),
                _ => ("DELETE", format!("{api}/{kind}/{id}"), Value::Null),
            }
        }
    };
    let body = (!body.is_null()).then_some(body);
    let (status, reply) = site.api(method, &path, body);
    if (200..300).contains(&status) {
        Ok(true)
    } else if status == 404 || status == 400 {
        Ok(false)
    } else {
        Err(TestCaseError::fail(format!(
            "{step:?}: {method} {path} answered {status}: {reply}"
        )))
    }
}

/// The rollback flags a case runs with.
#[derive(Debug, Clone, Copy)]
struct Opts {
    recreate_deleted: bool,
    delete_new: bool,
}

impl Opts {
    fn flags(self) -> Vec<&'static str> {
        let mut f = vec![];
        if self.recreate_deleted {
            f.push("--recreate-deleted");
        }
        if self.delete_new {
            f.extend(["--delete-new-issues", "--delete-new-subtasks"]);
        }
        f
    }
}

/// Fields a rollback restores (status through the workflow), named as the plan's changes
/// name them.
const FIELDS: &[&str] = &[
    "summary",
    "description",
    "priority",
    "labels",
    "components",
    "fix_versions",
    "assignee",
    "due_date",
    "story_points",
    "parent",
    "epic_link",
];

/// An issue's fields with its components and versions named as the snapshot named their
/// ids (a rename is a change to the definition, not to the issue), else by their own name
/// (a recreation under a new id).
fn canon(i: &Issue, snap: &Live) -> Value {
    let mut f = i.fields.clone();
    let components = |id: u64| snap.components.get(&id).map(|c| c.0.clone());
    let versions = |id: u64| {
        snap.versions
            .get(&id)
            .and_then(|v| v["name"].as_str().map(str::to_string))
    };
    type Names<'a> = &'a dyn Fn(u64) -> Option<String>;
    let by: [(&str, Names); 2] = [("components", &components), ("fix_versions", &versions)];
    for (field, names) in by {
        let mut out: Vec<String> = f[field]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                r[0].as_u64()
                    .and_then(names)
                    .or_else(|| r[1].as_str().map(str::to_string))
            })
            .collect();
        out.sort();
        f[field] = json!(out);
    }
    f
}

fn link_ids(live: &Live, keys: &dyn Fn(&str) -> bool) -> BTreeSet<String> {
    live.issues
        .iter()
        .filter(|(k, _)| keys(k))
        .flat_map(|(_, i)| i.links.iter().map(|l| l.0.clone()))
        .collect()
}

/// What the damage changed, read from the live state against the snapshot: what a
/// minimal plan may write, and the losses the preview must name.
struct Touched {
    /// Per surviving snapshot issue, its fields that differ (canonical).
    fields: BTreeMap<String, BTreeSet<&'static str>>,
    status: BTreeSet<String>,
    edited_comments: BTreeSet<String>,
    /// Deleted comment id → its issue key.
    deleted_comments: BTreeMap<String, String>,
    deleted: BTreeSet<String>,
    new: BTreeSet<String>,
    components_gone: BTreeSet<u64>,
    versions_gone: BTreeSet<u64>,
    /// Losses the preview must name (by key), and may name.
    must: BTreeSet<String>,
}

fn touched(snap: &Live, now: &Live, o: Opts) -> Touched {
    let mut t = Touched {
        fields: BTreeMap::new(),
        status: BTreeSet::new(),
        edited_comments: BTreeSet::new(),
        deleted_comments: BTreeMap::new(),
        deleted: snap
            .issues
            .keys()
            .filter(|k| !now.issues.contains_key(*k))
            .cloned()
            .collect(),
        new: now
            .issues
            .keys()
            .filter(|k| !snap.issues.contains_key(*k))
            .cloned()
            .collect(),
        components_gone: snap
            .components
            .keys()
            .filter(|id| !now.components.contains_key(id))
            .copied()
            .collect(),
        versions_gone: snap
            .versions
            .keys()
            .filter(|id| !now.versions.contains_key(id))
            .copied()
            .collect(),
        must: BTreeSet::new(),
    };
    for (key, was) in &snap.issues {
        let Some(is) = now.issues.get(key) else {
            t.must.insert(format!("issue:{key}"));
            if o.recreate_deleted {
                for c in &was.comments {
                    t.deleted_comments.insert(c.id.clone(), key.clone());
                    t.must.insert(format!("comment:{}", c.id));
                }
            }
            continue;
        };
        let (a, b) = (canon(was, snap), canon(is, snap));
        let differs: BTreeSet<&str> = FIELDS.iter().copied().filter(|f| a[f] != b[f]).collect();
        for f in ["parent", "epic_link"] {
            // A link to an issue that stays deleted cannot be restored: named.
            if differs.contains(f)
                && a[f]
                    .as_str()
                    .is_some_and(|p| !now.issues.contains_key(p) && !o.recreate_deleted)
            {
                t.must.insert(format!("issue:{key}"));
            }
        }
        t.fields.insert(key.clone(), differs);
        if a["status"] != b["status"] {
            t.status.insert(key.clone());
        } else if a["resolution"] != b["resolution"] && !a["resolution"].is_null() {
            t.must.insert(format!("issue:{key}"));
        }
        for c in &was.comments {
            match is.comments.iter().find(|l| l.id == c.id) {
                None => {
                    t.deleted_comments.insert(c.id.clone(), key.clone());
                    t.must.insert(format!("comment:{}", c.id));
                }
                Some(l) if l.body != c.body || l.visibility != c.visibility => {
                    t.edited_comments.insert(c.id.clone());
                }
                Some(_) => {}
            }
        }
    }
    if !o.delete_new {
        t.must.extend(t.new.iter().map(|k| format!("issue:{k}")));
    }
    for (id, c) in &snap.components {
        if now.components.get(id).is_none_or(|l| l != c) {
            t.must.insert(format!("component:{id}"));
        }
    }
    for (id, v) in &snap.versions {
        if now.versions.get(id).is_none_or(|l| l != v) {
            t.must.insert(format!("version:{id}"));
        }
    }
    let in_both = |k: &str| snap.issues.contains_key(k) && now.issues.contains_key(k);
    let (was, is) = (link_ids(snap, &in_both), link_ids(now, &in_both));
    t.must
        .extend(was.symmetric_difference(&is).map(|id| format!("link:{id}")));
    t
}

/// The sandbox's default workflow (every issue type): status → the statuses its
/// transitions lead to.
const WORKFLOW: &[(&str, &[&str])] = &[
    ("To Do", &["In Progress"]),
    ("Reopened", &["In Progress"]),
    ("In Progress", &["To Do", "In Review", "Done"]),
    ("In Review", &["In Progress", "Done"]),
    ("Done", &["Reopened"]),
];

/// The fewest transitions from one status to another (breadth first over [`WORKFLOW`]).
fn hops(from: &str, to: &str) -> Option<u64> {
    let mut seen = BTreeSet::from([from]);
    let mut frontier = vec![from];
    for n in 0.. {
        if frontier.contains(&to) {
            return Some(n);
        }
        let mut next: Vec<&str> = Vec::new();
        for s in &frontier {
            for (_, to) in WORKFLOW.iter().filter(|(f, _)| f == s) {
                next.extend(to.iter().copied().filter(|t| seen.insert(*t)));
            }
        }
        if next.is_empty() {
            return None;
        }
        frontier = next;
    }
    None
}

/// The writes an operation makes: one, or one per hop of a walk — the shortest walk, also
/// when the preview could not know the path (no issue sat in a status on the way to show
/// its transitions: the walk learns them as it goes). A recreation starts in To Do.
fn op_writes(op: &Value) -> u64 {
    match op["op"].as_str() {
        Some("jira_transition") => {
            let from = if op["recreated"].is_null() {
                op["from"].as_str().unwrap_or("")
            } else {
                "To Do"
            };
            hops(from, op["to"]["name"].as_str().unwrap_or("")).unwrap_or(0)
        }
        _ => 1,
    }
}

fn id_str(v: &Value) -> String {
    v.as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string())
}

/// The plan is minimal and names every loss: each operation addresses something the damage
/// changed, each field it writes differs, nothing is written twice, every deleted comment,
/// component and version (and issue, when asked) comes back, and the losses named are
/// exactly the real ones.
fn check_plan(plan: &Value, t: &Touched, o: Opts) -> Result<(), TestCaseError> {
    let mut seen = BTreeSet::new();
    let mut recreated_comments = BTreeSet::new();
    let mut recreated_issues = BTreeSet::new();
    let mut components = BTreeSet::new();
    let mut versions = BTreeSet::new();
    for op in plan["ops"].as_array().into_iter().flatten() {
        let kind = op["op"].as_str().unwrap_or("");
        let key = op["key"].as_str().unwrap_or("").to_string();
        let what = match kind {
            "jira_edit_issue" => {
                let differs = t.fields.get(&key);
                check!(
                    differs.is_some(),
                    "edits {key}, not a surviving issue: {op}"
                );
                for ch in op["changes"].as_array().into_iter().flatten() {
                    let f = ch["field"].as_str().unwrap_or("");
                    check!(
                        differs.is_some_and(|d| d.contains(f)),
                        "writes {key} {f}, which the damage left alone: {op}"
                    );
                }
                key.clone()
            }
            "jira_transition" if op["recreated"].is_null() => {
                check!(
                    t.status.contains(&key),
                    "walks {key}, whose status is unchanged"
                );
                let path = op["path"].as_array().map_or(0, Vec::len) as u64;
                check!(
                    path == 0 || path == op_writes(op),
                    "walks {key} in {path} hops, the shortest is {}: {op}",
                    op_writes(op)
                );
                key.clone()
            }
            "jira_transition" => {
                check!(
                    o.recreate_deleted && t.deleted.contains(&key),
                    "walks the recreation of {key}, not a deleted issue"
                );
                key.clone()
            }
            "jira_edit_comment" => {
                let id = id_str(&op["id"]);
                check!(
                    t.edited_comments.contains(&id),
                    "edits comment {id}, which the damage left alone"
                );
                id
            }
            "jira_recreate_comment" => {
                let id = id_str(&op["original_id"]);
                check!(
                    t.deleted_comments.contains_key(&id),
                    "recreates comment {id}, not deleted"
                );
                recreated_comments.insert(id.clone());
                id
            }
            "jira_recreate_issue" => {
                let k = op["original_key"].as_str().unwrap_or("").to_string();
                check!(
                    o.recreate_deleted && t.deleted.contains(&k),
                    "recreates {k}: not deleted, or not asked"
                );
                recreated_issues.insert(k.clone());
                k
            }
            "jira_delete_issue" => {
                check!(
                    o.delete_new && t.new.contains(&key),
                    "deletes {key}: not new, or not asked"
                );
                key.clone()
            }
            "jira_create_component" => {
                let id = op["original_id"].as_u64().unwrap_or(0);
                check!(
                    t.components_gone.contains(&id),
                    "recreates component {id}, not deleted"
                );
                components.insert(id);
                id.to_string()
            }
            "jira_create_version" => {
                let id = op["original_id"].as_u64().unwrap_or(0);
                check!(
                    t.versions_gone.contains(&id),
                    "recreates version {id}, not deleted"
                );
                versions.insert(id);
                id.to_string()
            }
            other => {
                return Err(TestCaseError::fail(format!(
                    "a rollback of this damage has no business with {other}: {op}"
                )))
            }
        };
        let recreation = !op["recreated"].is_null();
        check!(
            seen.insert((kind.to_string(), what.clone(), recreation)),
            "{kind} {what} planned twice"
        );
    }
    let deleted_comments: BTreeSet<String> = t.deleted_comments.keys().cloned().collect();
    check!(
        recreated_comments == deleted_comments,
        "deleted comments {deleted_comments:?}, recreated {recreated_comments:?}"
    );
    check!(
        components == t.components_gone && versions == t.versions_gone,
        "deleted components {:?} and versions {:?}, recreated {components:?} and {versions:?}",
        t.components_gone,
        t.versions_gone
    );
    if o.recreate_deleted {
        check!(
            recreated_issues == t.deleted,
            "deleted {:?}, recreated {recreated_issues:?}",
            t.deleted
        );
    }
    let named: BTreeSet<String> = plan["irrecoverable"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["key"].as_str().map(str::to_string))
        .collect();
    let missing: Vec<&String> = t.must.difference(&named).collect();
    check!(missing.is_empty(), "losses not named: {missing:?}");
    let extra: Vec<&String> = named.difference(&t.must).collect();
    check!(
        extra.is_empty(),
        "named as lost, and are not: {extra:?} in {}",
        plan["irrecoverable"]
    );
    Ok(())
}

/// A recreated description or comment without the attribution line in front of it: what
/// it carried over (null for a description that had none).
fn unattributed(v: &Value) -> Value {
    match v {
        Value::String(s) if s.starts_with("_Restored by backtrack") => match s.split_once("\n\n") {
            Some((_, rest)) => json!(rest),
            None => Value::Null,
        },
        Value::Object(doc)
            if doc["content"][0]["content"][0]["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("Restored by backtrack")) =>
        {
            let rest: Vec<Value> = doc["content"]
                .as_array()
                .map(|c| c[1..].to_vec())
                .unwrap_or_default();
            if rest.is_empty() {
                Value::Null
            } else {
                json!({"type": "doc", "version": 1, "content": rest})
            }
        }
        _ => json!({ "not attributed": v }),
    }
}

/// Original key → the live issues that carry it in their `backtrack.restored` issue
/// property (more than one would be a duplicate).
fn recreations(site: &Site, snap: &Live, after: &Live) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for key in after
        .issues
        .keys()
        .filter(|k| !snap.issues.contains_key(*k))
    {
        let (s, p) = site.api(
            "GET",
            &format!(
                "{}/issue/{key}/properties/backtrack.restored",
                site.flavor.api()
            ),
            None,
        );
        if s == 200 {
            if let Some(original) = p["value"]["key"].as_str() {
                out.entry(original.to_string())
                    .or_default()
                    .push(key.clone());
            }
        }
    }
    out
}

/// After the rollback: every restorable field equals the snapshot, every deleted comment
/// is back once, new issues are gone or kept as asked, definitions are back, and whatever
/// differs still was named in the preview.
fn check_restored(
    site: &Site,
    snap: &Live,
    damaged: &Live,
    after: &Live,
    named: &BTreeSet<String>,
    o: Opts,
) -> Result<(), TestCaseError> {
    let made = recreations(site, snap, after);
    for (k, v) in &made {
        check!(v.len() == 1, "{k} recreated {} times: {v:?}", v.len());
    }
    let now_key = |k: &str| -> Option<String> {
        if damaged.issues.contains_key(k) {
            Some(k.to_string())
        } else {
            made.get(k).map(|v| v[0].clone())
        }
    };
    for (key, was) in &snap.issues {
        let recreation = !damaged.issues.contains_key(key);
        if recreation && !o.recreate_deleted {
            check!(
                !after.issues.contains_key(key) && !made.contains_key(key),
                "{key} came back unasked"
            );
            continue;
        }
        let Some(live_key) = now_key(key) else {
            return Err(TestCaseError::fail(format!("{key} was not recreated")));
        };
        let Some(is) = after.issues.get(&live_key) else {
            return Err(TestCaseError::fail(format!("{live_key} ({key}) is gone")));
        };
        let (a, b) = (canon(was, snap), canon(is, snap));
        let mut fields: Vec<&str> = FIELDS.to_vec();
        fields.extend(["status", "resolution", "type", "subtask"]);
        for f in fields {
            let mut want = a[f].clone();
            let mut got = b[f].clone();
            match f {
                "parent" | "epic_link" => {
                    if let Some(p) = want.as_str() {
                        match now_key(p) {
                            Some(n) => want = json!(n),
                            None => continue, // stays deleted: named
                        }
                    }
                }
                "description" if recreation => got = unattributed(&got),
                "resolution"
                    if !recreation
                        && damaged.issues[key].fields["status"] == was.fields["status"] =>
                {
                    // Set by a transition's screen: named, left as it is.
                    want = canon(&damaged.issues[key], snap)[f].clone();
                }
                _ => {}
            }
            check!(
                got == want,
                "{key} {f}: {got} (was {want}){}",
                if recreation {
                    format!(", recreated as {live_key}")
                } else {
                    String::new()
                }
            );
        }
        let mut matched = 0;
        for c in &was.comments {
            match is.comments.iter().find(|l| l.id == c.id) {
                Some(l) => {
                    check!(
                        l.body == c.body && l.visibility == c.visibility,
                        "{key} comment {}: {} {} (was {} {})",
                        c.id,
                        l.body,
                        l.visibility,
                        c.body,
                        c.visibility
                    );
                }
                None => {
                    let copies: Vec<&Comment> = is
                        .comments
                        .iter()
                        .filter(|l| l.restored.map(|o| o.to_string()) == Some(c.id.clone()))
                        .collect();
                    check!(
                        copies.len() == 1,
                        "{key} comment {} recreated {} times",
                        c.id,
                        copies.len()
                    );
                    check!(
                        unattributed(&copies[0].body) == c.body
                            && copies[0].visibility == c.visibility,
                        "{key} comment {} recreated as {} {} (was {} {})",
                        c.id,
                        copies[0].body,
                        copies[0].visibility,
                        c.body,
                        c.visibility
                    );
                }
            }
            matched += 1;
        }
        let added = is
            .comments
            .iter()
            .filter(|l| l.body.to_string().contains(NEW_COMMENT))
            .count();
        check!(
            is.comments.len() == matched + added,
            "{key} has other comments than the snapshot's and the new ones: {:?}",
            is.comments
        );
        if !recreation {
            let ids =
                |i: &Issue| -> BTreeSet<String> { i.links.iter().map(|l| l.0.clone()).collect() };
            for id in ids(was).symmetric_difference(&ids(is)) {
                check!(
                    named.contains(&format!("link:{id}")),
                    "{key} link {id} differs from the snapshot and was not named"
                );
            }
        }
    }
    for key in damaged
        .issues
        .keys()
        .filter(|k| !snap.issues.contains_key(*k))
    {
        check!(
            after.issues.contains_key(key) != o.delete_new,
            "new issue {key}: {} after a rollback {} --delete-new-issues",
            if o.delete_new { "kept" } else { "deleted" },
            if o.delete_new { "with" } else { "without" }
        );
    }
    let unique = |names: Vec<&String>| names.len() == names.iter().collect::<BTreeSet<_>>().len();
    check!(
        unique(after.components.values().map(|c| &c.0).collect()),
        "duplicate components: {:?}",
        after.components
    );
    for (id, c) in &snap.components {
        match after.components.get(id) {
            Some(l) => check!(
                l == c || named.contains(&format!("component:{id}")),
                "component {id} is {l:?}, was {c:?}, unnamed"
            ),
            None => check!(
                after.components.values().any(|l| l == c),
                "component {c:?} was not recreated"
            ),
        }
    }
    let names: Vec<String> = after
        .versions
        .values()
        .map(|v| v["name"].to_string())
        .collect();
    check!(
        unique(names.iter().collect()),
        "duplicate versions: {names:?}"
    );
    for (id, v) in &snap.versions {
        match after.versions.get(id) {
            Some(l) => check!(
                l == v || named.contains(&format!("version:{id}")),
                "version {id} is {l}, was {v}, unnamed"
            ),
            None => check!(
                after.versions.values().any(|l| l == v),
                "version {v} was not recreated"
            ),
        }
    }
    Ok(())
}

fn writes(site: &Site) -> u64 {
    site.stats()["writes"].as_u64().unwrap_or(0)
}

/// The writes an uninterrupted run makes, and (for a kill after `k` writes) how many more
/// a resumed one may: the operation whose last write was the `k`th is repeated when it is
/// idempotent (a PUT of the target's values, or a DELETE answered 404), since the kill may
/// have come between Jira's answer and the journal. A walk reads where the issue is before
/// each hop, and a creation is looked for before it is made again: no repeat.
fn allowance(ops: &[Value], k: u64) -> u64 {
    let mut done = 0;
    for op in ops {
        done += op_writes(op);
        if done == k {
            return match op["op"].as_str() {
                Some("jira_edit_issue" | "jira_edit_comment" | "jira_delete_issue") => 1,
                _ => 0,
            };
        }
        if done > k {
            return 0;
        }
    }
    0
}

/// One case: reset, snapshot, damage, preview, execute (killed after some of its writes,
/// drawn from `kill_at`, and resumed, when given), then the properties.
fn case(m: &Model, script: &[Damage], o: Opts, kill_at: Option<u64>) -> Result<(), TestCaseError> {
    let (site, meta) = (&m.site, &m.meta);
    let (s, reply) = site.api("POST", "/_sandbox/reset", None);
    check!(s == 200, "reset: {s} {reply}");
    let user = JiraUser::new(site);
    let snap = Live::read(site, meta);
    check!(
        World::of(&snap) == m.world,
        "the reset project differs from the first one"
    );
    let made = user.run(&["--json", "snapshot", "create", SCOPE, "--name", "good"]);
    check!(made.code == 0, "snapshot: {made:?}");
    for step in script {
        let applied = apply(site, meta, step)?;
        let c = if applied { &m.applied } else { &m.refused };
        c.set(c.get() + 1);
    }
    let damaged = Live::read(site, meta);
    let t = touched(&snap, &damaged, o);

    let w0 = writes(site);
    let mut preview_args = vec!["--json", "rollback", SCOPE, "--to", "good"];
    preview_args.extend(o.flags());
    let preview = user.run(&preview_args);
    check!(preview.code == 0, "preview failed: {preview:?}");
    let preview = preview.json();
    check!(writes(site) == w0, "the preview wrote");
    let plan = &preview["plan"];
    check_plan(plan, &t, o)?;
    let ops = plan["ops"].as_array().cloned().unwrap_or_default();
    let planned: u64 = ops.iter().map(op_writes).sum();
    let named: BTreeSet<String> = plan["irrecoverable"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["key"].as_str().map(str::to_string))
        .collect();

    let mut execute = preview_args.clone();
    execute.extend(["--execute", "--yes"]);
    let mut kill_after = kill_at.map(|k| k % planned.max(1));
    let report = match kill_after {
        None => user.run(&[&execute[..], &["--write-interval-ms", "0"]].concat()),
        Some(k) => {
            // Paced so the watcher sees each write land, then killed once `k` have.
            let mut child = user
                .command(&[&execute[..], &["--write-interval-ms", "40"]].concat())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| TestCaseError::fail(format!("spawn: {e}")))?;
            kill_after = Some(kill_after_writes(&mut child, k, || writes(site) - w0));
            user.run(&[&execute[..], &["--write-interval-ms", "0"]].concat())
        }
    };
    check!(report.code == 0, "rollback failed: {report:?}");
    let report = report.json();
    let done = writes(site) - w0;
    if kill_after.is_none() {
        check!(
            report["plan"]["ops"] == plan["ops"],
            "executed another plan than previewed:\n{}\n{}",
            report["plan"]["ops"],
            plan["ops"]
        );
    }
    // A kill that came late (a loaded machine lets the paced run write on before the
    // watcher acts) can leave nothing to resume: that run prints an empty preview.
    let resumed_something = report.get("verification").is_some();
    check!(
        report["verification"]["clean"] == true
            || planned == 0
            || (kill_after.is_some()
                && !resumed_something
                && report["plan"]["ops"].as_array().is_some_and(Vec::is_empty)),
        "verification: {report}"
    );
    let extra = kill_after.map_or(0, |k| allowance(&ops, k));
    check!(
        done == planned || (extra > 0 && done == planned + extra),
        "{done} writes for {planned} planned (killed after {kill_after:?}): {}",
        plan["ops"]
    );
    let after = Live::read(site, meta);
    check_restored(site, &snap, &damaged, &after, &named, o)?;
    let again = user.run(&preview_args);
    check!(again.code == 0, "second preview failed: {again:?}");
    let left = again.json()["plan"]["ops"].clone();
    check!(
        left.as_array().is_some_and(Vec::is_empty),
        "a converged rollback still plans {left}"
    );
    for op in &ops {
        let kind = op["op"].as_str().unwrap_or("?").to_string();
        *m.kinds.borrow_mut().entry(kind).or_default() += 1;
    }
    m.tally.add(
        ops.len() as u64,
        named.len() as u64,
        kill_after.is_some_and(|k| k < planned) && resumed_something,
    );
    Ok(())
}

/// One flavour's sandbox for a whole run, what damage is drawn from, and what the run
/// covered.
struct Model {
    site: Site,
    meta: Meta,
    world: World,
    tally: Tally,
    /// Damage steps applied and refused (a run of refused steps proves nothing).
    applied: std::cell::Cell<u64>,
    refused: std::cell::Cell<u64>,
    /// Operations planned and verified, by kind.
    kinds: std::cell::RefCell<BTreeMap<String, u64>>,
    started: Instant,
}

impl Model {
    fn start(flavor: Flavor) -> Model {
        let site = Site::start(flavor, &SEEDED);
        let meta = Meta::read(&site);
        let world = World::of(&Live::read(&site, &meta));
        Model {
            site,
            meta,
            world,
            tally: Tally::default(),
            applied: Default::default(),
            refused: Default::default(),
            kinds: Default::default(),
            started: Instant::now(),
        }
    }

    fn report(&self, what: &str) {
        eprintln!(
            "jira model, {what} ({}, {} issues of which {} epics and {} subtasks, {} comments, {} links, {} components, {} versions): {}, {} damage steps applied ({} refused) in {:.0?}; operations: {:?}",
            self.site.flavor.arg(),
            self.world.all().len(),
            self.world.epics.len(),
            self.world.subtasks.len(),
            self.world.comments.len(),
            self.world.links.len(),
            self.world.components.len(),
            self.world.versions.len(),
            self.tally,
            self.applied.get(),
            self.refused.get(),
            self.started.elapsed(),
            self.kinds.borrow()
        );
    }
}

fn opts() -> impl Strategy<Value = Opts> {
    (any::<bool>(), any::<bool>()).prop_map(|(recreate_deleted, delete_new)| Opts {
        recreate_deleted,
        delete_new,
    })
}

/// Any damage is rolled back with the minimal plan and every loss named.
fn any_damage(flavor: Flavor, cases: u32) {
    let m = Model::start(flavor);
    let result = model_runner(cases, file!()).run(
        &(prop::collection::vec(damage(&m.world), 1..14), opts()),
        |(script, o)| case(&m, &script, o, None),
    );
    m.report("any damage");
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// A rollback killed after any of its writes resumes without duplicates and converges.
fn killed(flavor: Flavor, cases: u32) {
    let m = Model::start(flavor);
    let result = model_runner(cases, file!()).run(
        &(
            prop::collection::vec(damage(&m.world), 1..14),
            opts(),
            0u64..64,
        ),
        |(script, o, kill_at)| case(&m, &script, o, Some(kill_at)),
    );
    m.report("killed and resumed");
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn jira_model_cloud_any_damage_is_rolled_back_with_the_minimal_plan_and_every_loss_named() {
    any_damage(Flavor::Cloud, 24);
}

#[test]
fn jira_model_datacenter_any_damage_is_rolled_back_with_the_minimal_plan_and_every_loss_named() {
    any_damage(Flavor::DataCenter, 24);
}

#[test]
fn jira_model_cloud_a_rollback_killed_after_any_write_resumes_without_duplicates() {
    killed(Flavor::Cloud, 8);
}

#[test]
fn jira_model_datacenter_a_rollback_killed_after_any_write_resumes_without_duplicates() {
    killed(Flavor::DataCenter, 8);
}
