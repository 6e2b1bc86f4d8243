//! Issue handlers: list (with GitHub's filters, sorts and paging), get, create, update and the
//! sandbox-only delete.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::Extension;
use serde_json::Value;

use super::http::{check_repo, parse_body, Actor, ApiError, Ctx, Params, Reply};
use super::render::Render;
use super::schema::{
    Shape, INT_OR_STRING, INT_STRING_OR_NULL, STRING, STRING_OR_NULL, STRING_OR_OBJECT,
};
use super::state::{Issue, IssueChange, State as Store, StateReason};
use super::Shared;

type RepoPath = Path<(String, String)>;
type IssuePath = Path<(String, String, String)>;

/// Parses an issue number from the path; anything else is a 404 like on GitHub.
pub(crate) fn number(s: &str) -> Result<u64, ApiError> {
    s.parse::<u64>().map_err(|_| ApiError::not_found())
}

/// Which issues a listing keeps, from its query parameters.
struct Filter {
    state: Option<bool>,
    labels: Option<Vec<u64>>,
    milestone: Option<Option<Option<u64>>>,
    assignee: Option<Option<Option<usize>>>,
    creator: Option<Option<usize>>,
    /// Outer: given; middle: `*` (any type) vs specific; inner: `none` vs a type id.
    issue_type: Option<Option<Option<u64>>>,
    /// Lower-cased `@login` that must appear in the body or a comment.
    mentioned: Option<String>,
    since: Option<i64>,
}

impl Filter {
    /// `None` = the query cannot match anything (unknown label, user or milestone).
    fn parse(st: &Store, q: &Params) -> Result<Option<Filter>, ApiError> {
        let state = match q.get("state").unwrap_or("open") {
            "closed" => Some(false),
            "all" => None,
            _ => Some(true),
        };
        let labels = match q.get("labels").filter(|l| !l.trim().is_empty()) {
            None => None,
            Some(list) => {
                let mut ids = Vec::new();
                for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    match st.label_by_name(name) {
                        Some(l) => ids.push(l.id),
                        None => return Ok(None),
                    }
                }
                Some(ids)
            }
        };
        // Outer Option: filter given; middle: `*` (any) vs specific; inner: none vs value.
        let milestone = match q.get("milestone") {
            None => None,
            Some("*") => Some(None),
            Some("none") => Some(Some(None)),
            Some(m) => match m
                .parse::<u64>()
                .ok()
                .filter(|n| st.milestones.contains_key(n))
            {
                Some(n) => Some(Some(Some(n))),
                None => return Ok(None),
            },
        };
        let assignee = match q.get("assignee") {
            None => None,
            Some("*") => Some(None),
            Some("none") => Some(Some(None)),
            Some(login) => match st.user_by_login(login) {
                Some(u) => Some(Some(Some(u))),
                None => return Ok(None),
            },
        };
        let creator = match q.get("creator") {
            None => None,
            Some(login) => match st.user_by_login(login) {
                Some(u) => Some(Some(u)),
                None => return Ok(None),
            },
        };
        let issue_type = match q.get("type") {
            None => None,
            Some("*") => Some(None),
            Some("none") => Some(Some(None)),
            Some(name) => match st.issue_type_by_name(name) {
                Some(t) => Some(Some(Some(t.id))),
                None => return Ok(None),
            },
        };
        let mentioned = match q.get("mentioned") {
            None => None,
            Some(login) => match st.user_by_login(login) {
                Some(u) => Some(format!("@{}", st.users[u].login.to_lowercase())),
                None => return Ok(None),
            },
        };
        Ok(Some(Filter {
            state,
            labels,
            milestone,
            assignee,
            creator,
            issue_type,
            mentioned,
            since: q.since()?,
        }))
    }

    fn keeps(&self, st: &Store, i: &Issue) -> bool {
        !i.deleted
            && self.state.is_none_or(|open| i.open == open)
            && self.since.is_none_or(|s| i.updated_at >= s)
            && self
                .labels
                .as_ref()
                .is_none_or(|ls| ls.iter().all(|l| i.labels.contains(l)))
            && match self.milestone {
                None => true,
                Some(None) => i.milestone.is_some(),
                Some(Some(m)) => i.milestone == m,
            }
            && match self.assignee {
                None => true,
                Some(None) => !i.assignees.is_empty(),
                Some(Some(None)) => i.assignees.is_empty(),
                Some(Some(Some(u))) => i.assignees.contains(&u),
            }
            && self.creator.is_none_or(|c| c == Some(i.user))
            && match self.issue_type {
                None => true,
                Some(None) => i.issue_type.is_some(),
                Some(Some(t)) => i.issue_type == t,
            }
            && self.mentioned.as_deref().is_none_or(|m| mentions(st, i, m))
    }
}

/// Whether `@login` (lower-cased, with the `@`) appears as a whole mention in the issue's
/// body or one of its comments.
fn mentions(st: &Store, i: &Issue, at: &str) -> bool {
    let hit = |text: &str| {
        let lower = text.to_lowercase();
        lower.match_indices(at).any(|(k, _)| {
            let before_ok = k == 0
                || !lower[..k]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_ascii_alphanumeric());
            let after_ok = !lower[k + at.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-');
            before_ok && after_ok
        })
    };
    i.body.as_deref().is_some_and(hit)
        || i.comment_ids
            .iter()
            .filter_map(|c| st.comments.get(c))
            .any(|c| hit(&c.body))
}

/// `GET /repos/{owner}/{repo}/issues`.
pub(crate) async fn list(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo)): RepoPath,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Reply, ApiError> {
    let q = Params(q);
    let st = sb.read();
    check_repo(&st, &owner, &repo)?;
    let paging = q.page();
    let desc = q.desc(true);
    let Some(filter) = Filter::parse(&st, &q)? else {
        return Ok(Reply::ok(&Value::Array(Vec::new())));
    };
    let (page, total): (Vec<&Issue>, usize) = match q.get("sort") {
        Some("updated") => {
            // Range scan of the updated_at index: `since` skips everything older.
            let from = (filter.since.unwrap_or(i64::MIN), 0);
            let issues = |(_, n): &(i64, u64)| st.issues.get((*n as usize).wrapping_sub(1));
            let range = st.by_updated.range(from..);
            if desc {
                paging.take(
                    range
                        .rev()
                        .filter_map(issues)
                        .filter(|i| filter.keeps(&st, i)),
                )
            } else {
                paging.take(range.filter_map(issues).filter(|i| filter.keeps(&st, i)))
            }
        }
        Some("comments") => {
            let mut all: Vec<&Issue> = st.issues.iter().filter(|i| filter.keeps(&st, i)).collect();
            all.sort_by_key(|i| (i.comment_ids.len(), i.created_at, i.number));
            if desc {
                all.reverse();
            }
            paging.take(all.into_iter())
        }
        // Numbers follow creation order, so `created` needs no index.
        _ if desc => paging.take(st.issues.iter().rev().filter(|i| filter.keeps(&st, i))),
        _ => paging.take(st.issues.iter().filter(|i| filter.keeps(&st, i))),
    };
    let r = Render::new(&ctx, &st);
    let body = Value::Array(page.into_iter().map(|i| r.issue(i)).collect());
    Ok(Reply::ok(&body).with_link(paging.link(&ctx, &q, total)))
}

pub(crate) async fn get_one(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo, n)): IssuePath,
) -> Result<Reply, ApiError> {
    let st = sb.read();
    check_repo(&st, &owner, &repo)?;
    let issue = st.issue(number(&n)?)?;
    Ok(Reply::ok(&Render::new(&ctx, &st).issue(issue)))
}

pub(crate) async fn create(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Actor(actor): Actor,
    Path((owner, repo)): RepoPath,
    body: Bytes,
) -> Result<Reply, ApiError> {
    let change = parse_change(&parse_body(&body)?, true)?;
    let mut st = sb.write();
    check_repo(&st, &owner, &repo)?;
    let n = st.create_issue(change, actor)?;
    let issue = st.issue(n)?;
    Ok(Reply::created(&Render::new(&ctx, &st).issue(issue)))
}

pub(crate) async fn update(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Actor(actor): Actor,
    Path((owner, repo, n)): IssuePath,
    body: Bytes,
) -> Result<Reply, ApiError> {
    let change = parse_change(&parse_body(&body)?, false)?;
    let n = number(&n)?;
    let mut st = sb.write();
    check_repo(&st, &owner, &repo)?;
    st.update_issue(n, change, actor)?;
    let issue = st.issue(n)?;
    Ok(Reply::ok(&Render::new(&ctx, &st).issue(issue)))
}

/// Sandbox-only: GitHub deletes issues through GraphQL (`deleteIssue`), not REST.
pub(crate) async fn delete(
    State(sb): State<Arc<Shared>>,
    Path((owner, repo, n)): IssuePath,
) -> Result<Reply, ApiError> {
    let n = number(&n)?;
    let mut st = sb.write();
    check_repo(&st, &owner, &repo)?;
    st.delete_issue(n)?;
    Ok(Reply::no_content())
}

fn invalid(field: &str) -> ApiError {
    ApiError::validation("Issue", field, "invalid")
}

/// Label or login names from `["a", "b"]` or objects naming them (`[{"name": "a"}]` for
/// labels, `[{"login": "a"}]` for assignees); a bare string is one name and `null` none (the
/// issue-label endpoints take those too).
pub(crate) fn names(
    v: &Value,
    key: &str,
    resource: &str,
    field: &str,
) -> Result<Vec<String>, ApiError> {
    let named = |x: &Value| match x {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get(key).and_then(Value::as_str).map(str::to_owned),
        _ => None,
    };
    match v {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|x| named(x).ok_or_else(|| ApiError::validation(resource, field, "invalid")))
            .collect(),
        _ => Err(ApiError::validation(resource, field, "invalid")),
    }
}

/// Reads an issue POST (`create`) or PATCH body: its shape first, against GitHub's schema
/// for the operation, then each field. Absent fields stay `None`.
fn parse_change(v: &Value, create: bool) -> Result<IssueChange, ApiError> {
    let mut shape = Shape::of(v)?;
    if create {
        // `state` is not part of a create: GitHub ignores it and opens the issue.
        shape.required("title").kinds("title", INT_OR_STRING);
    } else {
        shape
            .kinds("title", INT_STRING_OR_NULL)
            .one_of("state", &["open", "closed"], false)
            .one_of("state_reason", StateReason::NAMES, true);
    }
    let o = shape
        .kinds("body", STRING_OR_NULL)
        .kinds("assignee", STRING_OR_NULL)
        .kinds("milestone", INT_STRING_OR_NULL)
        .kinds("type", STRING_OR_NULL)
        .array_of("labels", STRING_OR_OBJECT)
        .array_of("assignees", if create { STRING } else { STRING_OR_OBJECT })
        .check()?;
    let mut c = IssueChange::default();
    if let Some(t) = o.get("title") {
        // A number is a title too ("title": 59437 makes "59437"); null blanks it, which a
        // title cannot be.
        c.title = Some(match t {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            _ => String::new(),
        });
    }
    if let Some(b) = o.get("body") {
        c.body = Some(b.as_str().map(str::to_owned));
    }
    // The reason only counts with a state: "Ignored unless `state` is changed."
    if let Some(state) = o.get("state").and_then(Value::as_str).filter(|_| !create) {
        c.open = Some(state == "open");
        if let Some(r) = o.get("state_reason") {
            c.state_reason = Some(r.as_str().and_then(StateReason::parse));
        }
    }
    if let Some(l) = o.get("labels") {
        c.labels = Some(names(l, "name", "Label", "name")?);
    }
    if let Some(a) = o.get("assignees") {
        c.assignees = Some(names(a, "login", "Issue", "assignees")?);
    } else if let Some(a) = o.get("assignee") {
        // The deprecated single-assignee field; its errors name it.
        c.assignees = Some(names(a, "login", "Issue", "assignee")?);
        c.assignee_field = "assignee";
    }
    if let Some(t) = o.get("type") {
        c.issue_type = Some(t.as_str().map(str::to_owned));
    }
    if let Some(m) = o.get("milestone") {
        c.milestone = Some(match m {
            Value::Null => None,
            Value::Number(n) => Some(n.as_u64().ok_or_else(|| invalid("milestone"))?),
            // PyGithub clears a milestone with "": so does GitHub. A title is not a number.
            Value::String(s) if s.trim().is_empty() => None,
            Value::String(s) => Some(s.trim().parse().map_err(|_| invalid("milestone"))?),
            _ => return Err(invalid("milestone")),
        });
    }
    Ok(c)
}
