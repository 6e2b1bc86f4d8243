//! Handlers for what links and shapes issues beyond their own fields: assignees added and
//! removed, the conversation lock, sub-issues (list, add, remove, reprioritize, parent),
//! dependencies (blocked by, blocking), issue types and a milestone's labels. Statuses and
//! shapes follow GitHub's OpenAPI description and PyGithub's recorded traffic: a sub-issue or
//! dependency write answers with the issue written to (201 on add, 200 on remove), lock and
//! unlock with 204.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::Extension;
use serde_json::Value;

use super::http::{check_repo, parse_body, Actor, ApiError, Ctx, Params, Reply};
use super::issues::{names, number};
use super::render::Render;
use super::schema::{Shape, BOOLEAN, INTEGER, STRING_OR_OBJECT};
use super::state::{Issue, Label, State as Store};
use super::Shared;

type IssuePath = Path<(String, String, String)>;
type Query_ = Query<Vec<(String, String)>>;

/// The issue at `n`, rendered (what the sub-issue and dependency writes answer with).
fn issue_reply(ctx: &Ctx, st: &Store, n: u64, created: bool) -> Result<Reply, ApiError> {
    let v = Render::new(ctx, st).issue(st.issue(n)?);
    Ok(if created {
        Reply::created(&v)
    } else {
        Reply::ok(&v)
    })
}

/// A page of issues by number, in the given order.
fn issue_page(ctx: &Ctx, st: &Store, q: &Params, numbers: &[u64]) -> Reply {
    let paging = q.page();
    let issues = numbers
        .iter()
        .filter_map(|&n| st.issues.get((n as usize).wrapping_sub(1)))
        .filter(|i: &&Issue| !i.deleted);
    let (page, total) = paging.take(issues);
    let r = Render::new(ctx, st);
    let body = Value::Array(page.into_iter().map(|i| r.issue(i)).collect());
    Reply::ok(&body).with_link(paging.link(ctx, q, total))
}

/// An integer field the schema has already checked.
fn int(o: &serde_json::Map<String, Value>, key: &str) -> Option<u64> {
    o.get(key).and_then(Value::as_u64)
}

/// `POST …/issues/{n}/assignees` (201) and `DELETE` (200), both answering with the issue.
async fn assignees(
    sb: Arc<Shared>,
    ctx: Ctx,
    actor: usize,
    (owner, repo, n): (String, String, String),
    body: Bytes,
    add: bool,
) -> Result<Reply, ApiError> {
    let n = number(&n)?;
    let v = parse_body(&body)?;
    let o = Shape::of(&v)?
        .array_of("assignees", STRING_OR_OBJECT)
        .check()?;
    let logins = match o.get("assignees") {
        Some(a) => names(a, "login", "Issue", "assignees")?,
        None => Vec::new(),
    };
    let mut st = sb.write();
    check_repo(&st, &owner, &repo)?;
    st.change_assignees(n, &logins, add, actor)?;
    issue_reply(&ctx, &st, n, add)
}

pub(crate) async fn assignees_add(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Actor(actor): Actor,
    Path(p): IssuePath,
    body: Bytes,
) -> Result<Reply, ApiError> {
    assignees(sb, ctx, actor, p, body, true).await
}

pub(crate) async fn assignees_remove(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Actor(actor): Actor,
    Path(p): IssuePath,
    body: Bytes,
) -> Result<Reply, ApiError> {
    assignees(sb, ctx, actor, p, body, false).await
}

/// `PUT …/issues/{n}/lock` with an optional `lock_reason`.
pub(crate) async fn lock(
    State(sb): State<Arc<Shared>>,
    Actor(actor): Actor,
    Path((owner, repo, n)): IssuePath,
    body: Bytes,
) -> Result<Reply, ApiError> {
    let n = number(&n)?;
    let v = parse_body(&body)?;
    // GitHub's schema allows a null body.
    let v = if v.is_null() {
        serde_json::json!({})
    } else {
        v
    };
    let o = Shape::of(&v)?
        .one_of("lock_reason", super::state::LOCK_REASONS, false)
        .check()?;
    let reason = o.get("lock_reason").and_then(Value::as_str);
    let mut st = sb.write();
    check_repo(&st, &owner, &repo)?;
    st.lock_issue(n, reason, actor)?;
    Ok(Reply::no_content())
}

pub(crate) async fn unlock(
    State(sb): State<Arc<Shared>>,
    Actor(actor): Actor,
    Path((owner, repo, n)): IssuePath,
) -> Result<Reply, ApiError> {
    let n = number(&n)?;
    let mut st = sb.write();
    check_repo(&st, &owner, &repo)?;
    st.unlock_issue(n, actor)?;
    Ok(Reply::no_content())
}

/// `GET …/issues/{n}/sub_issues`, in priority order.
pub(crate) async fn sub_issues(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo, n)): IssuePath,
    Query(q): Query_,
) -> Result<Reply, ApiError> {
    let q = Params(q);
    let st = sb.read();
    check_repo(&st, &owner, &repo)?;
    let children = st.issue(number(&n)?)?.sub_issues.clone();
    Ok(issue_page(&ctx, &st, &q, &children))
}

/// `GET …/issues/{n}/parent`: 404 for an issue without a parent.
pub(crate) async fn parent(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo, n)): IssuePath,
) -> Result<Reply, ApiError> {
    let st = sb.read();
    check_repo(&st, &owner, &repo)?;
    let p = st
        .issue(number(&n)?)?
        .parent
        .ok_or_else(ApiError::not_found)?;
    issue_reply(&ctx, &st, p, false)
}

pub(crate) async fn sub_issue_add(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Actor(actor): Actor,
    Path((owner, repo, n)): IssuePath,
    body: Bytes,
) -> Result<Reply, ApiError> {
    let n = number(&n)?;
    let v = parse_body(&body)?;
    let o = Shape::of(&v)?
        .required("sub_issue_id")
        .kinds("sub_issue_id", INTEGER)
        .kinds("replace_parent", BOOLEAN)
        .check()?;
    let child = int(o, "sub_issue_id").unwrap_or_default();
    let replace = o
        .get("replace_parent")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut st = sb.write();
    check_repo(&st, &owner, &repo)?;
    st.add_sub_issue(n, child, replace, actor)?;
    issue_reply(&ctx, &st, n, true)
}

/// `DELETE …/issues/{n}/sub_issue` (singular, with the child in the body), as GitHub has it.
pub(crate) async fn sub_issue_remove(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Actor(actor): Actor,
    Path((owner, repo, n)): IssuePath,
    body: Bytes,
) -> Result<Reply, ApiError> {
    let n = number(&n)?;
    let v = parse_body(&body)?;
    let o = Shape::of(&v)?
        .required("sub_issue_id")
        .kinds("sub_issue_id", INTEGER)
        .check()?;
    let child = int(o, "sub_issue_id").unwrap_or_default();
    let mut st = sb.write();
    check_repo(&st, &owner, &repo)?;
    st.remove_sub_issue(n, child, actor)?;
    issue_reply(&ctx, &st, n, false)
}

pub(crate) async fn sub_issue_priority(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo, n)): IssuePath,
    body: Bytes,
) -> Result<Reply, ApiError> {
    let n = number(&n)?;
    let v = parse_body(&body)?;
    let o = Shape::of(&v)?
        .required("sub_issue_id")
        .kinds("sub_issue_id", INTEGER)
        .kinds("after_id", INTEGER)
        .kinds("before_id", INTEGER)
        .check()?;
    let child = int(o, "sub_issue_id").unwrap_or_default();
    let mut st = sb.write();
    check_repo(&st, &owner, &repo)?;
    st.reprioritize_sub_issue(n, child, int(o, "after_id"), int(o, "before_id"))?;
    issue_reply(&ctx, &st, n, false)
}

/// `GET …/issues/{n}/dependencies/blocked_by`.
pub(crate) async fn blocked_by(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo, n)): IssuePath,
    Query(q): Query_,
) -> Result<Reply, ApiError> {
    let q = Params(q);
    let st = sb.read();
    check_repo(&st, &owner, &repo)?;
    let list = st.issue(number(&n)?)?.blocked_by.clone();
    Ok(issue_page(&ctx, &st, &q, &list))
}

/// `GET …/issues/{n}/dependencies/blocking`.
pub(crate) async fn blocking(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo, n)): IssuePath,
    Query(q): Query_,
) -> Result<Reply, ApiError> {
    let q = Params(q);
    let st = sb.read();
    check_repo(&st, &owner, &repo)?;
    let list = st.issue(number(&n)?)?.blocking.clone();
    Ok(issue_page(&ctx, &st, &q, &list))
}

pub(crate) async fn blocked_by_add(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Actor(actor): Actor,
    Path((owner, repo, n)): IssuePath,
    body: Bytes,
) -> Result<Reply, ApiError> {
    let n = number(&n)?;
    let v = parse_body(&body)?;
    let o = Shape::of(&v)?
        .required("issue_id")
        .kinds("issue_id", INTEGER)
        .check()?;
    let blocker = int(o, "issue_id").unwrap_or_default();
    let mut st = sb.write();
    check_repo(&st, &owner, &repo)?;
    st.add_blocked_by(n, blocker, actor)?;
    issue_reply(&ctx, &st, n, true)
}

pub(crate) async fn blocked_by_remove(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Actor(actor): Actor,
    Path((owner, repo, n, id)): Path<(String, String, String, String)>,
) -> Result<Reply, ApiError> {
    let n = number(&n)?;
    let id = id.parse::<u64>().map_err(|_| ApiError::not_found())?;
    let mut st = sb.write();
    check_repo(&st, &owner, &repo)?;
    st.remove_blocked_by(n, id, actor)?;
    issue_reply(&ctx, &st, n, false)
}

/// `GET /orgs/{org}/issue-types`: the organisation's types (404 for any other org).
pub(crate) async fn org_issue_types(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path(org): Path<String>,
) -> Result<Reply, ApiError> {
    let st = sb.read();
    if !st.owner.eq_ignore_ascii_case(&org) {
        return Err(ApiError::not_found());
    }
    let r = Render::new(&ctx, &st);
    let body = Value::Array(st.issue_types.iter().map(|t| r.issue_type(t)).collect());
    Ok(Reply::ok(&body))
}

/// `GET /repos/{owner}/{repo}/issue-types`: the types issues of the repository can take.
pub(crate) async fn repo_issue_types(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo)): Path<(String, String)>,
) -> Result<Reply, ApiError> {
    let st = sb.read();
    check_repo(&st, &owner, &repo)?;
    let r = Render::new(&ctx, &st);
    let body = Value::Array(st.issue_types.iter().map(|t| r.issue_type(t)).collect());
    Ok(Reply::ok(&body))
}

/// `GET …/milestones/{n}/labels`: the labels of the milestone's issues, by name.
pub(crate) async fn milestone_labels(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo, n)): IssuePath,
    Query(q): Query_,
) -> Result<Reply, ApiError> {
    let q = Params(q);
    let st = sb.read();
    check_repo(&st, &owner, &repo)?;
    let m = st.milestone(number(&n)?)?.number;
    let mut ids: Vec<u64> = st
        .issues
        .iter()
        .filter(|i| !i.deleted && i.milestone == Some(m))
        .flat_map(|i| i.labels.iter().copied())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut labels: Vec<&Label> = ids.iter().filter_map(|id| st.labels.get(id)).collect();
    labels.sort_by_key(|l| (l.name.to_lowercase(), l.id));
    let paging = q.page();
    let (page, total) = paging.take(labels.into_iter());
    let r = Render::new(&ctx, &st);
    let body = Value::Array(page.into_iter().map(|l| r.label(l)).collect());
    Ok(Reply::ok(&body).with_link(paging.link(&ctx, &q, total)))
}
