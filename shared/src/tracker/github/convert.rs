//! GitHub JSON → normalized records. Tolerant of missing optional fields, strict about the
//! identity fields without which a record cannot be stored or restored.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::record::{Comment, Issue, IssueModel, Label, Milestone, MilestoneRef, State};
use crate::tracker::TrackerError;

fn bad(path: &str, detail: String) -> TrackerError {
    TrackerError::Decode {
        service: "GitHub".into(),
        path: path.to_string(),
        detail,
    }
}

fn req_u64(v: &Value, field: &str, path: &str) -> Result<u64, TrackerError> {
    v.get(field)
        .and_then(Value::as_u64)
        .ok_or_else(|| bad(path, format!("missing numeric `{field}`")))
}

fn req_str<'a>(v: &'a Value, field: &str, path: &str) -> Result<&'a str, TrackerError> {
    v.get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(path, format!("missing string `{field}`")))
}

fn opt_str(v: &Value, field: &str) -> Option<String> {
    v.get(field).and_then(Value::as_str).map(str::to_string)
}

fn opt_time(v: &Value, field: &str) -> Option<DateTime<Utc>> {
    v.get(field)
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn req_time(v: &Value, field: &str, path: &str) -> Result<DateTime<Utc>, TrackerError> {
    opt_time(v, field).ok_or_else(|| bad(path, format!("missing timestamp `{field}`")))
}

fn state(v: &Value, path: &str) -> Result<State, TrackerError> {
    match req_str(v, "state", path)? {
        "open" => Ok(State::Open),
        "closed" => Ok(State::Closed),
        other => Err(bad(path, format!("unknown state {other:?}"))),
    }
}

fn login(v: Option<&Value>) -> Option<String> {
    v.and_then(|u| u.get("login"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The fields of a milestone that an issue's copy of it does not keep.
///
/// An issue embeds a copy of its milestone, including the milestone's running totals
/// (`open_issues`, `closed_issues`) and `updated_at`, which change whenever *another* issue
/// of the milestone opens or closes, without touching this issue's `updated_at`. Kept, they
/// would make every issue of a milestone a new blob on each such change, and an
/// incremental capture (which only re-reads updated issues) could never match a full one.
/// The milestone's own record keeps those totals.
const MILESTONE_AGGREGATES: [&str; 3] = ["open_issues", "closed_issues", "updated_at"];

/// A milestone object (as the milestones listing or an issue gives it) as an issue's record
/// keeps its copy.
pub fn milestone_copy(mut milestone: Value) -> Value {
    if let Some(m) = milestone.as_object_mut() {
        for volatile in MILESTONE_AGGREGATES {
            m.remove(volatile);
        }
    }
    milestone
}

/// Parts of an issue that change without its `updated_at` moving: other issues' states
/// (a sub-issue or blocker closing), another object's edits (the pinned comment's body) and
/// reactions. Kept in the raw copy they would make an incremental capture (which re-reads
/// only updated issues) differ from a full one, so the copy keeps what is stable: the
/// pinned comment's id, and the totals of sub-issues and dependencies (which move with link
/// writes only, which the activity log names, so an incremental capture reads those issues
/// again; see `links`). The reaction counts live in [`IssueModel::reactions`] instead; the
/// sub-issue order and blockers are filled from their own listings.
fn stable_copy(raw: &mut Value) -> IssueModel {
    let reactions = raw
        .get("reactions")
        .and_then(Value::as_object)
        .map(|r| {
            r.iter()
                .filter(|(k, _)| *k != "url" && *k != "total_count")
                .filter_map(|(k, v)| Some((k.clone(), v.as_u64().filter(|&n| n > 0)?)))
                .collect()
        })
        .unwrap_or_default();
    let pinned_comment = raw
        .get("pinned_comment")
        .and_then(|c| c.get("id"))
        .and_then(Value::as_u64);
    let model = IssueModel {
        issue_type: raw
            .get("type")
            .and_then(|t| t.get("name"))
            .and_then(Value::as_str)
            .map(str::to_string),
        parent: raw
            .get("parent_issue_url")
            .and_then(Value::as_str)
            .and_then(|u| u.rsplit('/').next())
            .and_then(|n| n.parse().ok()),
        lock_reason: opt_str(raw, "active_lock_reason"),
        pinned_comment,
        reactions,
        sub_issues: Vec::new(),
        blocked_by: Vec::new(),
    };
    if let Some(o) = raw.as_object_mut() {
        o.remove("reactions");
        if let Some(s) = o
            .get_mut("sub_issues_summary")
            .and_then(Value::as_object_mut)
        {
            s.remove("completed");
            s.remove("percent_completed");
        }
        if let Some(s) = o
            .get_mut("issue_dependencies_summary")
            .and_then(Value::as_object_mut)
        {
            s.remove("blocked_by");
            s.remove("blocking");
        }
        if let Some(id) = pinned_comment {
            o.insert("pinned_comment".into(), serde_json::json!({ "id": id }));
        }
    }
    model
}

/// One element of an issues listing.
pub fn issue(mut raw: Value, path: &str) -> Result<Issue, TrackerError> {
    if let Some(m) = raw.get_mut("milestone") {
        *m = milestone_copy(m.take());
    }
    let model = stable_copy(&mut raw);
    let mut labels: Vec<String> = raw
        .get("labels")
        .and_then(Value::as_array)
        .map(|ls| {
            ls.iter()
                .filter_map(|l| match l {
                    // The API returns objects; some older endpoints return bare names.
                    Value::String(s) => Some(s.clone()),
                    other => opt_str(other, "name"),
                })
                .collect()
        })
        .unwrap_or_default();
    labels.sort();
    labels.dedup();
    let mut assignees: Vec<String> = raw
        .get("assignees")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|u| login(Some(u))).collect())
        .unwrap_or_default();
    assignees.sort();
    assignees.dedup();
    let milestone = match raw.get("milestone") {
        Some(m) if m.is_object() => Some(MilestoneRef {
            number: req_u64(m, "number", path)?,
            title: req_str(m, "title", path)?.to_string(),
        }),
        _ => None,
    };
    Ok(Issue {
        number: req_u64(&raw, "number", path)?,
        id: req_u64(&raw, "id", path)?,
        title: req_str(&raw, "title", path)?.to_string(),
        body: opt_str(&raw, "body"),
        state: state(&raw, path)?,
        state_reason: opt_str(&raw, "state_reason"),
        labels,
        assignees,
        milestone,
        author: login(raw.get("user")),
        locked: raw.get("locked").and_then(Value::as_bool).unwrap_or(false),
        pull_request: raw.get("pull_request").is_some_and(|p| !p.is_null()),
        comments: raw.get("comments").and_then(Value::as_u64).unwrap_or(0),
        created_at: req_time(&raw, "created_at", path)?,
        updated_at: req_time(&raw, "updated_at", path)?,
        closed_at: opt_time(&raw, "closed_at"),
        html_url: opt_str(&raw, "html_url"),
        model,
        raw,
    })
}

/// The issue number a comment belongs to, from its `issue_url` (`…/issues/12`).
fn issue_number_of(raw: &Value, path: &str) -> Result<u64, TrackerError> {
    let url = req_str(raw, "issue_url", path)?;
    url.rsplit('/')
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| bad(path, format!("cannot read the issue number from {url:?}")))
}

/// One element of a comments listing.
pub fn comment(raw: Value, path: &str) -> Result<Comment, TrackerError> {
    Ok(Comment {
        id: req_u64(&raw, "id", path)?,
        issue_number: issue_number_of(&raw, path)?,
        body: opt_str(&raw, "body").unwrap_or_default(),
        author: login(raw.get("user")),
        created_at: req_time(&raw, "created_at", path)?,
        updated_at: req_time(&raw, "updated_at", path)?,
        html_url: opt_str(&raw, "html_url"),
        raw,
    })
}

/// One element of a labels listing.
pub fn label(raw: Value, path: &str) -> Result<Label, TrackerError> {
    Ok(Label {
        id: req_u64(&raw, "id", path)?,
        name: req_str(&raw, "name", path)?.to_string(),
        color: opt_str(&raw, "color")
            .unwrap_or_default()
            .to_ascii_lowercase(),
        description: opt_str(&raw, "description").filter(|d| !d.is_empty()),
        raw,
    })
}

/// One element of a milestones listing.
pub fn milestone(raw: Value, path: &str) -> Result<Milestone, TrackerError> {
    Ok(Milestone {
        number: req_u64(&raw, "number", path)?,
        id: req_u64(&raw, "id", path)?,
        title: req_str(&raw, "title", path)?.to_string(),
        state: state(&raw, path)?,
        description: opt_str(&raw, "description").filter(|d| !d.is_empty()),
        due_on: opt_time(&raw, "due_on"),
        created_at: opt_time(&raw, "created_at"),
        updated_at: opt_time(&raw, "updated_at"),
        closed_at: opt_time(&raw, "closed_at"),
        raw,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn converts_an_issue_with_sorted_sets_and_pr_flag() {
        let raw = json!({
            "number": 7, "id": 1007, "title": "Crash", "body": null, "state": "closed",
            "state_reason": "not_planned", "locked": false, "comments": 3,
            "labels": [{"name": "zeta"}, {"name": "bug"}],
            "assignees": [{"login": "bob"}, {"login": "amy"}],
            "milestone": {"number": 2, "title": "v1"},
            "user": {"login": "carol"},
            "pull_request": {"url": "x"},
            "created_at": "2024-01-02T03:04:05Z", "updated_at": "2024-01-03T03:04:05Z",
            "closed_at": "2024-01-03T03:04:05Z"
        });
        let i = issue(raw, "/p").unwrap();
        assert_eq!(i.labels, ["bug", "zeta"]);
        assert_eq!(i.assignees, ["amy", "bob"]);
        assert!(i.pull_request);
        assert_eq!(i.body, None);
        assert_eq!(i.milestone.unwrap().title, "v1");
        assert_eq!(i.state, State::Closed);
    }

    #[test]
    fn comment_number_comes_from_issue_url_and_missing_ids_are_errors() {
        let raw = json!({"id": 5, "issue_url": "https://h/api/v3/repos/a/b/issues/42",
            "body": "hi", "user": {"login": "x"},
            "created_at": "2024-01-02T03:04:05Z", "updated_at": "2024-01-02T03:04:05Z"});
        assert_eq!(comment(raw, "/p").unwrap().issue_number, 42);
        let err = issue(json!({"title": "x"}), "/p").unwrap_err().to_string();
        assert!(err.contains("number"), "{err}");
    }
}
