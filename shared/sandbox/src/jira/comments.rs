//! Comment handlers: per-issue listing (paged by `startAt`/`maxResults`), get, add, edit,
//! delete, fetching by ids, and comment properties.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::{json, Map, Value};

use super::doc::Doc;
use super::http::{parse_object, Actor, Ctx, JiraError, Params, Reply};
use super::render::Render;
use super::state::State as Store;
use super::Shared;

/// A comment body with nothing in it is refused, in either form.
fn non_empty(d: Option<Doc>) -> Result<Doc, JiraError> {
    let empty = match &d {
        None => true,
        Some(Doc::Adf(v)) => v
            .get("content")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty),
        Some(Doc::Wiki(w)) => w.trim().is_empty(),
    };
    match d {
        Some(d) if !empty => Ok(d),
        _ => Err(JiraError::field(
            "comment",
            "Comment body can not be empty!",
        )),
    }
}

/// Cloud's largest comment page.
const CLOUD_MAX_COMMENTS: i64 = 100;

fn comment_id(s: &str) -> Result<u64, JiraError> {
    s.trim()
        .parse::<u64>()
        .map_err(|_| JiraError::not_found(&format!("Can not find a comment for the id: {s}.")))
}

/// The comment `cid` of issue `key`, or Jira's 404s.
fn find(st: &Store, key: &str, cid: &str) -> Result<(u64, u64), JiraError> {
    let issue = st.issue_id(key)?;
    let cid = comment_id(cid)?;
    match st.comments.get(&cid) {
        Some(c) if c.issue == issue => Ok((issue, cid)),
        _ => Err(JiraError::comment_not_found(cid)),
    }
}

fn expands(q: &Params) -> (bool, bool) {
    let e = q.list("expand").unwrap_or_default();
    (
        e.iter().any(|x| x == "renderedBody"),
        e.iter().any(|x| x == "properties"),
    )
}

/// `GET /issue/{key}/comment`: `startAt`, `maxResults` (Cloud: default and at most 100;
/// DC: all unless given), `orderBy` (`created`, `-created`), `expand`.
pub(crate) async fn list(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path(key): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Reply, JiraError> {
    let q = Params(q);
    let start = q.int("startAt", &ctx)?.unwrap_or(0).max(0) as usize;
    let asked = q.int("maxResults", &ctx)?;
    let st = sb.read();
    let id = st.issue_id(&key)?;
    let i = st.issue(id)?;
    let desc = match q.get("orderBy") {
        None | Some("created") | Some("+created") => false,
        Some("-created") => true,
        Some(other) => {
            return Err(JiraError::bad_request(&format!(
                "Invalid orderBy value '{other}'. Use created, +created or -created."
            )))
        }
    };
    let total = i.comments.len();
    let max = if st.cloud() {
        asked
            .unwrap_or(CLOUD_MAX_COMMENTS)
            .clamp(0, CLOUD_MAX_COMMENTS) as usize
    } else {
        match asked {
            Some(n) if n >= 0 => n as usize,
            _ => total.saturating_sub(start),
        }
    };
    let (rendered, props) = expands(&q);
    let r = Render::new(&ctx, &st);
    let ordered: Box<dyn Iterator<Item = &u64>> = if desc {
        Box::new(i.comments.iter().rev())
    } else {
        Box::new(i.comments.iter())
    };
    let page: Vec<Value> = ordered
        .skip(start)
        .take(max)
        .filter_map(|c| st.comments.get(c))
        .map(|c| r.comment(c, rendered, props))
        .collect();
    Ok(Reply::ok(&json!({
        "startAt": start,
        "maxResults": max,
        "total": total,
        "comments": page,
    })))
}

/// A create body's `properties` list (`[{"key": …, "value": …}]`), as comments and
/// issues take it.
pub(crate) fn properties(b: &Map<String, Value>) -> Result<BTreeMap<String, Value>, JiraError> {
    let mut out = BTreeMap::new();
    match b.get("properties") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) => {
            for p in a {
                let key = p
                    .get("key")
                    .and_then(Value::as_str)
                    .ok_or_else(|| JiraError::field("properties", "Each property needs a key."))?;
                out.insert(
                    key.to_owned(),
                    p.get("value").cloned().unwrap_or(Value::Null),
                );
            }
        }
        Some(_) => return Err(JiraError::field("properties", "Properties must be a list.")),
    }
    Ok(out)
}

/// `POST /issue/{key}/comment`: 201 with the comment.
pub(crate) async fn create(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Actor(me): Actor,
    Path(key): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Result<Reply, JiraError> {
    let q = Params(q);
    let b = parse_object(&body)?;
    let mut st = sb.write();
    let issue = st.issue_id(&key)?;
    let doc = match b.get("body") {
        None => None,
        Some(v) => st
            .read_doc(v, ctx.v3())
            .map_err(|m| JiraError::field("comment", &m))?,
    };
    let doc = non_empty(doc)?;
    let vis = st
        .read_visibility(b.get("visibility"))
        .map_err(|m| JiraError::field("commentLevel", &m))?;
    let props = properties(&b)?;
    let cid = st.add_comment(issue, me, doc, vis, props)?;
    let (rendered, props) = expands(&q);
    let r = Render::new(&ctx, &st);
    let c = st
        .comments
        .get(&cid)
        .ok_or_else(|| JiraError::comment_not_found(cid))?;
    Ok(Reply::created(&r.comment(c, rendered, props)))
}

pub(crate) async fn get_one(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((key, cid)): Path<(String, String)>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Reply, JiraError> {
    let q = Params(q);
    let st = sb.read();
    let (_, cid) = find(&st, &key, &cid)?;
    let (rendered, props) = expands(&q);
    let r = Render::new(&ctx, &st);
    let c = st
        .comments
        .get(&cid)
        .ok_or_else(|| JiraError::comment_not_found(cid))?;
    Ok(Reply::ok(&r.comment(c, rendered, props)))
}

/// `PUT /issue/{key}/comment/{id}`: 200 with the comment; `visibility` replaced when given
/// (null lifts it).
pub(crate) async fn update(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Actor(me): Actor,
    Path((key, cid)): Path<(String, String)>,
    Query(q): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Result<Reply, JiraError> {
    let q = Params(q);
    let b = parse_object(&body)?;
    let mut st = sb.write();
    let (_, cid) = find(&st, &key, &cid)?;
    let doc = match b.get("body") {
        None => None,
        Some(v) => Some(non_empty(
            st.read_doc(v, ctx.v3())
                .map_err(|m| JiraError::field("comment", &m))?,
        )?),
    };
    let vis = if b.contains_key("visibility") {
        Some(
            st.read_visibility(b.get("visibility"))
                .map_err(|m| JiraError::field("commentLevel", &m))?,
        )
    } else {
        None
    };
    st.edit_comment(cid, me, doc, vis)?;
    let (rendered, props) = expands(&q);
    let r = Render::new(&ctx, &st);
    let c = st
        .comments
        .get(&cid)
        .ok_or_else(|| JiraError::comment_not_found(cid))?;
    Ok(Reply::ok(&r.comment(c, rendered, props)))
}

pub(crate) async fn delete(
    State(sb): State<Arc<Shared>>,
    Path((key, cid)): Path<(String, String)>,
) -> Result<Reply, JiraError> {
    let mut st = sb.write();
    let (_, cid) = find(&st, &key, &cid)?;
    st.delete_comment(cid)?;
    Ok(Reply::no_content())
}

/// `POST /comment/list` `{"ids": [...]}`: the comments that exist, paged.
pub(crate) async fn by_ids(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    body: Bytes,
) -> Result<Reply, JiraError> {
    let b = parse_object(&body)?;
    let ids: Vec<u64> = b
        .get("ids")
        .and_then(Value::as_array)
        .ok_or_else(|| JiraError::field("ids", "The list of comment ids is required."))?
        .iter()
        .filter_map(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .collect();
    if ids.len() > 1000 {
        return Err(JiraError::bad_request(
            "The number of comment ids must not exceed 1000.",
        ));
    }
    let st = sb.read();
    let r = Render::new(&ctx, &st);
    let values: Vec<Value> = ids
        .iter()
        .filter_map(|id| st.comments.get(id))
        .map(|c| r.comment(c, false, false))
        .collect();
    Ok(Reply::ok(&json!({
        "maxResults": 1000,
        "startAt": 0,
        "total": values.len(),
        "isLast": true,
        "values": values,
    })))
}

fn existing(st: &Store, cid: &str) -> Result<u64, JiraError> {
    let cid = comment_id(cid)?;
    if st.comments.contains_key(&cid) {
        Ok(cid)
    } else {
        Err(JiraError::comment_not_found(cid))
    }
}

pub(crate) async fn property_keys(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path(cid): Path<String>,
) -> Result<Reply, JiraError> {
    let st = sb.read();
    let cid = existing(&st, &cid)?;
    let keys: Vec<Value> = st
        .comments
        .get(&cid)
        .map(|c| {
            c.properties
                .keys()
                .map(|k| {
                    json!({"self": format!("{}/comment/{cid}/properties/{k}", ctx.rest()), "key": k})
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Reply::ok(&json!({ "keys": keys })))
}

pub(crate) async fn property(
    State(sb): State<Arc<Shared>>,
    Path((cid, prop)): Path<(String, String)>,
) -> Result<Reply, JiraError> {
    let st = sb.read();
    let cid = existing(&st, &cid)?;
    let v = st
        .comments
        .get(&cid)
        .and_then(|c| c.properties.get(&prop))
        .ok_or_else(|| {
            JiraError::not_found(&format!("The property with key '{prop}' does not exist."))
        })?;
    Ok(Reply::ok(&json!({"key": prop, "value": v})))
}

/// `PUT /comment/{id}/properties/{key}` with any JSON value: 201 when new, 200 when
/// replaced.
pub(crate) async fn set_property(
    State(sb): State<Arc<Shared>>,
    Path((cid, prop)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, JiraError> {
    let value = property_value(&prop, &body)?;
    let mut st = sb.write();
    let cid = existing(&st, &cid)?;
    let fresh = match st.comments.get_mut(&cid) {
        Some(c) => c.properties.insert(prop, value).is_none(),
        None => return Err(JiraError::comment_not_found(cid)),
    };
    Ok(property_stored(fresh))
}

/// The value of a `PUT …/properties/{key}` (issues' and comments' alike): any JSON, under a
/// key of 1 to 255 characters.
pub(crate) fn property_value(prop: &str, body: &[u8]) -> Result<Value, JiraError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| {
        JiraError::unreadable(
            "There was an error parsing JSON. Check that your request body is valid.",
        )
    })?;
    if prop.is_empty() || prop.len() > 255 {
        return Err(JiraError::bad_request(
            "The property key must be between 1 and 255 characters.",
        ));
    }
    Ok(value)
}

/// A stored property's answer: 201 when it is new, 200 when it replaced one.
pub(crate) fn property_stored(fresh: bool) -> Response {
    if fresh {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
    .into_response()
}

pub(crate) async fn delete_property(
    State(sb): State<Arc<Shared>>,
    Path((cid, prop)): Path<(String, String)>,
) -> Result<Reply, JiraError> {
    let mut st = sb.write();
    let cid = existing(&st, &cid)?;
    let removed = st
        .comments
        .get_mut(&cid)
        .and_then(|c| c.properties.remove(&prop));
    match removed {
        Some(_) => Ok(Reply::no_content()),
        None => Err(JiraError::not_found(&format!(
            "The property with key '{prop}' does not exist."
        ))),
    }
}
