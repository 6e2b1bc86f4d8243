//! What a diff compares in a GitHub repository: GitHub's [`Schema`].
//!
//! Labels and milestones are definitions (issues refer to them by name, and deleting or
//! renaming one changes every issue that had it); issues and pull requests are the items;
//! comments belong to them. GitHub's quirks are in the projections: colours compare
//! case-insensitively, a `reopened` state reason on an open issue equals no reason, due dates
//! compare as dates.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::diff::schema::{Comments, Definition, DefinitionView, ItemHead, Items, Schema, Val};
use crate::diff::{ChangeKind, Field};
use crate::record::{Issue, Milestone, RecordKind, RecordRef, State};
use crate::scope::TrackerKind;

/// GitHub's declaration of what a diff compares.
pub static SCHEMA: Schema = Schema {
    tracker: TrackerKind::GitHub,
    definitions: &[
        Definition {
            change: ChangeKind::Label,
            record: RecordKind::Label,
            rename: Field::Name,
            view: label,
        },
        Definition {
            change: ChangeKind::Milestone,
            record: RecordKind::Milestone,
            rename: Field::Title,
            view: milestone,
        },
    ],
    items: Items {
        record: RecordKind::Issue,
        head: issue_head,
        fields: issue_fields,
        whole: issue_whole,
        lines: issue_lines,
        text_key: "body",
    },
    comments: Comments {
        record: RecordKind::Comment,
        item: comment_item,
        body: comment_body,
        whole: comment_whole,
    },
};

fn opt_str(s: Option<&str>) -> Value {
    s.map_or(Value::Null, |s| Value::String(s.to_string()))
}

fn label(r: RecordRef<'_>) -> Option<DefinitionView<'_>> {
    let RecordRef::Label(l) = r else { return None };
    Some(DefinitionView {
        name: &l.name,
        fields: vec![
            (Field::Name, Val::Plain(json!(l.name))),
            (
                Field::Color,
                Val::Keyed {
                    show: json!(l.color),
                    key: json!(l.color.to_ascii_lowercase()),
                },
            ),
            (Field::Description, Val::short(l.description.as_deref())),
        ],
        whole: json!({ "name": l.name, "color": l.color, "description": l.description }),
    })
}

fn due_date(m: &Milestone) -> Value {
    // Compared as a date: GitHub stores due dates at a time of day that shifts with the
    // time zone of whoever set them, which is not a change anyone sees in the UI.
    m.due_on
        .map_or(Value::Null, |d| Value::String(d.date_naive().to_string()))
}

fn milestone(r: RecordRef<'_>) -> Option<DefinitionView<'_>> {
    let RecordRef::Milestone(m) = r else {
        return None;
    };
    Some(DefinitionView {
        name: &m.title,
        fields: vec![
            (Field::Title, Val::Plain(json!(m.title))),
            (Field::State, Val::Plain(json!(m.state.as_str()))),
            (Field::DueOn, Val::Plain(due_date(m))),
            (Field::Description, Val::short(m.description.as_deref())),
        ],
        whole: json!({
            "number": m.number,
            "title": m.title,
            "state": m.state.as_str(),
            "description": m.description,
            "due_on": due_date(m),
        }),
    })
}

fn issue_head(r: RecordRef<'_>) -> Option<ItemHead<'_>> {
    let RecordRef::Issue(i) = r else { return None };
    Some(ItemHead {
        id: i.number,
        key: None,
        title: &i.title,
        url: i.html_url.as_deref(),
        pull_request: i.pull_request,
    })
}

/// The state reason as far as people can tell: GitHub marks a reopened issue `reopened`, but an
/// open issue with no reason looks and behaves the same, and rollback cannot set `reopened`.
fn effective_reason(i: &Issue) -> Option<&str> {
    match (i.state, i.state_reason.as_deref()) {
        (State::Open, Some("reopened")) => None,
        (_, reason) => reason,
    }
}

fn issue_fields(r: RecordRef<'_>) -> Vec<(Field, Val<'_>)> {
    let RecordRef::Issue(i) = r else {
        return Vec::new();
    };
    vec![
        (Field::Title, Val::Plain(json!(i.title))),
        (Field::State, Val::Plain(json!(i.state.as_str()))),
        (
            Field::StateReason,
            Val::Keyed {
                show: opt_str(i.state_reason.as_deref()),
                key: opt_str(effective_reason(i)),
            },
        ),
        (Field::Body, Val::lines(i.body.as_deref())),
        (
            Field::Labels,
            Val::Set {
                items: i.labels.iter().map(|l| Cow::Borrowed(l.as_str())).collect(),
                fold: Some(ChangeKind::Label),
            },
        ),
        (Field::Assignees, Val::set(&i.assignees)),
        (
            Field::Milestone,
            Val::Ref {
                name: i
                    .milestone
                    .as_ref()
                    .map(|m| Cow::Borrowed(m.title.as_str())),
                fold: Some(ChangeKind::Milestone),
            },
        ),
        (Field::Locked, Val::Plain(json!(i.locked))),
        (
            Field::LockReason,
            Val::opt_str(i.model.lock_reason.as_deref()),
        ),
        (
            Field::IssueType,
            Val::opt_str(i.model.issue_type.as_deref()),
        ),
        (Field::Parent, Val::Plain(parent(i))),
        (
            Field::PinnedComment,
            Val::Plain(i.model.pinned_comment.map_or(Value::Null, |c| json!(c))),
        ),
        (Field::Reactions, Val::Plain(reactions(i))),
        (Field::SubIssues, Val::Plain(sub_issues(i))),
        (
            Field::BlockedBy,
            Val::Set {
                items: i
                    .model
                    .blocked_by
                    .iter()
                    .map(|n| Cow::Owned(format!("#{n}")))
                    .collect(),
                fold: None,
            },
        ),
    ]
}

/// A parent's sub-issues in order (`#4, #2, #7`), null when it has none.
fn sub_issues(i: &Issue) -> Value {
    if i.model.sub_issues.is_empty() {
        return Value::Null;
    }
    let list: Vec<String> = i.model.sub_issues.iter().map(|n| format!("#{n}")).collect();
    Value::String(list.join(", "))
}

/// The issues blocking this one (`#3, #9`), null when none.
fn blocked_by(i: &Issue) -> Value {
    if i.model.blocked_by.is_empty() {
        return Value::Null;
    }
    let list: Vec<String> = i.model.blocked_by.iter().map(|n| format!("#{n}")).collect();
    Value::String(list.join(", "))
}

/// A sub-issue's parent as people write it (`#12`).
fn parent(i: &Issue) -> Value {
    i.model
        .parent
        .map_or(Value::Null, |p| Value::String(format!("#{p}")))
}

/// Reaction counts as one line (`+1 ×2, heart ×1`), null when there are none.
fn reactions(i: &Issue) -> Value {
    if i.model.reactions.is_empty() {
        return Value::Null;
    }
    let counts: Vec<String> = i
        .model
        .reactions
        .iter()
        .map(|(k, n)| format!("{k} ×{n}"))
        .collect();
    Value::String(counts.join(", "))
}

fn issue_whole(r: RecordRef<'_>) -> Value {
    let RecordRef::Issue(i) = r else {
        return Value::Null;
    };
    let mut whole = json!({
        "number": i.number,
        "title": i.title,
        "state": i.state.as_str(),
        "state_reason": i.state_reason,
        "body": i.body,
        "labels": i.labels,
        "assignees": i.assignees,
        "milestone": i.milestone.as_ref().map(|m| &m.title),
        "locked": i.locked,
        "pull_request": i.pull_request,
        "author": i.author,
    });
    // The issue model's parts only where set, so issues without them read as before.
    let extra = [
        ("lock_reason", opt_str(i.model.lock_reason.as_deref())),
        ("issue_type", opt_str(i.model.issue_type.as_deref())),
        ("parent", parent(i)),
        ("reactions", reactions(i)),
        ("sub_issues", sub_issues(i)),
        ("blocked_by", blocked_by(i)),
    ];
    for (key, value) in extra {
        if !value.is_null() {
            whole[key] = value;
        }
    }
    whole
}

/// A JSON scalar as people read it: strings bare, null as `(none)`.
fn plain(v: &Value) -> String {
    match v {
        Value::Null => "(none)".to_string(),
        Value::String(s) if s.is_empty() => "(empty)".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The one-line fields of an added or removed issue, as (value, name), in display order.
fn issue_lines(v: &Value) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    let get = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
    out.push((plain(&get("title")), "title"));
    let mut state = plain(&get("state"));
    if let Value::String(r) = get("state_reason") {
        let _ = write!(state, " ({})", r.replace('_', " "));
    }
    out.push((state, "state"));
    for (key, prefix) in [("labels", ""), ("assignees", "@")] {
        if let Value::Array(items) = get(key) {
            if !items.is_empty() {
                let list: Vec<String> = items
                    .iter()
                    .map(|i| format!("{prefix}{}", plain(i)))
                    .collect();
                out.push((
                    list.join(", "),
                    if key == "labels" {
                        "labels"
                    } else {
                        "assignees"
                    },
                ));
            }
        }
    }
    if let Value::String(m) = get("milestone") {
        out.push((m, "milestone"));
    }
    if get("locked") == Value::Bool(true) {
        let why = match get("lock_reason") {
            Value::String(r) => format!("yes ({r})"),
            _ => "yes".to_string(),
        };
        out.push((why, "locked"));
    }
    for (key, name) in [
        ("issue_type", "type"),
        ("parent", "parent"),
        ("reactions", "reactions"),
        ("sub_issues", "sub-issues"),
        ("blocked_by", "blocked by"),
    ] {
        if let Value::String(v) = get(key) {
            out.push((v, name));
        }
    }
    if let Value::String(a) = get("author") {
        out.push((format!("@{a}"), "author"));
    }
    out
}

fn comment_item(r: RecordRef<'_>) -> Option<u64> {
    match r {
        RecordRef::Comment(c) => Some(c.issue_number),
        _ => None,
    }
}

fn comment_body(r: RecordRef<'_>) -> Cow<'_, str> {
    match r {
        RecordRef::Comment(c) => Cow::Borrowed(&c.body),
        _ => Cow::Borrowed(""),
    }
}

fn comment_whole(r: RecordRef<'_>) -> Value {
    let RecordRef::Comment(c) = r else {
        return Value::Null;
    };
    json!({ "id": c.id, "issue": c.issue_number, "body": c.body, "author": c.author })
}
