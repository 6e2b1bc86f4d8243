//! Planning a Jira rollback: the same [`Planned`] as GitHub's, from Jira's records.
//!
//! Order: definitions first (deleted components and versions recreated before the issues
//! that use them), then per issue one `PUT` carrying every changed editable field and one
//! walk through the workflow to the snapshot's status, then comments (edits, then deleted
//! ones recreated), then the clean-ups asked for (issues and subtasks created since).
//!
//! The planner stays a pure function: what the records do not say (which fields this user
//! may edit, the workflow) is read beforehand into a [`RollbackContext`], asked for by
//! [`context_request`] — the same for a preview and for the plan executed, so both plan
//! alike.

use std::collections::{BTreeMap, BTreeSet};

use super::plan::{Irrecoverable, Planned};
use super::{Field, RollbackOptions};
use crate::record::jira::{JiraComment, JiraIssue, JiraRef, JiraText};
use crate::record::RecordSet;
use crate::tracker::jira::workflow::{ContextRequest, Route, StatusKey, WalkRequest};
use crate::tracker::jira::{attributed, RollbackContext};
use crate::tracker::operation::{JiraChange, Operation};

fn text_eq(a: &Option<JiraText>, b: &Option<JiraText>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x == y,
        (Some(x), None) | (None, Some(x)) => x.is_blank(),
        (None, None) => true,
    }
}

fn float_eq(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => (x - y).abs() < 1e-9,
        (None, None) => true,
        _ => false,
    }
}

/// How a definition an issue refers to will be named in the `PUT`: by its id when it is
/// still there, by the id of the live definition of the same name when it was recreated,
/// else by name (it is recreated by this plan before the issue is written).
fn resolve(r: &JiraRef, live: &BTreeMap<u64, String>) -> JiraRef {
    let id: Option<u64> = r.id.parse().ok();
    if let Some(name) = id.and_then(|id| live.get(&id)) {
        return JiraRef {
            id: r.id.clone(),
            name: name.clone(),
        };
    }
    match live.iter().find(|(_, n)| **n == r.name) {
        Some((id, n)) => JiraRef {
            id: id.to_string(),
            name: n.clone(),
        },
        None => JiraRef {
            id: String::new(),
            name: r.name.clone(),
        },
    }
}

fn ref_ids(refs: &[JiraRef]) -> BTreeSet<&str> {
    refs.iter().map(|r| r.id.as_str()).collect()
}

/// The changed fields of one issue (status and comments aside), against the live one.
fn field_changes(
    target: &JiraIssue,
    current: &JiraIssue,
    live: &RecordSet,
    wants: &dyn Fn(Field) -> bool,
) -> Vec<JiraChange> {
    let components: BTreeMap<u64, String> = live
        .components
        .values()
        .map(|c| (c.id, c.name.clone()))
        .collect();
    let versions: BTreeMap<u64, String> = live
        .versions
        .values()
        .map(|v| (v.id, v.name.clone()))
        .collect();
    let mut out = Vec::new();
    if wants(Field::Title) && target.summary != current.summary {
        out.push(JiraChange::Summary {
            from: current.summary.clone(),
            to: target.summary.clone(),
        });
    }
    if wants(Field::Body) && !text_eq(&target.description, &current.description) {
        out.push(JiraChange::Description {
            from: current.description.clone(),
            to: target.description.clone(),
        });
    }
    if wants(Field::Labels) && target.labels != current.labels {
        out.push(JiraChange::Labels {
            from: current.labels.clone(),
            to: target.labels.clone(),
        });
    }
    for (field, t, c, defs) in [
        (
            Field::Components,
            &target.components,
            &current.components,
            &components,
        ),
        (
            Field::FixVersions,
            &target.fix_versions,
            &current.fix_versions,
            &versions,
        ),
    ] {
        if !wants(field) {
            continue;
        }
        let to: Vec<JiraRef> = t.iter().map(|r| resolve(r, defs)).collect();
        if ref_ids(&to) != ref_ids(c) || to.iter().any(|r| r.id.is_empty()) {
            let (from, to) = (c.clone(), to);
            out.push(match field {
                Field::Components => JiraChange::Components { from, to },
                _ => JiraChange::FixVersions { from, to },
            });
        }
    }
    if wants(Field::Priority)
        && target.priority.as_ref().map(|p| &p.id) != current.priority.as_ref().map(|p| &p.id)
        && target.priority.is_some()
    {
        out.push(JiraChange::Priority {
            from: current.priority.clone(),
            to: target.priority.clone(),
        });
    }
    if wants(Field::Assignees)
        && target.assignee.as_ref().map(|u| &u.id) != current.assignee.as_ref().map(|u| &u.id)
    {
        out.push(JiraChange::Assignee {
            from: current.assignee.clone(),
            to: target.assignee.clone(),
        });
    }
    if wants(Field::DueDate) && target.due_date != current.due_date {
        out.push(JiraChange::DueDate {
            from: current.due_date,
            to: target.due_date,
        });
    }
    if wants(Field::StoryPoints) && !float_eq(target.story_points, current.story_points) {
        out.push(JiraChange::StoryPoints {
            from: current.story_points,
            to: target.story_points,
        });
    }
    if wants(Field::Parent) {
        if target.parent != current.parent {
            out.push(JiraChange::Parent {
                from: current.parent.clone(),
                to: target.parent.clone(),
            });
        }
        if target.epic_link != current.epic_link {
            out.push(JiraChange::EpicLink {
                from: current.epic_link.clone(),
                to: target.epic_link.clone(),
            });
        }
    }
    out
}

/// Where an issue's workflow starts for the walk: its project, type and status.
fn status_key(i: &JiraIssue) -> StatusKey {
    (
        i.project.clone(),
        i.issue_type.id.clone(),
        i.status.id.clone(),
    )
}

/// The target's issues this rollback covers that still exist, with their live selves.
fn pairs<'a>(
    target: &'a RecordSet,
    live: &'a RecordSet,
    opts: &'a RollbackOptions,
) -> impl Iterator<Item = (&'a JiraIssue, &'a JiraIssue)> + 'a {
    target
        .jira_issues
        .values()
        .filter(|i| opts.covers(i.id))
        .filter_map(|i| live.jira_issues.get(&i.id).map(|c| (i, c)))
}

/// What planning needs to read from the site (see the module docs).
pub(crate) fn context_request(
    target: &RecordSet,
    live: &RecordSet,
    opts: &RollbackOptions,
) -> ContextRequest {
    let wants = |f: Field| opts.wants(f);
    let mut ask = ContextRequest::default();
    for (t, c) in pairs(target, live, opts) {
        if !field_changes(t, c, live, &wants).is_empty() {
            ask.editmeta.push((c.id, c.key.clone()));
        }
        if wants(Field::State) && t.status.id != c.status.id {
            ask.walks.push(WalkRequest {
                from: status_key(c),
                to: t.status.id.clone(),
            });
        }
        if wants(Field::Comments)
            && target
                .jira_comments
                .values()
                .any(|m| m.issue_id == t.id && !live.jira_comments.contains_key(&m.id))
        {
            ask.restored.push(c.key.clone());
        }
    }
    if !ask.walks.is_empty() {
        for i in live.jira_issues.values() {
            ask.samples
                .entry(status_key(i))
                .or_insert_with(|| i.key.clone());
        }
    }
    ask
}

/// The attribution line of a recreated comment (authorship and time cannot be restored).
fn attribution(c: &JiraComment, snapshot: &str) -> String {
    format!(
        "Restored by backtrack from snapshot {snapshot}. Originally written by {} on {}.",
        c.author.as_ref().map_or("an unknown user", |a| a.shown()),
        c.created_at.format("%Y-%m-%d %H:%M UTC")
    )
}

/// Computes the plan (see the module docs). `snapshot` names the target in recreated
/// comments' attribution.
pub(crate) fn plan(
    target: &RecordSet,
    live: &RecordSet,
    opts: &RollbackOptions,
    snapshot: &str,
    cx: &RollbackContext,
) -> Planned {
    let mut out = Planned::default();
    let wants = |f: Field| opts.wants(f);

    // 1. Deleted components and versions the covered issues use, recreated first.
    let used = |f: &dyn Fn(&JiraIssue) -> &Vec<JiraRef>| -> BTreeSet<String> {
        pairs(target, live, opts)
            .flat_map(|(t, _)| f(t).iter().map(|r| r.id.clone()))
            .collect()
    };
    if wants(Field::Components) {
        let needed = used(&|i| &i.components);
        for c in target.components.values() {
            let gone = !live.components.contains_key(&c.id)
                && !live.components.values().any(|l| l.name == c.name);
            if gone && (opts.only().is_none() || needed.contains(&c.id.to_string())) {
                out.push(Operation::JiraCreateComponent {
                    original_id: c.id,
                    name: c.name.clone(),
                    description: c.description.clone(),
                    lead: c.lead.clone(),
                    assignee_type: c.assignee_type.clone(),
                });
                out.irrecoverable.push(Irrecoverable {
                    key: format!("component:{}", c.id),
                    what: format!("component {:?} gets a new id", c.name),
                    reason: "a deleted component is recreated under a new id; filters and links to the old id do not follow".into(),
                });
            }
        }
    }
    if wants(Field::FixVersions) {
        let needed = used(&|i| &i.fix_versions);
        for v in target.versions.values() {
            let gone = !live.versions.contains_key(&v.id)
                && !live.versions.values().any(|l| l.name == v.name);
            if gone && (opts.only().is_none() || needed.contains(&v.id.to_string())) {
                out.push(Operation::JiraCreateVersion {
                    original_id: v.id,
                    name: v.name.clone(),
                    description: v.description.clone(),
                    released: v.released,
                    archived: v.archived,
                    start_date: v.start_date,
                    release_date: v.release_date,
                });
                out.irrecoverable.push(Irrecoverable {
                    key: format!("version:{}", v.id),
                    what: format!("version {:?} gets a new id", v.name),
                    reason: "a deleted version is recreated under a new id; filters and links to the old id do not follow".into(),
                });
            }
        }
    }

    // 2. Per issue: one PUT with every changed editable field, then the walk.
    for t in target.jira_issues.values().filter(|i| opts.covers(i.id)) {
        let Some(c) = live.jira_issues.get(&t.id) else {
            out.irrecoverable.push(Irrecoverable {
                key: format!("issue:{}", t.key),
                what: format!("{} {:?} was deleted", t.key, t.summary),
                reason: "Jira cannot restore a deleted issue under its key; its fields and comments remain in the snapshot".into(),
            });
            continue;
        };
        let mut changes = field_changes(t, c, live, &wants);
        if let Some(editable) = cx.editable.get(&c.id) {
            changes.retain(|ch| {
                let ok = editable.contains(ch.field());
                if !ok {
                    out.irrecoverable.push(Irrecoverable {
                        key: format!("issue:{}", t.key),
                        what: format!("{} {} differs", t.key, shown_field(ch.field())),
                        reason: "not restorable: the site does not let this user edit the field on this issue (it is not in the issue's editmeta: not on its edit screen, or not permitted)".into(),
                    });
                }
                ok
            });
        }
        if !changes.is_empty() {
            out.push(Operation::JiraEditIssue {
                id: c.id,
                key: c.key.clone(),
                summary: t.summary.clone(),
                changes,
            });
        }
        if wants(Field::State) {
            plan_status(t, c, cx, &mut out);
        }
    }

    // 3. Comments: edits, then deleted ones recreated.
    if wants(Field::Comments) {
        plan_comments(target, live, opts, snapshot, cx, &mut out);
    }

    // 4. What was created after the snapshot: listed, deleted only when asked.
    plan_new_issues(target, live, opts, &mut out);
    out
}

fn shown_field(f: &str) -> &str {
    match f {
        "fixVersions" => "fix versions",
        "duedate" => "due date",
        "story_points" => "story points",
        "epic_link" => "Epic Link",
        other => other,
    }
}

fn plan_status(t: &JiraIssue, c: &JiraIssue, cx: &RollbackContext, out: &mut Planned) {
    if t.status.id == c.status.id {
        let resolution_differs = t.resolution.as_ref().map(|r| &r.id)
            != c.resolution.as_ref().map(|r| &r.id)
            && t.resolution.is_some();
        if resolution_differs {
            out.irrecoverable.push(Irrecoverable {
                key: format!("issue:{}", t.key),
                what: format!(
                    "{} resolution is {} (was {})",
                    t.key,
                    c.resolution.as_ref().map_or("none", |r| r.name.as_str()),
                    t.resolution.as_ref().map_or("none", |r| r.name.as_str())
                ),
                reason: "a resolution is set by a transition's screen; leave and re-enter the status by hand to change it".into(),
            });
        }
        return;
    }
    let route = cx.workflows.route(&status_key(c), &t.status.id);
    let path = match route {
        Route::Here => return,
        Route::Path(edges) => edges.iter().map(|e| e.hop()).collect(),
        Route::Unknown => Vec::new(),
        Route::Unreachable => {
            out.irrecoverable.push(Irrecoverable {
                key: format!("issue:{}", t.key),
                what: format!(
                    "{} status {} → {} is unreachable",
                    t.key, c.status.name, t.status.name
                ),
                reason: format!(
                    "no transition path leads from {:?} to {:?} in the workflow of {} {}s; not attempted",
                    c.status.name, t.status.name, c.project, c.issue_type.name
                ),
            });
            return;
        }
    };
    out.push(Operation::JiraTransition {
        id: c.id,
        key: c.key.clone(),
        from: c.status.name.clone(),
        to: t.status.clone(),
        resolution: t.resolution.clone(),
        path,
    });
}

fn plan_comments(
    target: &RecordSet,
    live: &RecordSet,
    opts: &RollbackOptions,
    snapshot: &str,
    cx: &RollbackContext,
    out: &mut Planned,
) {
    let mut recreate = Vec::new();
    for m in target.jira_comments.values() {
        let Some(issue) = live.jira_issues.get(&m.issue_id) else {
            continue; // reported with its deleted issue
        };
        if !opts.covers(m.issue_id) {
            continue;
        }
        match live.jira_comments.get(&m.id) {
            Some(current) => {
                if current.body != m.body || current.visibility != m.visibility {
                    out.push(Operation::JiraEditComment {
                        issue: issue.id,
                        key: issue.key.clone(),
                        id: m.id,
                        from: current.body.to_text(),
                        to: m.body.clone(),
                        visibility: m.visibility.clone(),
                    });
                }
            }
            None => {
                if !cx.restored.contains_key(&m.id) {
                    recreate.push(Operation::JiraRecreateComment {
                        issue: issue.id,
                        key: issue.key.clone(),
                        original_id: m.id,
                        body: attributed(&m.body, &attribution(m, snapshot)),
                        visibility: m.visibility.clone(),
                    });
                }
                out.irrecoverable.push(Irrecoverable {
                    key: format!("comment:{}", m.id),
                    what: format!(
                        "comment {} on {} by {} ({})",
                        m.id,
                        issue.key,
                        m.author.as_ref().map_or("an unknown user", |a| a.shown()),
                        m.created_at.format("%Y-%m-%d")
                    ),
                    reason: "recreated as the token's user with an attribution line: the original author and timestamps cannot be restored".into(),
                });
            }
        }
    }
    for op in recreate {
        out.push(op);
    }
}

fn plan_new_issues(
    target: &RecordSet,
    live: &RecordSet,
    opts: &RollbackOptions,
    out: &mut Planned,
) {
    let new: Vec<&JiraIssue> = live
        .jira_issues
        .values()
        .filter(|i| !target.jira_issues.contains_key(&i.id))
        .collect();
    let parent_id = |key: &str| {
        live.jira_issues
            .values()
            .find(|i| i.key == key)
            .map(|i| i.id)
    };
    let mut deleted: BTreeSet<&str> = BTreeSet::new();
    for i in &new {
        // With --only, a new subtask belongs to the issue it was added under.
        let covered = match opts.only() {
            None => true,
            Some(_) => {
                i.subtask
                    && i.parent
                        .as_deref()
                        .and_then(parent_id)
                        .is_some_and(|p| opts.covers(p))
            }
        };
        if !covered {
            continue;
        }
        let (asked, flag) = if i.subtask {
            (opts.delete_new_subtasks(), "--delete-new-subtasks")
        } else {
            (opts.delete_new_issues(), "--delete-new-issues")
        };
        let kind = if i.subtask { "subtask" } else { "issue" };
        if asked {
            // A subtask goes with its parent when that is deleted too.
            let parent_goes = i.parent.as_deref().is_some_and(|p| deleted.contains(p));
            deleted.insert(i.key.as_str());
            if !parent_goes {
                out.push(Operation::JiraDeleteIssue {
                    id: i.id,
                    key: i.key.clone(),
                    summary: i.summary.clone(),
                    subtask: i.subtask,
                });
            }
        } else {
            out.irrecoverable.push(Irrecoverable {
                key: format!("issue:{}", i.key),
                what: format!(
                    "{} {:?} is a {kind} created after the snapshot",
                    i.key, i.summary
                ),
                reason: format!("left alone; pass {flag} to delete it"),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::{json, Value};

    use super::*;
    use crate::diff::testkit::at;
    use crate::record::jira::{JiraStatus, JiraUser};
    use crate::tracker::jira::workflow::Edge;

    fn status(id: &str, name: &str) -> JiraStatus {
        JiraStatus {
            id: id.into(),
            name: name.into(),
            category: None,
        }
    }

    fn issue(id: u64, key: &str) -> JiraIssue {
        JiraIssue {
            id,
            key: key.into(),
            project: "PROJ".into(),
            summary: format!("issue {key}"),
            description: Some(JiraText::Wiki("text".into())),
            issue_type: JiraRef {
                id: "10001".into(),
                name: "Story".into(),
            },
            subtask: false,
            status: status("1", "To Do"),
            resolution: None,
            priority: None,
            assignee: None,
            reporter: None,
            labels: vec![],
            components: vec![],
            fix_versions: vec![],
            due_date: None,
            parent: None,
            epic_link: None,
            subtasks: vec![],
            links: vec![],
            story_points: None,
            sprints: vec![],
            comments: 0,
            created_at: at(0),
            updated_at: at(0),
            url: None,
            raw: Value::Null,
        }
    }

    fn comment(id: u64, issue: u64, text: &str) -> JiraComment {
        JiraComment {
            id,
            issue_id: issue,
            body: JiraText::Wiki(text.into()),
            author: Some(JiraUser {
                id: "a".into(),
                display_name: Some("Alice".into()),
            }),
            created_at: at(0),
            updated_at: at(0),
            visibility: None,
            raw: Value::Null,
        }
    }

    fn set(issues: Vec<JiraIssue>, comments: Vec<JiraComment>) -> RecordSet {
        let mut s = RecordSet::default();
        for i in issues {
            s.jira_issues.insert(i.id, i);
        }
        for c in comments {
            s.jira_comments.insert(c.id, c);
        }
        s
    }

    fn edge(id: &str, to: &str) -> Edge {
        Edge {
            id: id.into(),
            name: format!("to {to}"),
            to: status(to, to),
            needs_resolution: false,
            resolution_on_screen: false,
            resolutions: vec![],
        }
    }

    fn opts() -> RollbackOptions {
        RollbackOptions::everything(at(1))
    }

    #[test]
    fn fields_go_in_one_put_and_what_cannot_be_edited_is_named() {
        let target = set(vec![issue(1, "PROJ-1")], vec![]);
        let mut now = issue(1, "PROJ-1");
        now.summary = "wrecked".into();
        now.labels = vec!["x".into()];
        now.story_points = Some(8.0);
        let live = set(vec![now], vec![]);
        let ask = context_request(&target, &live, &opts());
        assert_eq!(ask.editmeta, [(1, "PROJ-1".to_string())]);
        let mut cx = RollbackContext::default();
        cx.editable
            .insert(1, ["summary".to_string(), "labels".to_string()].into());
        let planned = plan(&target, &live, &opts(), "good", &cx);
        assert_eq!(planned.ops.len(), 1);
        let Operation::JiraEditIssue { changes, .. } = &planned.ops[0].op else {
            panic!("{planned:?}")
        };
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert_eq!(planned.irrecoverable.len(), 1);
        assert!(planned.irrecoverable[0].what.contains("story points"));
    }

    #[test]
    fn statuses_walk_known_paths_and_unreachable_ones_are_named_not_planned() {
        let mut t1 = issue(1, "PROJ-1");
        t1.status = status("3", "Done");
        let mut t2 = issue(2, "PROJ-2");
        t2.status = status("9", "Archived");
        let target = set(vec![t1, t2], vec![]);
        let live = set(vec![issue(1, "PROJ-1"), issue(2, "PROJ-2")], vec![]);
        let ask = context_request(&target, &live, &opts());
        assert_eq!(ask.walks.len(), 2);
        assert_eq!(ask.samples.len(), 1);
        let mut cx = RollbackContext::default();
        let key = |s: &str| ("PROJ".to_string(), "10001".to_string(), s.to_string());
        cx.workflows.learn(key("1"), vec![edge("11", "2")]);
        cx.workflows
            .learn(key("2"), vec![edge("21", "1"), edge("31", "3")]);
        cx.workflows.learn(key("3"), vec![edge("41", "2")]);
        let planned = plan(&target, &live, &opts(), "good", &cx);
        assert_eq!(planned.ops.len(), 1, "{planned:?}");
        let Operation::JiraTransition { path, .. } = &planned.ops[0].op else {
            panic!()
        };
        assert_eq!(
            path.iter()
                .map(|h| h.transition.as_str())
                .collect::<Vec<_>>(),
            ["11", "31"]
        );
        assert_eq!(planned.irrecoverable.len(), 1);
        assert!(planned.irrecoverable[0].what.contains("unreachable"));
    }

    #[test]
    fn deleted_comments_are_recreated_once_and_new_subtasks_left_alone_unless_asked() {
        let target = set(
            vec![issue(1, "PROJ-1")],
            vec![comment(100, 1, "keep me"), comment(101, 1, "gone")],
        );
        let mut sub = issue(2, "PROJ-2");
        sub.subtask = true;
        sub.parent = Some("PROJ-1".into());
        let live = set(
            vec![issue(1, "PROJ-1"), sub],
            vec![comment(100, 1, "keep me")],
        );
        let ask = context_request(&target, &live, &opts());
        assert_eq!(ask.restored, ["PROJ-1"]);
        let planned = plan(&target, &live, &opts(), "good", &RollbackContext::default());
        assert_eq!(planned.ops.len(), 1);
        let Operation::JiraRecreateComment { body, .. } = &planned.ops[0].op else {
            panic!()
        };
        assert!(body.to_text().contains("Originally written by Alice"));
        assert!(body.to_text().ends_with("gone"));
        assert!(planned
            .irrecoverable
            .iter()
            .any(|i| i.key == "issue:PROJ-2" && i.reason.contains("--delete-new-subtasks")));
        // Found recreated (by its property): not planned again.
        let mut cx = RollbackContext::default();
        cx.restored.insert(101, 555);
        assert!(plan(&target, &live, &opts(), "good", &cx).ops.is_empty());
        let mut o = opts();
        o.delete_new_subtasks = true;
        let planned = plan(&target, &live, &o, "good", &cx);
        assert!(matches!(
            planned.ops[0].op,
            Operation::JiraDeleteIssue { ref key, .. } if key == "PROJ-2"
        ));
        let _ = json!(null);
    }
}
