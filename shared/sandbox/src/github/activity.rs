//! Handlers for what happens around issues: issue events (per issue, repository-wide newest
//! first, one by id), the timeline (events and comments in order), reactions on issues and
//! comments, and pinning a comment.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::Extension;
use serde_json::Value;

use super::http::{check_repo, parse_body, Actor, ApiError, Ctx, Params, Reply};
use super::issues::number;
use super::render::Render;
use super::schema::{Shape, STRING};
use super::state::{Event, Subject, Ts, REACTIONS};
use super::Shared;

type IssuePath = Path<(String, String, String)>;
type Query_ = Query<Vec<(String, String)>>;

fn id(s: &str) -> Result<u64, ApiError> {
    s.parse::<u64>().map_err(|_| ApiError::not_found())
}

/// `GET …/issues/{n}/events`, oldest first.
pub(crate) async fn issue_events(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo, n)): IssuePath,
    Query(q): Query_,
) -> Result<Reply, ApiError> {
    let q = Params(q);
    let st = sb.read();
    check_repo(&st, &owner, &repo)?;
    let n = st.issue(number(&n)?)?.number;
    let paging = q.page();
    let (page, total) = paging.take(st.events.iter().filter(|e| e.issue == n));
    let r = Render::new(&ctx, &st);
    let body = Value::Array(page.into_iter().map(|e| r.event(e, false)).collect());
    Ok(Reply::ok(&body).with_link(paging.link(&ctx, &q, total)))
}

/// `GET /repos/{owner}/{repo}/issues/events`: every issue's events, newest first, each with
/// its issue. One request per 100 events is what attributing a diff costs.
pub(crate) async fn repo_events(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo)): Path<(String, String)>,
    Query(q): Query_,
) -> Result<Reply, ApiError> {
    let q = Params(q);
    let st = sb.read();
    check_repo(&st, &owner, &repo)?;
    let paging = q.page();
    let live = |e: &&Event| {
        st.issues
            .get(super::state::slot(e.issue))
            .is_some_and(|i| !i.deleted)
    };
    let (page, total) = paging.take(st.events.iter().rev().filter(live));
    let r = Render::new(&ctx, &st);
    let body = Value::Array(page.into_iter().map(|e| r.event(e, true)).collect());
    Ok(Reply::ok(&body).with_link(paging.link(&ctx, &q, total)))
}

/// `GET …/issues/events/{id}`.
pub(crate) async fn event(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo, event)): IssuePath,
) -> Result<Reply, ApiError> {
    let st = sb.read();
    check_repo(&st, &owner, &repo)?;
    let e = st.event(id(&event)?).ok_or_else(ApiError::not_found)?;
    st.issue(e.issue)?;
    Ok(Reply::ok(&Render::new(&ctx, &st).event(e, true)))
}

/// `GET …/issues/{n}/timeline`: the issue's events and comments (`commented`), in order.
pub(crate) async fn timeline(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo, n)): IssuePath,
    Query(q): Query_,
) -> Result<Reply, ApiError> {
    let q = Params(q);
    let st = sb.read();
    check_repo(&st, &owner, &repo)?;
    let issue = st.issue(number(&n)?)?;
    enum Item<'a> {
        Event(&'a Event),
        Comment(u64),
    }
    let mut items: Vec<(Ts, u8, u64, Item)> = st
        .events
        .iter()
        .filter(|e| e.issue == issue.number)
        .map(|e| (e.created_at, 0, e.id, Item::Event(e)))
        .collect();
    for &c in &issue.comment_ids {
        if let Some(comment) = st.comments.get(&c) {
            items.push((comment.created_at, 1, c, Item::Comment(c)));
        }
    }
    items.sort_by_key(|(t, k, id, _)| (*t, *k, *id));
    let paging = q.page();
    let (page, total) = paging.take(items.into_iter());
    let r = Render::new(&ctx, &st);
    let body = Value::Array(
        page.into_iter()
            .filter_map(|(_, _, _, item)| match item {
                Item::Event(e) => Some(r.event(e, false)),
                Item::Comment(c) => st.comments.get(&c).map(|c| {
                    let mut v = r.comment(c);
                    v["event"] = Value::String("commented".into());
                    v["actor"] = r.user(c.user);
                    v
                }),
            })
            .collect(),
    );
    Ok(Reply::ok(&body).with_link(paging.link(&ctx, &q, total)))
}

/// Which subject a reaction route names, checked to exist.
fn subject(st: &super::state::State, issue: bool, raw: &str) -> Result<Subject, ApiError> {
    if issue {
        Ok(Subject::Issue(st.issue(number(raw)?)?.number))
    } else {
        Ok(Subject::Comment(st.comment(id(raw)?)?.id))
    }
}

async fn list_reactions(
    sb: Arc<Shared>,
    ctx: Ctx,
    (owner, repo, raw): (String, String, String),
    q: Params,
    issue: bool,
) -> Result<Reply, ApiError> {
    let st = sb.read();
    check_repo(&st, &owner, &repo)?;
    let s = subject(&st, issue, &raw)?;
    let content = q.get("content");
    if let Some(c) = content {
        if !REACTIONS.contains(&c) {
            return Err(ApiError::validation("Reaction", "content", "invalid"));
        }
    }
    let paging = q.page();
    let (page, total) = paging.take(
        st.reactions_on(s)
            .into_iter()
            .filter(|r| content.is_none_or(|c| r.content == c)),
    );
    let r = Render::new(&ctx, &st);
    let body = Value::Array(page.into_iter().map(|x| r.reaction(x)).collect());
    Ok(Reply::ok(&body).with_link(paging.link(&ctx, &q, total)))
}

/// Creates a reaction: 201, or 200 with the existing one when this user already reacted so.
async fn create_reaction(
    sb: Arc<Shared>,
    ctx: Ctx,
    actor: usize,
    (owner, repo, raw): (String, String, String),
    body: Bytes,
    issue: bool,
) -> Result<Reply, ApiError> {
    let v = parse_body(&body)?;
    let o = Shape::of(&v)?
        .required("content")
        .kinds("content", STRING)
        .one_of("content", REACTIONS, false)
        .check()?;
    let content = o.get("content").and_then(Value::as_str).unwrap_or("");
    let mut st = sb.write();
    check_repo(&st, &owner, &repo)?;
    let s = subject(&st, issue, &raw)?;
    let (rid, created) = st.add_reaction(s, content, actor)?;
    let reaction = st.reactions.get(&rid).ok_or_else(ApiError::not_found)?;
    let v = Render::new(&ctx, &st).reaction(reaction);
    Ok(if created {
        Reply::json(axum::http::StatusCode::CREATED, &v)
    } else {
        Reply::ok(&v)
    })
}

async fn delete_reaction(
    sb: Arc<Shared>,
    (owner, repo, raw, reaction): (String, String, String, String),
    issue: bool,
) -> Result<Reply, ApiError> {
    let mut st = sb.write();
    check_repo(&st, &owner, &repo)?;
    let s = subject(&st, issue, &raw)?;
    st.delete_reaction(s, id(&reaction)?)?;
    Ok(Reply::no_content())
}

pub(crate) async fn issue_reactions(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path(p): IssuePath,
    Query(q): Query_,
) -> Result<Reply, ApiError> {
    list_reactions(sb, ctx, p, Params(q), true).await
}

pub(crate) async fn comment_reactions(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path(p): IssuePath,
    Query(q): Query_,
) -> Result<Reply, ApiError> {
    list_reactions(sb, ctx, p, Params(q), false).await
}

pub(crate) async fn issue_react(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Actor(actor): Actor,
    Path(p): IssuePath,
    body: Bytes,
) -> Result<Reply, ApiError> {
    create_reaction(sb, ctx, actor, p, body, true).await
}

pub(crate) async fn comment_react(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Actor(actor): Actor,
    Path(p): IssuePath,
    body: Bytes,
) -> Result<Reply, ApiError> {
    create_reaction(sb, ctx, actor, p, body, false).await
}

pub(crate) async fn issue_unreact(
    State(sb): State<Arc<Shared>>,
    Path(p): Path<(String, String, String, String)>,
) -> Result<Reply, ApiError> {
    delete_reaction(sb, p, true).await
}

pub(crate) async fn comment_unreact(
    State(sb): State<Arc<Shared>>,
    Path(p): Path<(String, String, String, String)>,
) -> Result<Reply, ApiError> {
    delete_reaction(sb, p, false).await
}

/// `PUT …/issues/comments/{id}/pin`: pins the comment to its issue (one pinned at a time),
/// answering with the comment.
pub(crate) async fn pin(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo, c)): IssuePath,
) -> Result<Reply, ApiError> {
    let c = id(&c)?;
    let mut st = sb.write();
    check_repo(&st, &owner, &repo)?;
    st.pin_comment(c, true)?;
    let comment = st.comment(c)?;
    Ok(Reply::ok(&Render::new(&ctx, &st).comment(comment)))
}

pub(crate) async fn unpin(
    State(sb): State<Arc<Shared>>,
    Path((owner, repo, c)): IssuePath,
) -> Result<Reply, ApiError> {
    let c = id(&c)?;
    let mut st = sb.write();
    check_repo(&st, &owner, &repo)?;
    st.pin_comment(c, false)?;
    Ok(Reply::no_content())
}
