//! Project handlers: the project itself, its components and versions (listing and CRUD),
//! and the statuses each issue type can have.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::Extension;
use chrono::NaiveDate;
use serde_json::{json, Map, Value};

use super::http::{parse_object, parse_optional, Ctx, JiraError, Params, Reply};
use super::render::Render;
use super::state::{Component, Version};
use super::Shared;

/// `GET /project`: every project (one here), without the heavy parts.
pub(crate) async fn list(State(sb): State<Arc<Shared>>, Extension(ctx): Extension<Ctx>) -> Reply {
    let st = sb.read();
    Reply::ok(&json!([Render::new(&ctx, &st).project(false)]))
}

/// `GET /project/search` (Cloud's paged listing).
pub(crate) async fn search(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Reply, JiraError> {
    let q = Params(q);
    let st = sb.read();
    let start = q.int("startAt", &ctx)?.unwrap_or(0).max(0) as usize;
    let max = q.int("maxResults", &ctx)?.unwrap_or(50).clamp(1, 100) as usize;
    let needle = q.get("query").unwrap_or("").to_lowercase();
    let r = Render::new(&ctx, &st);
    let all: Vec<Value> = if needle.is_empty()
        || st.project.key.to_lowercase().contains(&needle)
        || st.project.name.to_lowercase().contains(&needle)
    {
        vec![r.project(false)]
    } else {
        Vec::new()
    };
    let total = all.len();
    let page: Vec<Value> = all.into_iter().skip(start).take(max).collect();
    Ok(Reply::ok(&json!({
        "self": format!("{}/project/search?startAt={start}&maxResults={max}", r.rest()),
        "maxResults": max,
        "startAt": start,
        "total": total,
        "isLast": start + page.len() >= total,
        "values": page,
    })))
}

pub(crate) async fn get_one(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path(key): Path<String>,
) -> Result<Reply, JiraError> {
    let st = sb.read();
    st.check_project(&key)?;
    Ok(Reply::ok(&Render::new(&ctx, &st).project(true)))
}

pub(crate) async fn components(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path(key): Path<String>,
) -> Result<Reply, JiraError> {
    let st = sb.read();
    st.check_project(&key)?;
    let r = Render::new(&ctx, &st);
    Ok(Reply::ok(&Value::Array(
        st.components.values().map(|c| r.component(c)).collect(),
    )))
}

pub(crate) async fn versions(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path(key): Path<String>,
) -> Result<Reply, JiraError> {
    let st = sb.read();
    st.check_project(&key)?;
    let r = Render::new(&ctx, &st);
    Ok(Reply::ok(&Value::Array(
        st.versions.values().map(|v| r.version(v)).collect(),
    )))
}

/// `GET /project/{key}/version`: the paged form.
pub(crate) async fn versions_page(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path(key): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Reply, JiraError> {
    let q = Params(q);
    let st = sb.read();
    st.check_project(&key)?;
    let start = q.int("startAt", &ctx)?.unwrap_or(0).max(0) as usize;
    let max = q.int("maxResults", &ctx)?.unwrap_or(50).clamp(1, 1000) as usize;
    let r = Render::new(&ctx, &st);
    let total = st.versions.len();
    let page: Vec<Value> = st
        .versions
        .values()
        .skip(start)
        .take(max)
        .map(|v| r.version(v))
        .collect();
    Ok(Reply::ok(&json!({
        "self": format!("{}/project/{key}/version?startAt={start}&maxResults={max}", r.rest()),
        "maxResults": max,
        "startAt": start,
        "total": total,
        "isLast": start + page.len() >= total,
        "values": page,
    })))
}

/// `GET /project/{key}/statuses`: per issue type, the statuses of its workflow.
pub(crate) async fn statuses(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path(key): Path<String>,
) -> Result<Reply, JiraError> {
    let st = sb.read();
    st.check_project(&key)?;
    let r = Render::new(&ctx, &st);
    let statuses: Vec<Value> = st.statuses.iter().map(|s| r.status(s)).collect();
    Ok(Reply::ok(&Value::Array(
        st.types
            .iter()
            .map(|t| {
                json!({
                    "self": format!("{}/issuetype/{}", r.rest(), t.id),
                    "id": t.id,
                    "name": t.name,
                    "subtask": t.subtask,
                    "statuses": statuses,
                })
            })
            .collect(),
    )))
}

/// `GET /project/{key}/role`: `{name: url}` for each of the project's roles (role ids from
/// 10000, as a fresh site numbers them; the URL names the project as it was asked).
pub(crate) async fn roles(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path(key): Path<String>,
) -> Result<Reply, JiraError> {
    let st = sb.read();
    st.check_project(&key)?;
    let r = Render::new(&ctx, &st);
    let roles: serde_json::Map<String, Value> = st
        .roles
        .iter()
        .enumerate()
        .map(|(n, name)| {
            (
                name.clone(),
                json!(format!("{}/project/{key}/role/{}", r.rest(), 10_000 + n)),
            )
        })
        .collect();
    Ok(Reply::ok(&Value::Object(roles)))
}

fn bad_field(field: &str, message: &str) -> JiraError {
    JiraError::field(field, message)
}

fn text(b: &Map<String, Value>, key: &str) -> Result<Option<String>, JiraError> {
    match b.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad_field(key, &format!("The {key} must be a string."))),
    }
}

fn parse_id(s: &str) -> Option<u64> {
    s.trim().parse().ok()
}

/// The project a component or version body names (`project` key or `projectId`).
fn body_project(st: &super::state::State, b: &Map<String, Value>) -> Result<(), JiraError> {
    let named = b
        .get("project")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            b.get("projectId").and_then(|v| {
                v.as_u64()
                    .map(|n| n.to_string())
                    .or_else(|| v.as_str().map(str::to_owned))
            })
        });
    match named {
        None => Err(bad_field("project", "The project key must be specified.")),
        Some(p) if st.is_project(&p) => Ok(()),
        Some(p) => Err(bad_field(
            "project",
            &format!("The project '{p}' does not exist."),
        )),
    }
}

/// A component lead, named as the flavour names users.
fn lead(
    st: &super::state::State,
    b: &Map<String, Value>,
) -> Result<Option<Option<usize>>, JiraError> {
    let key = if st.cloud() {
        "leadAccountId"
    } else {
        "leadUserName"
    };
    match b.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) if s.is_empty() => Ok(Some(None)),
        Some(Value::String(s)) => st
            .user_by_ref(s)
            .map(|u| Some(Some(u)))
            .ok_or_else(|| bad_field(key, &format!("The user '{s}' does not exist."))),
        Some(_) => Err(bad_field(key, "The component lead must be a string.")),
    }
}

const ASSIGNEE_TYPES: &[&str] = &[
    "PROJECT_DEFAULT",
    "COMPONENT_LEAD",
    "PROJECT_LEAD",
    "UNASSIGNED",
];

fn assignee_type(b: &Map<String, Value>) -> Result<Option<String>, JiraError> {
    match text(b, "assigneeType")? {
        None => Ok(None),
        Some(t) if ASSIGNEE_TYPES.contains(&t.as_str()) => Ok(Some(t)),
        Some(t) => Err(bad_field(
            "assigneeType",
            &format!("The assignee type '{t}' is not valid."),
        )),
    }
}

pub(crate) async fn create_component(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    body: Bytes,
) -> Result<Reply, JiraError> {
    let b = parse_object(&body)?;
    let mut st = sb.write();
    body_project(&st, &b)?;
    let name = text(&b, "name")?
        .map(|n| n.trim().to_owned())
        .unwrap_or_default();
    if name.is_empty() {
        return Err(bad_field("name", "The component name must not be empty."));
    }
    if name.chars().count() > 255 {
        return Err(bad_field(
            "name",
            "The component name must not exceed 255 characters.",
        ));
    }
    if st.component_by_name(&name).is_some() {
        return Err(bad_field(
            "name",
            &format!("A component with the name {name} already exists in this project."),
        ));
    }
    let c = Component {
        id: st.next_component_id,
        name,
        description: text(&b, "description")?.filter(|d| !d.is_empty()),
        lead: lead(&st, &b)?.flatten(),
        assignee_type: assignee_type(&b)?.unwrap_or_else(|| "PROJECT_DEFAULT".into()),
    };
    let id = c.id;
    st.insert_component(c);
    let r = Render::new(&ctx, &st);
    let v = st
        .components
        .get(&id)
        .map(|c| r.component(c))
        .unwrap_or(Value::Null);
    Ok(Reply::created(&v))
}

fn component_id(st: &super::state::State, id: &str) -> Result<u64, JiraError> {
    parse_id(id)
        .filter(|id| st.components.contains_key(id))
        .ok_or_else(|| JiraError::not_found(&format!("The component with id {id} does not exist.")))
}

pub(crate) async fn component(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Result<Reply, JiraError> {
    let st = sb.read();
    let id = component_id(&st, &id)?;
    let r = Render::new(&ctx, &st);
    Ok(Reply::ok(
        &st.components
            .get(&id)
            .map(|c| r.component(c))
            .unwrap_or(Value::Null),
    ))
}

pub(crate) async fn update_component(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Reply, JiraError> {
    let b = parse_object(&body)?;
    let mut st = sb.write();
    let id = component_id(&st, &id)?;
    let name = text(&b, "name")?.map(|n| n.trim().to_owned());
    if let Some(n) = &name {
        if n.is_empty() {
            return Err(bad_field("name", "The component name must not be empty."));
        }
        if st.component_by_name(n).is_some_and(|other| other != id) {
            return Err(bad_field(
                "name",
                &format!("A component with the name {n} already exists in this project."),
            ));
        }
    }
    let description = if b.contains_key("description") {
        Some(text(&b, "description")?.filter(|d| !d.is_empty()))
    } else {
        None
    };
    let new_lead = lead(&st, &b)?;
    let at = assignee_type(&b)?;
    if let Some(c) = st.components.get_mut(&id) {
        if let Some(n) = name {
            c.name = n;
        }
        if let Some(d) = description {
            c.description = d;
        }
        if let Some(l) = new_lead {
            c.lead = l;
        }
        if let Some(t) = at {
            c.assignee_type = t;
        }
    }
    let r = Render::new(&ctx, &st);
    Ok(Reply::ok(
        &st.components
            .get(&id)
            .map(|c| r.component(c))
            .unwrap_or(Value::Null),
    ))
}

/// `DELETE /component/{id}[?moveIssuesTo=ID]`.
pub(crate) async fn delete_component(
    State(sb): State<Arc<Shared>>,
    Path(id): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Reply, JiraError> {
    let q = Params(q);
    let mut st = sb.write();
    let id = component_id(&st, &id)?;
    let move_to = match q.get("moveIssuesTo") {
        None => None,
        Some(m) => Some(
            parse_id(m)
                .filter(|m| *m != id && st.components.contains_key(m))
                .ok_or_else(|| {
                    JiraError::not_found(&format!("The component with id {m} does not exist."))
                })?,
        ),
    };
    st.delete_component(id, move_to);
    Ok(Reply::no_content())
}

fn version_id(st: &super::state::State, id: &str) -> Result<u64, JiraError> {
    parse_id(id)
        .filter(|id| st.versions.contains_key(id))
        .ok_or_else(|| JiraError::not_found(&format!("Could not find version for id '{id}'")))
}

fn read_date(b: &Map<String, Value>, key: &str) -> Result<Option<Option<NaiveDate>>, JiraError> {
    match b.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) if s.is_empty() => Ok(Some(None)),
        Some(Value::String(s)) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(|d| Some(Some(d)))
            .map_err(|_| {
                bad_field(
                    key,
                    "Invalid date format. Please enter the date in the format \"yyyy-MM-dd\".",
                )
            }),
        Some(_) => Err(bad_field(key, "The date must be a string (yyyy-MM-dd).")),
    }
}

fn read_bool(b: &Map<String, Value>, key: &str) -> Result<Option<bool>, JiraError> {
    match b.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(x)) => Ok(Some(*x)),
        Some(_) => Err(bad_field(
            key,
            &format!("The {key} flag must be true or false."),
        )),
    }
}

pub(crate) async fn create_version(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    body: Bytes,
) -> Result<Reply, JiraError> {
    let b = parse_object(&body)?;
    let mut st = sb.write();
    body_project(&st, &b)?;
    let name = text(&b, "name")?
        .map(|n| n.trim().to_owned())
        .unwrap_or_default();
    if name.is_empty() {
        return Err(bad_field("name", "You must specify a valid version name"));
    }
    if st.version_by_name(&name).is_some() {
        return Err(bad_field(
            "name",
            "A version with this name already exists in this project.",
        ));
    }
    let v = Version {
        id: st.next_version_id,
        name,
        description: text(&b, "description")?.filter(|d| !d.is_empty()),
        released: read_bool(&b, "released")?.unwrap_or(false),
        archived: read_bool(&b, "archived")?.unwrap_or(false),
        start_date: read_date(&b, "startDate")?.flatten(),
        release_date: read_date(&b, "releaseDate")?.flatten(),
    };
    let id = v.id;
    st.insert_version(v);
    let r = Render::new(&ctx, &st);
    Ok(Reply::created(
        &st.versions
            .get(&id)
            .map(|v| r.version(v))
            .unwrap_or(Value::Null),
    ))
}

pub(crate) async fn version(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Result<Reply, JiraError> {
    let st = sb.read();
    let id = version_id(&st, &id)?;
    let r = Render::new(&ctx, &st);
    Ok(Reply::ok(
        &st.versions
            .get(&id)
            .map(|v| r.version(v))
            .unwrap_or(Value::Null),
    ))
}

pub(crate) async fn update_version(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Reply, JiraError> {
    let b = parse_object(&body)?;
    let mut st = sb.write();
    let id = version_id(&st, &id)?;
    let name = text(&b, "name")?.map(|n| n.trim().to_owned());
    if let Some(n) = &name {
        if n.is_empty() {
            return Err(bad_field("name", "You must specify a valid version name"));
        }
        if st.version_by_name(n).is_some_and(|other| other != id) {
            return Err(bad_field(
                "name",
                "A version with this name already exists in this project.",
            ));
        }
    }
    let description = if b.contains_key("description") {
        Some(text(&b, "description")?.filter(|d| !d.is_empty()))
    } else {
        None
    };
    let released = read_bool(&b, "released")?;
    let archived = read_bool(&b, "archived")?;
    let start = read_date(&b, "startDate")?;
    let release = read_date(&b, "releaseDate")?;
    if let Some(v) = st.versions.get_mut(&id) {
        if let Some(n) = name {
            v.name = n;
        }
        if let Some(d) = description {
            v.description = d;
        }
        if let Some(x) = released {
            v.released = x;
        }
        if let Some(x) = archived {
            v.archived = x;
        }
        if let Some(x) = start {
            v.start_date = x;
        }
        if let Some(x) = release {
            v.release_date = x;
        }
    }
    let r = Render::new(&ctx, &st);
    Ok(Reply::ok(
        &st.versions
            .get(&id)
            .map(|v| r.version(v))
            .unwrap_or(Value::Null),
    ))
}

fn swap_target(
    st: &super::state::State,
    q: Option<Value>,
    id: u64,
) -> Result<Option<u64>, JiraError> {
    match q {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let s = v
                .as_str()
                .map(str::to_owned)
                .or_else(|| v.as_u64().map(|n| n.to_string()))
                .unwrap_or_default();
            // The old form takes a version URL; its last segment is the id.
            let last = s.rsplit('/').next().unwrap_or("");
            parse_id(last)
                .filter(|m| *m != id && st.versions.contains_key(m))
                .map(Some)
                .ok_or_else(|| {
                    JiraError::not_found(&format!("Could not find version for id '{last}'"))
                })
        }
    }
}

/// `DELETE /version/{id}[?moveFixIssuesTo=&moveAffectedIssuesTo=]`.
pub(crate) async fn delete_version(
    State(sb): State<Arc<Shared>>,
    Path(id): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Reply, JiraError> {
    let q = Params(q);
    let mut st = sb.write();
    let id = version_id(&st, &id)?;
    let fix = swap_target(&st, q.get("moveFixIssuesTo").map(|s| json!(s)), id)?;
    let affects = swap_target(&st, q.get("moveAffectedIssuesTo").map(|s| json!(s)), id)?;
    st.delete_version(id, fix, affects);
    Ok(Reply::no_content())
}

/// `POST /version/{id}/removeAndSwap` `{"moveFixIssuesTo": …, "moveAffectedIssuesTo": …}`.
pub(crate) async fn remove_and_swap(
    State(sb): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Reply, JiraError> {
    let b = parse_optional(&body)?;
    let mut st = sb.write();
    let id = version_id(&st, &id)?;
    let fix = swap_target(&st, b.get("moveFixIssuesTo").cloned(), id)?;
    let affects = swap_target(&st, b.get("moveAffectedIssuesTo").cloned(), id)?;
    st.delete_version(id, fix, affects);
    Ok(Reply::no_content())
}
