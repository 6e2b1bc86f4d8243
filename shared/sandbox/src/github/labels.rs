//! Label handlers: the repository's labels (CRUD; deleting strips the label from every issue)
//! and an issue's labels (list, add, set, clear, remove one). Names match case-insensitively.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::Extension;
use serde_json::{Map, Value};

use super::http::{check_repo, parse_body, Actor, ApiError, Ctx, Params, Reply};
use super::issues::{names, number};
use super::render::Render;
use super::schema::{Shape, STRING, STRING_OR_NULL, STRING_OR_OBJECT};
use super::state::{Label, State as Store};
use super::Shared;

type RepoPath = Path<(String, String)>;
type ItemPath = Path<(String, String, String)>;

/// `GET /repos/{owner}/{repo}/labels`, sorted by name.
pub(crate) async fn list(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo)): RepoPath,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Reply, ApiError> {
    let q = Params(q);
    let st = sb.read();
    check_repo(&st, &owner, &repo)?;
    let mut all: Vec<&Label> = st.labels.values().collect();
    all.sort_by_key(|l| (l.name.to_lowercase(), l.id));
    let paging = q.page();
    let (page, total) = paging.take(all.into_iter());
    let r = Render::new(&ctx, &st);
    let body = Value::Array(page.into_iter().map(|l| r.label(l)).collect());
    Ok(Reply::ok(&body).with_link(paging.link(&ctx, &q, total)))
}

pub(crate) async fn get_one(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo, name)): ItemPath,
) -> Result<Reply, ApiError> {
    let st = sb.read();
    check_repo(&st, &owner, &repo)?;
    let l = st.label(&name)?;
    Ok(Reply::ok(&Render::new(&ctx, &st).label(l)))
}

/// An optional string field; `Some(None)` when explicitly null (the schema has already
/// refused other types).
fn opt_str<'a>(o: &'a Map<String, Value>, field: &str) -> Option<Option<&'a str>> {
    o.get(field).map(Value::as_str)
}

pub(crate) async fn create(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo)): RepoPath,
    body: Bytes,
) -> Result<Reply, ApiError> {
    let v = parse_body(&body)?;
    let o = Shape::of(&v)?
        .required("name")
        .kinds("name", STRING)
        .kinds("color", STRING)
        .kinds("description", STRING_OR_NULL)
        .check()?;
    let name = opt_str(o, "name").flatten().unwrap_or("");
    let color = opt_str(o, "color").flatten();
    let description = opt_str(o, "description").flatten();
    let mut st = sb.write();
    check_repo(&st, &owner, &repo)?;
    let id = st.create_label(name, color, description)?;
    let l = st.labels.get(&id).ok_or_else(ApiError::not_found)?;
    Ok(Reply::created(&Render::new(&ctx, &st).label(l)))
}

/// PATCH a label: `new_name` (or `name`), `color`, `description` (null clears it).
pub(crate) async fn update(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo, name)): ItemPath,
    body: Bytes,
) -> Result<Reply, ApiError> {
    let v = parse_body(&body)?;
    // `name` is the rename field's older spelling, still honoured.
    let o = Shape::of(&v)?
        .kinds("new_name", STRING)
        .kinds("name", STRING)
        .kinds("color", STRING)
        .kinds("description", STRING_OR_NULL)
        .check()?;
    let new_name = opt_str(o, "new_name")
        .or_else(|| opt_str(o, "name"))
        .flatten();
    let color = opt_str(o, "color").flatten();
    let description = opt_str(o, "description");
    let mut st = sb.write();
    check_repo(&st, &owner, &repo)?;
    let id = st.update_label(&name, new_name, color, description)?;
    let l = st.labels.get(&id).ok_or_else(ApiError::not_found)?;
    Ok(Reply::ok(&Render::new(&ctx, &st).label(l)))
}

pub(crate) async fn delete(
    State(sb): State<Arc<Shared>>,
    Path((owner, repo, name)): ItemPath,
) -> Result<Reply, ApiError> {
    let mut st = sb.write();
    check_repo(&st, &owner, &repo)?;
    st.delete_label(&name)?;
    Ok(Reply::no_content())
}

/// The labels of one issue, as the issue-label endpoints answer.
fn issue_labels(ctx: &Ctx, st: &Store, n: u64) -> Result<Reply, ApiError> {
    let issue = st.issue(n)?;
    Ok(Reply::ok(&Value::Array(
        Render::new(ctx, st).issue_labels(issue),
    )))
}

pub(crate) async fn issue_list(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo, n)): ItemPath,
) -> Result<Reply, ApiError> {
    let st = sb.read();
    check_repo(&st, &owner, &repo)?;
    issue_labels(&ctx, &st, number(&n)?)
}

/// Label names from `{"labels": [...]}`, a bare array or a bare string (GitHub takes all
/// three), each name a string or an object with `name`.
fn label_names(bytes: &[u8]) -> Result<Vec<String>, ApiError> {
    let v = parse_body(bytes)?;
    let list = match &v {
        Value::Array(_) | Value::String(_) => &v,
        _ => {
            let o = Shape::of(&v)?
                .array_of("labels", STRING_OR_OBJECT)
                .check()?;
            match o.get("labels") {
                Some(l) => l,
                None => return Ok(Vec::new()),
            }
        }
    };
    names(list, "name", "Label", "name")
}

async fn add_or_set(
    sb: Arc<Shared>,
    ctx: Ctx,
    actor: usize,
    (owner, repo, n): (String, String, String),
    body: Bytes,
    replace: bool,
) -> Result<Reply, ApiError> {
    let n = number(&n)?;
    let names = label_names(&body)?;
    let mut st = sb.write();
    check_repo(&st, &owner, &repo)?;
    st.set_issue_labels(n, &names, replace, actor)?;
    issue_labels(&ctx, &st, n)
}

/// `POST .../issues/{n}/labels`: adds labels (creating missing ones).
pub(crate) async fn issue_add(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Actor(actor): Actor,
    Path(p): ItemPath,
    body: Bytes,
) -> Result<Reply, ApiError> {
    add_or_set(sb, ctx, actor, p, body, false).await
}

/// `PUT .../issues/{n}/labels`: replaces the issue's labels.
pub(crate) async fn issue_set(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Actor(actor): Actor,
    Path(p): ItemPath,
    body: Bytes,
) -> Result<Reply, ApiError> {
    add_or_set(sb, ctx, actor, p, body, true).await
}

pub(crate) async fn issue_clear(
    State(sb): State<Arc<Shared>>,
    Actor(actor): Actor,
    Path((owner, repo, n)): ItemPath,
) -> Result<Reply, ApiError> {
    let n = number(&n)?;
    let mut st = sb.write();
    check_repo(&st, &owner, &repo)?;
    st.set_issue_labels(n, &[], true, actor)?;
    Ok(Reply::no_content())
}

/// `DELETE .../issues/{n}/labels/{name}`: answers the remaining labels.
pub(crate) async fn issue_remove(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Actor(actor): Actor,
    Path((owner, repo, n, name)): Path<(String, String, String, String)>,
) -> Result<Reply, ApiError> {
    let n = number(&n)?;
    let mut st = sb.write();
    check_repo(&st, &owner, &repo)?;
    st.remove_issue_label(n, &name, actor)?;
    issue_labels(&ctx, &st, n)
}
