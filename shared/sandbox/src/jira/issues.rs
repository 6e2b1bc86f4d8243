//! Issue handlers: get, create, edit (`fields` and `update` operations), delete, assignee,
//! edit and create metadata, transitions, and issue links.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Map, Value};

use super::http::{parse_object, Actor, Ctx, JiraError, Params, Reply};
use super::render::{field_defs, Expand, FieldSel, Render};
use super::state::catalog::CustomFields;
use super::state::edit::Target;
use super::state::{Changes, State as Store};
use super::{EpicStyle, Flavor, Shared};

fn object<'a>(
    b: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a Map<String, Value>>, JiraError> {
    match b.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(JiraError::unreadable(
            "Invalid request payload. Refer to the REST API documentation and try again.",
        )),
    }
}

fn str_ref(v: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| {
        v.get(*k).and_then(|x| {
            x.as_str()
                .map(str::to_owned)
                .or_else(|| x.as_u64().map(|n| n.to_string()))
        })
    })
}

/// `GET /issue/{key}`: `fields` defaults to `*all`, `expand` as Jira takes it.
pub(crate) async fn get_one(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path(key): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Reply, JiraError> {
    let q = Params(q);
    let st = sb.read();
    let id = st.issue_id(&key)?;
    let i = st.issue(id)?;
    let sel = FieldSel::parse(q.list("fields").as_deref(), "*all");
    let ex = Expand::parse(q.list("expand").as_deref());
    let r = Render::new(&ctx, &st);
    let mut v = r.issue(i, &field_defs(&st), &sel, &ex);
    with_properties(&mut v, &st, id, q.list("properties").as_deref());
    Ok(Reply::ok(&v))
}

/// Adds the `properties` object an issue bean carries when properties were asked for
/// (`properties=a,b`; `*all` for every one): the asked ones the issue has.
pub(crate) fn with_properties(v: &mut Value, st: &Store, id: u64, asked: Option<&[String]>) {
    let Some(asked) = asked.filter(|a| !a.is_empty()) else {
        return;
    };
    let all = asked.iter().any(|a| a == "*all");
    let props: Map<String, Value> = st
        .issue_properties
        .get(&id)
        .into_iter()
        .flatten()
        .filter(|(k, _)| all || asked.iter().any(|a| a == *k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(o) = v.as_object_mut() {
        o.insert("properties".into(), Value::Object(props));
    }
}

/// Adds the comments an `update.comment[].add` carried.
fn add_comments(
    st: &mut Store,
    issue: u64,
    actor: usize,
    ch: &mut Changes,
) -> Result<(), JiraError> {
    for (body, vis) in std::mem::take(&mut ch.comments) {
        st.add_comment(issue, actor, body, vis, Default::default())?;
    }
    Ok(())
}

/// `POST /issue`: 201 `{id, key, self}`.
pub(crate) async fn create(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Actor(me): Actor,
    body: Bytes,
) -> Result<Reply, JiraError> {
    let b = parse_object(&body)?;
    let fields = object(&b, "fields")?;
    let update = object(&b, "update")?;
    let mut st = sb.write();
    let mut errs = std::collections::BTreeMap::new();
    let get = |k: &str| fields.and_then(|f| f.get(k));
    match get("project") {
        None | Some(Value::Null) => {
            errs.insert(
                "project".to_owned(),
                "Specify a valid project ID or key".to_owned(),
            );
        }
        Some(p) => match str_ref(p, &["key", "id"]) {
            Some(k) if st.is_project(&k) => {}
            _ => {
                errs.insert("project".to_owned(), "valid project is required".to_owned());
            }
        },
    }
    let itype = match get("issuetype") {
        None | Some(Value::Null) => {
            errs.insert("issuetype".to_owned(), "Specify an issue type".to_owned());
            None
        }
        Some(t) => {
            let found = str_ref(t, &["id", "name"]).and_then(|r| st.type_by_ref(&r));
            if found.is_none() {
                errs.insert(
                    "issuetype".to_owned(),
                    "The issue type selected is invalid.".to_owned(),
                );
            }
            found
        }
    };
    if get("summary").is_none() && update.is_none_or(|u| !u.contains_key("summary")) {
        errs.insert(
            "summary".to_owned(),
            "You must specify a summary of the issue.".to_owned(),
        );
    }
    let Some(itype) = itype.filter(|_| errs.is_empty()) else {
        return Err(JiraError::fields(errs));
    };
    let target = Target {
        v3: ctx.v3(),
        issue: None,
        itype,
        screen_resolution: false,
    };
    let mut ch = st.read_changes(fields, update, target)?;
    // In the Epic Link style (Data Center, company-managed) Epic Name is a required field
    // of the epic type's create screen: Jira's 400 names the field by its id.
    if st.epic_style == EpicStyle::EpicLink
        && st.types[itype].hierarchy == 1
        && ch
            .epic_name
            .as_ref()
            .and_then(Option::as_deref)
            .is_none_or(|n| n.trim().is_empty())
    {
        return Err(JiraError::field(
            &CustomFields::name(st.fields.epic_name),
            "Epic Name is required.",
        ));
    }
    if st.types[itype].subtask && ch.parent.flatten().is_none() {
        return Err(JiraError::field(
            "parent",
            "Could not create a sub-task without a parent issue.",
        ));
    }
    let props = super::comments::properties(&b)?;
    let comments = std::mem::take(&mut ch.comments);
    let id = st.create_issue(itype, me, ch);
    if !props.is_empty() {
        st.issue_properties.insert(id, props);
    }
    let mut rest = Changes {
        comments,
        ..Changes::default()
    };
    add_comments(&mut st, id, me, &mut rest)?;
    let key = st
        .issues
        .get(&id)
        .map(|i| st.issue_key(i))
        .unwrap_or_default();
    Ok(Reply::created(&json!({
        "id": id.to_string(),
        "key": key,
        "self": format!("{}/issue/{id}", ctx.rest()),
    })))
}

/// `PUT /issue/{key}`: 204, or 200 with the issue when `returnIssue=true`.
pub(crate) async fn edit(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Actor(me): Actor,
    Path(key): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Result<Reply, JiraError> {
    let q = Params(q);
    let b = parse_object(&body)?;
    let fields = object(&b, "fields")?;
    let update = object(&b, "update")?;
    let mut st = sb.write();
    let id = st.issue_id(&key)?;
    let mut ch = {
        let i = st.issue(id)?;
        let target = Target {
            v3: ctx.v3(),
            issue: Some(i),
            itype: fields
                .and_then(|f| f.get("issuetype"))
                .and_then(|t| str_ref(t, &["id", "name"]))
                .and_then(|r| st.type_by_ref(&r))
                .unwrap_or(i.itype),
            screen_resolution: false,
        };
        st.read_changes(fields, update, target)?
    };
    let comments = std::mem::take(&mut ch.comments);
    if !ch.is_empty() {
        st.edit_issue(id, ch)?;
    }
    let mut rest = Changes {
        comments,
        ..Changes::default()
    };
    add_comments(&mut st, id, me, &mut rest)?;
    if q.flag("returnIssue") {
        let i = st.issue(id)?;
        let r = Render::new(&ctx, &st);
        return Ok(Reply::ok(&r.issue(
            i,
            &field_defs(&st),
            &FieldSel::parse(None, "*all"),
            &Expand::default(),
        )));
    }
    Ok(Reply::no_content())
}

/// `DELETE /issue/{key}[?deleteSubtasks=true]`.
pub(crate) async fn delete(
    State(sb): State<Arc<Shared>>,
    Path(key): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Reply, JiraError> {
    let q = Params(q);
    let mut st = sb.write();
    let id = st.issue_id(&key)?;
    st.delete_issue(id, q.flag("deleteSubtasks"))?;
    Ok(Reply::no_content())
}

/// `PUT /issue/{key}/assignee` `{"accountId": …}` (Cloud) or `{"name": …}` (DC); null or
/// `-1` unassigns.
pub(crate) async fn assign(
    State(sb): State<Arc<Shared>>,
    Path(key): Path<String>,
    body: Bytes,
) -> Result<Reply, JiraError> {
    let b = parse_object(&body)?;
    let mut st = sb.write();
    let id = st.issue_id(&key)?;
    let who = Value::Object(b);
    let nobody = ["accountId", "name", "key", "id"]
        .iter()
        .all(|k| who.get(*k).is_none_or(Value::is_null));
    let user = if nobody {
        None
    } else {
        st.read_user(&who)
            .map_err(|m| JiraError::field("assignee", &m))?
    };
    st.edit_issue(
        id,
        Changes {
            assignee: Some(user),
            ..Changes::default()
        },
    )?;
    Ok(Reply::no_content())
}

/// `GET /issue/{key}/properties`: `{"keys": [{"self", "key"}]}`.
pub(crate) async fn property_keys(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path(key): Path<String>,
) -> Result<Reply, JiraError> {
    let st = sb.read();
    let id = st.issue_id(&key)?;
    let keys: Vec<Value> = st
        .issue_properties
        .get(&id)
        .into_iter()
        .flatten()
        .map(
            |(k, _)| json!({"self": format!("{}/issue/{id}/properties/{k}", ctx.rest()), "key": k}),
        )
        .collect();
    Ok(Reply::ok(&json!({ "keys": keys })))
}

fn no_property(prop: &str) -> JiraError {
    JiraError::not_found(&format!("The property with key '{prop}' does not exist."))
}

/// `GET /issue/{key}/properties/{prop}`: `{"key", "value"}`.
pub(crate) async fn property(
    State(sb): State<Arc<Shared>>,
    Path((key, prop)): Path<(String, String)>,
) -> Result<Reply, JiraError> {
    let st = sb.read();
    let id = st.issue_id(&key)?;
    let v = st
        .issue_properties
        .get(&id)
        .and_then(|p| p.get(&prop))
        .ok_or_else(|| no_property(&prop))?;
    Ok(Reply::ok(&json!({"key": prop, "value": v})))
}

/// `PUT /issue/{key}/properties/{prop}` with any JSON value: 201 when new, 200 when
/// replaced. (A property is not a field: the issue's `updated` does not move.)
pub(crate) async fn set_property(
    State(sb): State<Arc<Shared>>,
    Path((key, prop)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, JiraError> {
    let value = super::comments::property_value(&prop, &body)?;
    let mut st = sb.write();
    let id = st.issue_id(&key)?;
    let fresh = st
        .issue_properties
        .entry(id)
        .or_default()
        .insert(prop, value)
        .is_none();
    Ok(super::comments::property_stored(fresh))
}

/// `DELETE /issue/{key}/properties/{prop}`: 204, or 404 when it is not set.
pub(crate) async fn delete_property(
    State(sb): State<Arc<Shared>>,
    Path((key, prop)): Path<(String, String)>,
) -> Result<Reply, JiraError> {
    let mut st = sb.write();
    let id = st.issue_id(&key)?;
    match st
        .issue_properties
        .get_mut(&id)
        .and_then(|p| p.remove(&prop))
    {
        Some(_) => Ok(Reply::no_content()),
        None => Err(no_property(&prop)),
    }
}

pub(crate) async fn editmeta(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path(key): Path<String>,
) -> Result<Reply, JiraError> {
    let st = sb.read();
    let id = st.issue_id(&key)?;
    let i = st.issue(id)?;
    Ok(Reply::ok(&Render::new(&ctx, &st).editmeta(i)))
}

/// `GET /issue/createmeta/{project}/issuetypes` (Jira 8.4+ and Cloud).
pub(crate) async fn createmeta_types(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path(project): Path<String>,
) -> Result<Reply, JiraError> {
    let st = sb.read();
    st.check_project(&project)?;
    let r = Render::new(&ctx, &st);
    let types: Vec<Value> = st.types.iter().map(|t| r.issue_type(t)).collect();
    Ok(Reply::ok(&createmeta_page(&st, "issueTypes", types)))
}

/// A createmeta page: Data Center's `{maxResults, startAt, total, isLast, values}`; Cloud's
/// `PageOfCreateMetaIssueTypes` / `PageOfCreateMetaIssueTypeWithField` carry the list as
/// `issueTypes` or `fields` and no `isLast`.
fn createmeta_page(st: &Store, cloud_name: &str, list: Vec<Value>) -> Value {
    let mut page = json!({
        "maxResults": 50,
        "startAt": 0,
        "total": list.len(),
    });
    if st.flavor == Flavor::Cloud {
        page[cloud_name] = Value::Array(list);
    } else {
        page["isLast"] = json!(true);
        page["values"] = Value::Array(list);
    }
    page
}

/// `GET /issue/createmeta/{project}/issuetypes/{type}`: the fields a create may set.
pub(crate) async fn createmeta_fields(
    State(sb): State<Arc<Shared>>,
    Path((project, ty)): Path<(String, String)>,
) -> Result<Reply, JiraError> {
    let st = sb.read();
    st.check_project(&project)?;
    let t = st.type_by_ref(&ty).ok_or_else(|| {
        JiraError::not_found(&format!("Issue type with id '{ty}' does not exist."))
    })?;
    let defs = field_defs(&st);
    let mut values = Vec::new();
    for f in &defs {
        let settable = matches!(
            f.id.as_str(),
            "summary"
                | "description"
                | "environment"
                | "issuetype"
                | "project"
                | "priority"
                | "assignee"
                | "reporter"
                | "labels"
                | "components"
                | "fixVersions"
                | "versions"
                | "duedate"
                | "parent"
        ) || (f.custom && f.name != "Rank");
        // Epic Name belongs to the epic type's screen (and is required there), Epic Link
        // to the standard types'.
        let hierarchy = st.types[t].hierarchy;
        let epic_name =
            st.epic_style == EpicStyle::EpicLink && f.id == CustomFields::name(st.fields.epic_name);
        let epic_link =
            st.epic_style == EpicStyle::EpicLink && f.id == CustomFields::name(st.fields.epic_link);
        // `parent` is for subtasks only where epics are linked by Epic Link.
        let parent_off = hierarchy == 1 || (hierarchy == 0 && st.epic_style == EpicStyle::EpicLink);
        if !settable
            || (f.id == "parent" && parent_off)
            || (epic_name && hierarchy != 1)
            || (epic_link && hierarchy != 0)
        {
            continue;
        }
        values.push(json!({
            "required": matches!(f.id.as_str(), "summary" | "issuetype" | "project")
                || (f.id == "parent" && st.types[t].subtask)
                || epic_name,
            "schema": f.schema,
            "name": f.name,
            "fieldId": f.id,
            "key": f.id,
            "hasDefaultValue": f.id == "priority",
            "operations": ["set"],
        }));
    }
    Ok(Reply::ok(&createmeta_page(&st, "fields", values)))
}

/// `GET /issue/createmeta` (the old form, kept for older clients): the project and its
/// issue types.
pub(crate) async fn createmeta(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
) -> Reply {
    let st = sb.read();
    let r = Render::new(&ctx, &st);
    let mut p = r.project_short();
    p["issuetypes"] = Value::Array(st.types.iter().map(|t| r.issue_type(t)).collect());
    Reply::ok(&json!({"expand": "projects", "projects": [p]}))
}

/// `GET /issue/{key}/transitions`: those available from the issue's status.
pub(crate) async fn transitions(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path(key): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Reply, JiraError> {
    let q = Params(q);
    let st = sb.read();
    let id = st.issue_id(&key)?;
    let i = st.issue(id)?;
    let with_fields = q
        .list("expand")
        .is_some_and(|e| e.iter().any(|x| x == "transitions.fields"));
    let only = q.get("transitionId");
    let r = Render::new(&ctx, &st);
    let list: Vec<Value> = st
        .available(i)
        .into_iter()
        .filter(|t| only.is_none_or(|o| o == t.id.to_string()))
        .map(|t| r.transition(t, with_fields))
        .collect();
    Ok(Reply::ok(
        &json!({"expand": "transitions", "transitions": list}),
    ))
}

/// `POST /issue/{key}/transitions`: 204. Done's screen requires `fields.resolution`.
pub(crate) async fn do_transition(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Actor(me): Actor,
    Path(key): Path<String>,
    body: Bytes,
) -> Result<Reply, JiraError> {
    let b = parse_object(&body)?;
    let fields = object(&b, "fields")?;
    let update = object(&b, "update")?;
    let tid = b
        .get("transition")
        .and_then(|t| str_ref(t, &["id"]).or_else(|| str_ref(t, &["name"])));
    let mut st = sb.write();
    let id = st.issue_id(&key)?;
    let Some(tid) = tid else {
        return Err(JiraError::bad_request("Missing 'transition' identifier"));
    };
    let (t_index, mut ch) = {
        let i = st.issue(id)?;
        let t_index = st
            .transitions
            .iter()
            .position(|t| {
                (t.id.to_string() == tid || t.name.eq_ignore_ascii_case(&tid))
                    && t.from.contains(&i.status)
            })
            .ok_or_else(|| {
                JiraError::bad_request(&format!(
                    "Transition id '{tid}' is not valid for this issue."
                ))
            })?;
        let t = &st.transitions[t_index];
        // Only what the transition's screen shows can be set: the resolution on Done's, and
        // a comment on any.
        let off_screen = fields
            .into_iter()
            .flat_map(|f| f.keys())
            .find(|k| !(t.needs_resolution && k.as_str() == "resolution"))
            .or_else(|| {
                update
                    .into_iter()
                    .flat_map(|u| u.keys())
                    .find(|k| k.as_str() != "comment")
            });
        if let Some(k) = off_screen {
            return Err(JiraError::field(
                k,
                &format!(
                    "Field '{k}' cannot be set. It is not on the appropriate screen, or unknown."
                ),
            ));
        }
        let target = Target {
            v3: ctx.v3(),
            issue: Some(i),
            itype: i.itype,
            screen_resolution: t.needs_resolution,
        };
        let ch = st.read_changes(fields, update, target)?;
        if t.needs_resolution && ch.resolution.flatten().is_none() {
            return Err(JiraError::field("resolution", "Resolution is required."));
        }
        (t_index, ch)
    };
    let resolution = ch.resolution.take().flatten();
    let comments = std::mem::take(&mut ch.comments);
    st.transition(id, t_index, resolution)?;
    let mut rest = Changes {
        comments,
        ..Changes::default()
    };
    add_comments(&mut st, id, me, &mut rest)?;
    Ok(Reply::no_content())
}

/// `POST /issueLink`: 201 with no body. `inwardIssue` is the issue the link goes from (it
/// shows the outward description, e.g. "blocks"), `outwardIssue` the one it goes to.
pub(crate) async fn link(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Actor(me): Actor,
    body: Bytes,
) -> Result<Reply, JiraError> {
    let b = parse_object(&body)?;
    let mut st = sb.write();
    let ty = b
        .get("type")
        .and_then(|t| str_ref(t, &["name", "id"]))
        .unwrap_or_default();
    let ltype = st.link_type_by_ref(&ty).ok_or_else(|| {
        JiraError::not_found(&format!("No issue link type with name '{ty}' found."))
    })?;
    let side = |k: &str| {
        b.get(k)
            .and_then(|v| str_ref(v, &["key", "id"]))
            .and_then(|r| st.find(&r))
            .ok_or_else(JiraError::issue_not_found)
    };
    let inward = side("inwardIssue")?;
    let outward = side("outwardIssue")?;
    if inward == outward {
        return Err(JiraError::bad_request(
            "You cannot link an issue to itself.",
        ));
    }
    let comment = match b.get("comment").and_then(|c| c.get("body")) {
        None => None,
        Some(body) => Some(
            st.read_doc(body, ctx.v3())
                .map_err(|m| JiraError::field("comment", &m))?,
        )
        .flatten(),
    };
    let exists = st
        .links
        .values()
        .any(|l| l.ltype == ltype && l.inward == inward && l.outward == outward);
    if !exists {
        st.link(ltype, inward, outward);
    }
    if let Some(c) = comment {
        st.add_comment(outward, me, c, None, Default::default())?;
    }
    Ok(Reply::created_empty())
}

fn link_id(st: &Store, id: &str) -> Result<u64, JiraError> {
    id.trim()
        .parse::<u64>()
        .ok()
        .filter(|id| st.links.contains_key(id))
        .ok_or_else(|| JiraError::not_found(&format!("No issue link with id '{id}' exists.")))
}

pub(crate) async fn get_link(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Result<Reply, JiraError> {
    let st = sb.read();
    let id = link_id(&st, &id)?;
    let r = Render::new(&ctx, &st);
    let l = st
        .links
        .get(&id)
        .ok_or_else(|| JiraError::new(StatusCode::NOT_FOUND, "No issue link exists."))?;
    Ok(Reply::ok(&r.link(l)))
}

pub(crate) async fn unlink(
    State(sb): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Reply, JiraError> {
    let mut st = sb.write();
    let id = link_id(&st, &id)?;
    st.unlink(id)?;
    Ok(Reply::no_content())
}
