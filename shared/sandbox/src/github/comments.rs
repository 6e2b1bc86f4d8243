//! Issue comment handlers: repo-wide and per-issue listing, get, create, edit, delete.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::Extension;
use serde_json::Value;

use super::http::{check_repo, parse_body, Actor, ApiError, Ctx, Params, Reply};
use super::issues::number;
use super::render::Render;
use super::schema::{Shape, STRING};
use super::state::Comment;
use super::Shared;

/// `GET /repos/{owner}/{repo}/issues/comments`: ascending ids unless `sort` is given (then
/// `direction` defaults to desc, as on GitHub).
pub(crate) async fn list_repo(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo)): Path<(String, String)>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Reply, ApiError> {
    let q = Params(q);
    let st = sb.read();
    check_repo(&st, &owner, &repo)?;
    let paging = q.page();
    let sort = q.get("sort");
    let desc = sort.is_some() && q.desc(true);
    let since = q.since()?;
    let lookup = |(_, id): &(i64, u64)| st.comments.get(id);
    let (page, total): (Vec<&Comment>, usize) = match (sort, since) {
        (Some("updated"), _) => {
            let range = st
                .comments_by_updated
                .range((since.unwrap_or(i64::MIN), 0)..);
            if desc {
                paging.take(range.rev().filter_map(lookup))
            } else {
                paging.take(range.filter_map(lookup))
            }
        }
        // `since` narrows through the updated_at index, then back to creation order.
        (_, Some(since)) => {
            let mut hits: Vec<&Comment> = st
                .comments_by_updated
                .range((since, 0)..)
                .filter_map(lookup)
                .collect();
            hits.sort_unstable_by_key(|c| c.id);
            if desc {
                hits.reverse();
            }
            paging.take(hits.into_iter())
        }
        _ if desc => paging.take(st.comments.values().rev()),
        _ => paging.take(st.comments.values()),
    };
    let r = Render::new(&ctx, &st);
    let body = Value::Array(page.into_iter().map(|c| r.comment(c)).collect());
    Ok(Reply::ok(&body).with_link(paging.link(&ctx, &q, total)))
}

/// `GET /repos/{owner}/{repo}/issues/{number}/comments`, in creation order.
pub(crate) async fn list_issue(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo, n)): Path<(String, String, String)>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Reply, ApiError> {
    let q = Params(q);
    let st = sb.read();
    check_repo(&st, &owner, &repo)?;
    let issue = st.issue(number(&n)?)?;
    let paging = q.page();
    let since = q.since()?;
    let (page, total) = paging.take(
        issue
            .comment_ids
            .iter()
            .filter_map(|id| st.comments.get(id))
            .filter(|c| since.is_none_or(|s| c.updated_at >= s)),
    );
    let r = Render::new(&ctx, &st);
    let body = Value::Array(page.into_iter().map(|c| r.comment(c)).collect());
    Ok(Reply::ok(&body).with_link(paging.link(&ctx, &q, total)))
}

fn comment_id(s: &str) -> Result<u64, ApiError> {
    s.parse::<u64>().map_err(|_| ApiError::not_found())
}

/// The `body` of a comment POST/PATCH: required, a string (GitHub's schema for both).
fn body_field(bytes: &[u8]) -> Result<String, ApiError> {
    let v = parse_body(bytes)?;
    let o = Shape::of(&v)?
        .required("body")
        .kinds("body", STRING)
        .check()?;
    Ok(o.get("body")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned())
}

pub(crate) async fn get_one(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> Result<Reply, ApiError> {
    let st = sb.read();
    check_repo(&st, &owner, &repo)?;
    let c = st.comment(comment_id(&id)?)?;
    Ok(Reply::ok(&Render::new(&ctx, &st).comment(c)))
}

pub(crate) async fn create(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Actor(actor): Actor,
    Path((owner, repo, n)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Reply, ApiError> {
    let n = number(&n)?;
    let text = body_field(&body)?;
    let mut st = sb.write();
    check_repo(&st, &owner, &repo)?;
    let id = st.create_comment(n, &text, actor)?;
    let c = st.comment(id)?;
    Ok(Reply::created(&Render::new(&ctx, &st).comment(c)))
}

pub(crate) async fn update(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo, id)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Reply, ApiError> {
    let id = comment_id(&id)?;
    let text = body_field(&body)?;
    let mut st = sb.write();
    check_repo(&st, &owner, &repo)?;
    st.update_comment(id, &text)?;
    let c = st.comment(id)?;
    Ok(Reply::ok(&Render::new(&ctx, &st).comment(c)))
}

pub(crate) async fn delete(
    State(sb): State<Arc<Shared>>,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> Result<Reply, ApiError> {
    let id = comment_id(&id)?;
    let mut st = sb.write();
    check_repo(&st, &owner, &repo)?;
    st.delete_comment(id)?;
    Ok(Reply::no_content())
}
