//! Handlers for the site's vocabulary and who is calling (`serverInfo`, `myself`, users,
//! fields, issue types, statuses, priorities, resolutions, link types) and the sandbox's own
//! `/_sandbox` routes.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::Extension;
use serde_json::{json, Value};

use super::http::{parse_optional, Actor, Ctx, JiraError, Params, Reply};
use super::render::{field_defs, Render};
use super::state::Cat;
use super::Shared;

pub(crate) async fn server_info(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
) -> Reply {
    let st = sb.read();
    Reply::ok(&Render::new(&ctx, &st).server_info())
}

pub(crate) async fn myself(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Actor(me): Actor,
) -> Reply {
    let st = sb.read();
    Reply::ok(&Render::new(&ctx, &st).user_full(me))
}

/// `GET /user?accountId=` (Cloud) or `?username=` / `?key=` (DC).
pub(crate) async fn user(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Reply, JiraError> {
    let q = Params(q);
    let st = sb.read();
    let found = if st.cloud() {
        let id = q.get("accountId").ok_or_else(|| {
            JiraError::bad_request("The query parameter 'accountId' is required.")
        })?;
        st.user_by_account(id).ok_or_else(|| {
            JiraError::not_found(&format!("User with accountId '{id}' does not exist"))
        })?
    } else {
        let name = q
            .get("username")
            .or_else(|| q.get("key"))
            .ok_or_else(|| JiraError::not_found("The user with the username  does not exist"))?;
        st.user_by_ref(name).ok_or_else(|| {
            JiraError::not_found(&format!("The user named '{name}' does not exist"))
        })?
    };
    Ok(Reply::ok(&Render::new(&ctx, &st).user_full(found)))
}

/// `GET /user/search` and `/user/assignable/search`: `query` (Cloud) or `username` (DC)
/// matches names, display names and emails by prefix of any word.
pub(crate) async fn user_search(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Reply, JiraError> {
    let q = Params(q);
    let st = sb.read();
    let needle = q
        .get("query")
        .or_else(|| q.get("username"))
        .or_else(|| q.get("accountId"))
        .unwrap_or("")
        .to_lowercase();
    if needle.is_empty() && !st.cloud() {
        return Err(JiraError::bad_request(
            "The username query parameter was not provided",
        ));
    }
    let start = q.int("startAt", &ctx)?.unwrap_or(0).max(0) as usize;
    let max = q.int("maxResults", &ctx)?.unwrap_or(50).clamp(0, 1000) as usize;
    let r = Render::new(&ctx, &st);
    let hits: Vec<Value> = st
        .users
        .iter()
        .enumerate()
        .filter(|(_, u)| {
            needle.is_empty()
                || u.account_id == needle
                || [&u.name, &u.display, &u.email].iter().any(|s| {
                    s.to_lowercase()
                        .split(|c: char| c.is_whitespace() || c == '@' || c == '.')
                        .any(|w| w.starts_with(&needle))
                        || s.to_lowercase().starts_with(&needle)
                })
        })
        .skip(start)
        .take(max)
        .map(|(i, _)| r.user(i))
        .collect();
    Ok(Reply::ok(&Value::Array(hits)))
}

pub(crate) async fn fields(State(sb): State<Arc<Shared>>, Extension(ctx): Extension<Ctx>) -> Reply {
    let st = sb.read();
    let r = Render::new(&ctx, &st);
    Reply::ok(&Value::Array(
        field_defs(&st).iter().map(|f| r.field_json(f)).collect(),
    ))
}

pub(crate) async fn issue_types(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
) -> Reply {
    let st = sb.read();
    let r = Render::new(&ctx, &st);
    Reply::ok(&Value::Array(
        st.types.iter().map(|t| r.issue_type(t)).collect(),
    ))
}

pub(crate) async fn issue_type(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Result<Reply, JiraError> {
    let st = sb.read();
    let t = st.types.iter().find(|t| t.id == id).ok_or_else(|| {
        JiraError::not_found(&format!("The issue type with id '{id}' does not exist."))
    })?;
    Ok(Reply::ok(&Render::new(&ctx, &st).issue_type(t)))
}

pub(crate) async fn statuses(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
) -> Reply {
    let st = sb.read();
    let r = Render::new(&ctx, &st);
    Reply::ok(&Value::Array(
        st.statuses.iter().map(|s| r.status(s)).collect(),
    ))
}

pub(crate) async fn status(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Result<Reply, JiraError> {
    let st = sb.read();
    let s = st.status_by_name(&id).ok_or_else(|| {
        JiraError::not_found(&format!("The status with id '{id}' does not exist"))
    })?;
    Ok(Reply::ok(&Render::new(&ctx, &st).status(&st.statuses[s])))
}

pub(crate) async fn status_categories(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
) -> Reply {
    let st = sb.read();
    let r = Render::new(&ctx, &st);
    let mut all = vec![json!({
        "self": format!("{}/statuscategory/1", r.rest()),
        "id": 1, "key": "undefined", "colorName": "medium-gray", "name": "No Category",
    })];
    all.extend(Cat::ALL.iter().map(|c| r.status_category(*c)));
    Reply::ok(&Value::Array(all))
}

pub(crate) async fn priorities(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
) -> Reply {
    let st = sb.read();
    let r = Render::new(&ctx, &st);
    Reply::ok(&Value::Array(
        st.priorities.iter().map(|p| r.priority(p)).collect(),
    ))
}

pub(crate) async fn resolutions(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
) -> Reply {
    let st = sb.read();
    let r = Render::new(&ctx, &st);
    Reply::ok(&Value::Array(
        st.resolutions.iter().map(|x| r.resolution(x)).collect(),
    ))
}

/// `GET /groups/picker?query=&maxResults=`: groups whose name contains the query
/// (case-insensitively), at most `maxResults` (default 20), with Jira's header line.
pub(crate) async fn groups_picker(
    State(sb): State<Arc<Shared>>,
    Query(q): Query<Vec<(String, String)>>,
) -> Reply {
    let q = Params(q);
    let st = sb.read();
    let query = q.get("query").unwrap_or("").to_lowercase();
    let max = q
        .get("maxResults")
        .and_then(|m| m.parse::<usize>().ok())
        .unwrap_or(20);
    let matching: Vec<&String> = st
        .groups
        .iter()
        .filter(|g| g.to_lowercase().contains(&query))
        .collect();
    let shown: Vec<Value> = matching
        .iter()
        .take(max)
        .map(|g| {
            // The name with the matched query in bold, as Jira's picker shows it.
            let at = g.to_lowercase().find(&query).unwrap_or(0);
            let end = at + query.len();
            let html = if query.is_empty() || !g.is_char_boundary(end) {
                g.to_string()
            } else {
                format!("{}<b>{}</b>{}", &g[..at], &g[at..end], &g[end..])
            };
            let mut found = json!({"name": g, "html": html, "labels": []});
            if st.flavor == super::Flavor::Cloud {
                found["groupId"] = json!(group_id(g));
            }
            found
        })
        .collect();
    Reply::ok(&json!({
        "header": format!("Showing {} of {} matching groups", shown.len(), matching.len()),
        "total": matching.len(),
        "groups": shown,
    }))
}

/// A stable UUID-shaped id for a group name (Cloud identifies groups by such ids).
fn group_id(name: &str) -> String {
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for b in name.bytes() {
        h = (h ^ u128::from(b)).wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    let x = format!("{h:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

pub(crate) async fn link_types(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
) -> Reply {
    let st = sb.read();
    let r = Render::new(&ctx, &st);
    Reply::ok(&json!({
        "issueLinkTypes": st.link_types.iter().map(|t| r.link_type(t)).collect::<Vec<_>>()
    }))
}

pub(crate) async fn sandbox_stats(State(sb): State<Arc<Shared>>) -> Reply {
    let stats = sb.meter().stats().clone();
    let mut v = serde_json::to_value(&stats).unwrap_or_else(|_| json!({}));
    let counts = sb.read().counts();
    v["counts"] = serde_json::to_value(counts).unwrap_or(Value::Null);
    Reply::ok(&v)
}

pub(crate) async fn sandbox_reset(State(sb): State<Arc<Shared>>) -> Reply {
    let shared = sb.clone();
    // Reseeding 5,000 issues takes a moment: off the async workers.
    let _ = tokio::task::spawn_blocking(move || shared.reset()).await;
    Reply::ok(&json!({"reset": true}))
}

/// `POST /_sandbox/clock` `{"advance_secs": N}`: moves the clock forward, so the next
/// write's timestamps are at least that far ahead (e.g. into the next minute).
pub(crate) async fn sandbox_clock(
    State(sb): State<Arc<Shared>>,
    body: Bytes,
) -> Result<Reply, JiraError> {
    let b = parse_optional(&body)?;
    let secs = b
        .get("advance_secs")
        .and_then(Value::as_i64)
        .filter(|s| (0..=10 * 365 * 86_400).contains(s))
        .ok_or_else(|| {
            JiraError::bad_request("advance_secs must be a number of seconds (0 to ten years)")
        })?;
    let mut st = sb.write();
    st.offset += secs * 1000;
    let now = st.now();
    Ok(Reply::ok(&json!({"now": super::render::ts(now)})))
}
