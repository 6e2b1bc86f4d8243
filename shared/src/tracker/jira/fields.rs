//! What a diff compares in a Jira project or epic: Jira's [`Schema`].
//!
//! Components and versions are definitions (issues carry them by name, and deleting or
//! renaming one changes every issue that had it, as GitHub labels do); issues are the items,
//! keyed by their issue key; comments belong to them. Descriptions and comment bodies are
//! compared as their readable rendering ([`JiraText::to_text`]): a change nobody can see (a
//! node id Jira Cloud rewrites) is not a change, and a line diff of rendered text is what
//! people can review. Statuses, priorities, issue types, resolutions and people are compared
//! by their id and shown by name, so renaming a status site-wide is not a change to every
//! issue in it.

use std::borrow::Cow;

use serde_json::{json, Value};

use crate::diff::schema::{Comments, Definition, DefinitionView, ItemHead, Items, Schema, Val};
use crate::diff::{ChangeKind, Field};
use crate::record::{JiraIssue, JiraRef, JiraText, JiraUser, RecordKind, RecordRef};
use crate::scope::TrackerKind;

/// Jira's declaration of what a diff compares.
pub static SCHEMA: Schema = Schema {
    tracker: TrackerKind::Jira,
    definitions: &[
        Definition {
            change: ChangeKind::Component,
            record: RecordKind::Component,
            rename: Field::Name,
            view: component,
        },
        Definition {
            change: ChangeKind::Version,
            record: RecordKind::Version,
            rename: Field::Name,
            view: version,
        },
    ],
    items: Items {
        record: RecordKind::JiraIssue,
        head: issue_head,
        fields: issue_fields,
        whole: issue_whole,
        lines: issue_lines,
        text_key: "description",
    },
    comments: Comments {
        record: RecordKind::JiraComment,
        item: comment_item,
        body: comment_body,
        whole: comment_whole,
    },
};

fn opt_str(s: Option<&str>) -> Value {
    s.map_or(Value::Null, |s| Value::String(s.to_string()))
}

/// Shown by display name, compared by account (Cloud) or user name (Data Center).
fn person(user: Option<&JiraUser>) -> Val<'static> {
    Val::Keyed {
        show: opt_str(user.map(JiraUser::shown)),
        key: opt_str(user.map(|u| u.id.as_str())),
    }
}

/// Shown by name, compared by id.
fn named(r: Option<&JiraRef>) -> Val<'static> {
    Val::Keyed {
        show: opt_str(r.map(|r| r.name.as_str())),
        key: opt_str(r.map(|r| r.id.as_str())),
    }
}

fn date(d: Option<chrono::NaiveDate>) -> Value {
    d.map_or(Value::Null, |d| Value::String(d.to_string()))
}

/// Story points as people write them: `3`, not `3.0`.
fn points(p: Option<f64>) -> Value {
    match p {
        Some(p) if p.fract() == 0.0 && p.abs() < 1e15 => json!(p as i64),
        Some(p) => json!(p),
        None => Value::Null,
    }
}

fn component(r: RecordRef<'_>) -> Option<DefinitionView<'_>> {
    let RecordRef::Component(c) = r else {
        return None;
    };
    Some(DefinitionView {
        name: &c.name,
        fields: vec![
            (Field::Name, Val::Plain(json!(c.name))),
            (Field::Description, Val::short(c.description.as_deref())),
            (Field::Lead, person(c.lead.as_ref())),
            (
                Field::AssigneeType,
                Val::opt_str(c.assignee_type.as_deref()),
            ),
        ],
        whole: json!({
            "id": c.id,
            "name": c.name,
            "description": c.description,
            "lead": c.lead.as_ref().map(JiraUser::shown),
            "assignee_type": c.assignee_type,
        }),
    })
}

fn version(r: RecordRef<'_>) -> Option<DefinitionView<'_>> {
    let RecordRef::Version(v) = r else {
        return None;
    };
    Some(DefinitionView {
        name: &v.name,
        fields: vec![
            (Field::Name, Val::Plain(json!(v.name))),
            (Field::Description, Val::short(v.description.as_deref())),
            (Field::Released, Val::Plain(json!(v.released))),
            (Field::Archived, Val::Plain(json!(v.archived))),
            (Field::StartDate, Val::Plain(date(v.start_date))),
            (Field::ReleaseDate, Val::Plain(date(v.release_date))),
        ],
        whole: json!({
            "id": v.id,
            "name": v.name,
            "description": v.description,
            "released": v.released,
            "archived": v.archived,
            "start_date": date(v.start_date),
            "release_date": date(v.release_date),
        }),
    })
}

fn issue_head(r: RecordRef<'_>) -> Option<ItemHead<'_>> {
    let RecordRef::JiraIssue(i) = r else {
        return None;
    };
    Some(ItemHead {
        id: i.id,
        key: Some(&i.key),
        title: &i.summary,
        url: i.url.as_deref(),
        pull_request: false,
    })
}

fn description(i: &JiraIssue) -> Option<String> {
    i.description.as_ref().map(JiraText::to_text)
}

fn names(refs: &[JiraRef]) -> Vec<String> {
    refs.iter().map(|r| r.name.clone()).collect()
}

fn links(i: &JiraIssue) -> Vec<String> {
    i.links.iter().map(|l| l.label()).collect()
}

fn issue_fields(r: RecordRef<'_>) -> Vec<(Field, Val<'_>)> {
    let RecordRef::JiraIssue(i) = r else {
        return Vec::new();
    };
    vec![
        (Field::Summary, Val::Plain(json!(i.summary))),
        (Field::IssueType, named(Some(&i.issue_type))),
        (
            Field::Status,
            Val::Keyed {
                show: json!(i.status.name),
                key: json!(i.status.id),
            },
        ),
        (Field::Resolution, named(i.resolution.as_ref())),
        (Field::Priority, named(i.priority.as_ref())),
        (Field::Assignee, person(i.assignee.as_ref())),
        (Field::Reporter, person(i.reporter.as_ref())),
        (Field::Description, Val::lines(description(i))),
        (Field::Labels, Val::set(&i.labels)),
        (
            Field::Components,
            Val::owned_set(names(&i.components), Some(ChangeKind::Component)),
        ),
        (
            Field::FixVersions,
            Val::owned_set(names(&i.fix_versions), Some(ChangeKind::Version)),
        ),
        (Field::DueDate, Val::Plain(date(i.due_date))),
        (Field::Parent, Val::opt_str(i.parent.as_deref())),
        (Field::EpicLink, Val::opt_str(i.epic_link.as_deref())),
        (Field::Subtasks, Val::set(&i.subtasks)),
        (Field::Links, Val::owned_set(links(i), None)),
        (Field::StoryPoints, Val::Plain(points(i.story_points))),
        (Field::Sprints, Val::owned_set(i.sprints.clone(), None)),
    ]
}

fn issue_whole(r: RecordRef<'_>) -> Value {
    let RecordRef::JiraIssue(i) = r else {
        return Value::Null;
    };
    json!({
        "id": i.id,
        "key": i.key,
        "summary": i.summary,
        "issue_type": i.issue_type.name,
        "status": i.status.name,
        "resolution": i.resolution.as_ref().map(|r| &r.name),
        "priority": i.priority.as_ref().map(|r| &r.name),
        "assignee": i.assignee.as_ref().map(JiraUser::shown),
        "reporter": i.reporter.as_ref().map(JiraUser::shown),
        "description": description(i),
        "labels": i.labels,
        "components": names(&i.components),
        "fix_versions": names(&i.fix_versions),
        "due_date": date(i.due_date),
        "parent": i.parent,
        "epic_link": i.epic_link,
        "subtasks": i.subtasks,
        "links": links(i),
        "story_points": points(i.story_points),
        "sprints": i.sprints,
    })
}

/// The one-line facts of an added or removed issue, as (value, name), in display order;
/// empty ones are left out.
fn issue_lines(v: &Value) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    let text = |k: &str| match v.get(k) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let list = |k: &str| match v.get(k) {
        Some(Value::Array(items)) if !items.is_empty() => Some(
            items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        _ => None,
    };
    out.push((
        text("summary").unwrap_or_else(|| "(none)".into()),
        "summary",
    ));
    for (key, name) in [
        ("issue_type", "type"),
        ("status", "status"),
        ("resolution", "resolution"),
        ("priority", "priority"),
        ("assignee", "assignee"),
    ] {
        if let Some(t) = text(key) {
            out.push((t, name));
        }
    }
    for (key, name) in [("labels", "labels"), ("components", "components")] {
        if let Some(t) = list(key) {
            out.push((t, name));
        }
    }
    if let Some(t) = list("fix_versions") {
        out.push((t, "fix versions"));
    }
    for (key, name) in [
        ("parent", "parent"),
        ("epic_link", "epic"),
        ("story_points", "story points"),
        ("due_date", "due"),
    ] {
        if let Some(t) = text(key) {
            out.push((t, name));
        }
    }
    if let Some(t) = list("subtasks") {
        out.push((t, "subtasks"));
    }
    if let Some(t) = list("links") {
        out.push((t, "links"));
    }
    if let Some(t) = text("reporter") {
        out.push((t, "reporter"));
    }
    out
}

fn comment_item(r: RecordRef<'_>) -> Option<u64> {
    match r {
        RecordRef::JiraComment(c) => Some(c.issue_id),
        _ => None,
    }
}

fn comment_body(r: RecordRef<'_>) -> Cow<'_, str> {
    match r {
        RecordRef::JiraComment(c) => Cow::Owned(c.body.to_text()),
        _ => Cow::Borrowed(""),
    }
}

fn comment_whole(r: RecordRef<'_>) -> Value {
    let RecordRef::JiraComment(c) = r else {
        return Value::Null;
    };
    json!({
        "id": c.id,
        "issue": c.issue_id,
        "body": c.body.to_text(),
        "author": c.author.as_ref().map(JiraUser::shown),
        "visibility": c.visibility.as_ref().map(|v| format!("{}: {}", v.kind, v.value)),
    })
}
