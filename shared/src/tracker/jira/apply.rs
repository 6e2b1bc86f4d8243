//! Writing to Jira: the rollback side of [`JiraTracker`].
//!
//! - **Fields**: one `PUT /issue/{key}` per issue carrying every changed field, values in
//!   the site's own forms (ADF on Cloud, wiki markup on Data Center; people by `accountId`
//!   on Cloud and by `name` on Data Center; custom fields by the site's ids).
//! - **Status**: a walk. Each step reads where the issue is now and the transitions out of
//!   it, takes the first transition of the shortest known path (learning the workflow as it
//!   goes), and repeats; so a walk interrupted mid-path continues from wherever the issue
//!   stands and never repeats a hop.
//! - **Comments**: a deleted comment is posted again with an attribution line and a
//!   comment property ([`RESTORED_PROPERTY`]) naming the original, set in the same request;
//!   a resumed run (and every later plan) finds it by that property, so it is never posted
//!   twice.
//!
//! Writes are serial and paced ([`WritePace`]); the client honours 429 `Retry-After`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::Method;
use serde_json::{json, Value};

use super::capture::Search;
use super::convert::CustomFields;
use super::workflow::{
    ContextRequest, CreateMeta, CreateType, Edge, Recreation, RollbackContext, StatusKey,
};
use super::{Flavor, JiraTracker};
use crate::record::jira::{JiraRef, JiraStatus, JiraText, JiraVisibility};
use crate::tracker::operation::{JiraChange, Operation, RECREATED_PROPERTY};
use crate::tracker::{Tracker, TrackerError, TrackerWriter, WritePace};

/// The comment property a recreated comment carries: `{"original": <id>}`.
pub const RESTORED_PROPERTY: &str = "backtrack.restored";

/// A walk gives up after this many transitions: a workflow that needs more is not one a
/// person would walk either.
const MAX_HOPS: usize = 20;

/// When the writes went out, for pacing.
#[derive(Debug, Default)]
pub(super) struct WriteLog {
    last: Option<Instant>,
    hour: std::collections::VecDeque<Instant>,
}

fn decode(path: &str, detail: impl Into<String>) -> TrackerError {
    TrackerError::Decode {
        service: "Jira".into(),
        path: path.to_string(),
        detail: detail.into(),
    }
}

fn ref_value(r: &JiraRef) -> Value {
    // A definition recreated by this rollback has a new id: the plan names it by name.
    if r.id.is_empty() {
        json!({ "name": r.name })
    } else {
        json!({ "id": r.id })
    }
}

fn text_value(t: &Option<JiraText>) -> Value {
    match t {
        None => Value::Null,
        Some(JiraText::Adf(doc)) => doc.clone(),
        Some(JiraText::Wiki(s)) => Value::String(s.clone()),
    }
}

fn visibility_value(v: &Option<JiraVisibility>) -> Value {
    match v {
        None => Value::Null,
        Some(v) => json!({ "type": v.kind, "value": v.value }),
    }
}

/// `text` with an attribution line in front, in the same form.
pub fn attributed(text: &JiraText, line: &str) -> JiraText {
    match text {
        JiraText::Wiki(s) => JiraText::Wiki(format!("_{line}_\n\n{s}")),
        JiraText::Adf(doc) => {
            let mut doc = doc.clone();
            let para = json!({"type": "paragraph", "content": [
                {"type": "text", "text": line, "marks": [{"type": "em"}]}
            ]});
            match doc.get_mut("content").and_then(Value::as_array_mut) {
                Some(content) => content.insert(0, para),
                None => {
                    doc = json!({"type": "doc", "version": 1, "content": [para]});
                }
            }
            JiraText::Adf(doc)
        }
    }
}

impl JiraTracker {
    /// The site's custom field ids (story points, Epic Link), read once.
    pub(super) async fn custom_fields(&self) -> Result<CustomFields, TrackerError> {
        self.custom
            .get_or_try_init(|| async {
                let list = self.api_get("/field").await?;
                Ok(CustomFields::discover(&list))
            })
            .await
            .cloned()
    }

    /// A write, serial and paced.
    async fn write(
        &self,
        method: Method,
        rest: &str,
        body: Option<&Value>,
    ) -> Result<Value, TrackerError> {
        let path = format!("{}{rest}", self.flavor().await?.api());
        let mut log = self.writes.lock().await;
        wait_for_pace(&self.pace, &mut log).await;
        let result = self.client.request(method, &path, body).await;
        let now = Instant::now();
        log.last = Some(now);
        log.hour.push_back(now);
        result
    }

    /// A creation, never made twice: when Jira's answer leaves open whether it was applied
    /// (a 5xx, a lost connection), the effect is looked for (`find_op`) before trying again.
    async fn create(
        &self,
        op: &Operation,
        rest: &str,
        body: &Value,
    ) -> Result<Value, TrackerError> {
        let path = format!("{}{rest}", self.flavor().await?.api());
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let result = {
                let mut log = self.writes.lock().await;
                wait_for_pace(&self.pace, &mut log).await;
                let r = self
                    .client
                    .request_unrepeated(Method::POST, &path, Some(body))
                    .await;
                let now = Instant::now();
                log.last = Some(now);
                log.hour.push_back(now);
                r
            };
            let ambiguous = matches!(&result, Err(TrackerError::Unreachable { .. }))
                || matches!(&result, Err(TrackerError::Http { status, .. }) if *status >= 500);
            if !ambiguous || attempt >= 4 {
                return result;
            }
            if let Some(found) = self.find_op(op).await? {
                return Ok(found);
            }
            tracing::info!(path = %path, attempt, "creation failed ambiguously; nothing was made, retrying");
            tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt))).await;
        }
    }

    /// The transitions out of an issue's current status.
    async fn transitions(&self, key: &str) -> Result<Vec<Edge>, TrackerError> {
        let rest = format!("/issue/{key}/transitions?expand=transitions.fields");
        let reply = self.api_get(&rest).await?;
        Ok(reply
            .get("transitions")
            .and_then(Value::as_array)
            .map(|ts| ts.iter().filter_map(Edge::parse).collect())
            .unwrap_or_default())
    }

    /// Where an issue stands: its project, type and status.
    async fn status_key(&self, key: &str) -> Result<StatusKey, TrackerError> {
        let rest = format!("/issue/{key}?fields=status,issuetype,project");
        let issue = self.api_get(&rest).await?;
        let f = issue.get("fields");
        let field = |name: &str, sub: &str| {
            f.and_then(|f| f.get(name))
                .and_then(|v| v.get(sub))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        match (
            field("project", "key"),
            field("issuetype", "id"),
            field("status", "id"),
        ) {
            (Some(p), Some(t), Some(s)) => Ok((p, t, s)),
            _ => Err(decode(&rest, "an issue without project, type or status")),
        }
    }

    /// The fields this user may set on an issue, custom fields by meaning.
    async fn editable(&self, key: &str) -> Result<BTreeSet<String>, TrackerError> {
        let custom = self.custom_fields().await?;
        let meta = self.api_get(&format!("/issue/{key}/editmeta")).await?;
        let mut out = BTreeSet::new();
        if let Some(fields) = meta.get("fields").and_then(Value::as_object) {
            for (id, f) in fields {
                let settable = f
                    .get("operations")
                    .and_then(Value::as_array)
                    .is_some_and(|ops| ops.iter().any(|o| o == "set"));
                if !settable {
                    continue;
                }
                if custom.story_points.iter().any(|s| s == id) {
                    out.insert("story_points".to_string());
                } else if custom.epic_link.as_deref() == Some(id) {
                    out.insert("epic_link".to_string());
                } else {
                    out.insert(id.clone());
                }
            }
        }
        Ok(out)
    }

    /// Every comment of an issue with its properties.
    async fn comments_with_properties(&self, key: &str) -> Result<Vec<Value>, TrackerError> {
        let mut out = Vec::new();
        loop {
            let rest = format!(
                "/issue/{key}/comment?startAt={}&maxResults=100&expand=properties",
                out.len()
            );
            let page = self.api_get(&rest).await?;
            let comments = page
                .get("comments")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let total = page.get("total").and_then(Value::as_u64).unwrap_or(0) as usize;
            let n = comments.len();
            out.extend(comments);
            if n == 0 || out.len() >= total {
                return Ok(out);
            }
        }
    }

    /// The comments of an issue that restore deleted ones: original id → live id.
    async fn restored_comments(&self, key: &str) -> Result<BTreeMap<u64, u64>, TrackerError> {
        let mut out = BTreeMap::new();
        for c in self.comments_with_properties(key).await? {
            let id = c
                .get("id")
                .and_then(|v| v.as_str().and_then(|s| s.parse().ok()).or(v.as_u64()));
            let original = c
                .get("properties")
                .and_then(Value::as_array)
                .and_then(|ps| {
                    ps.iter()
                        .find(|p| p.get("key").and_then(Value::as_str) == Some(RESTORED_PROPERTY))
                })
                .and_then(|p| p.get("value"))
                .and_then(|v| v.get("original"))
                .and_then(Value::as_u64);
            if let (Some(id), Some(original)) = (id, original) {
                out.entry(original).or_insert(id);
            }
        }
        Ok(out)
    }

    /// What planning reads (see [`ContextRequest`]).
    pub(super) async fn context(
        &self,
        ask: &ContextRequest,
    ) -> Result<RollbackContext, TrackerError> {
        let mut cx = RollbackContext::default();
        if let Some(project) = &ask.create_meta {
            cx.create_meta = Some(self.create_meta(project, &ask.users, &ask.groups).await?);
        }
        for (id, key) in &ask.editmeta {
            cx.editable.insert(*id, self.editable(key).await?);
        }
        for key in &ask.restored {
            cx.restored.extend(self.restored_comments(key).await?);
        }
        if let Some(since) = ask.recreated_since {
            cx.recreated = self.recreations(Some(since)).await?;
            for (original, r) in &cx.recreated {
                if ask.recreated_comments.contains(original) {
                    cx.restored.extend(self.restored_comments(&r.key).await?);
                }
            }
        }
        // Issue types with the same statuses usually share one workflow (Jira's default
        // schemes give every standard type the same one): where no issue of the walk's own
        // type sits in a status, one of such a type shows its transitions. A forecast only:
        // the walk reads the real transitions at every step.
        let mut kin: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
        if !ask.walks.is_empty() {
            for project in ask
                .walks
                .iter()
                .map(|w| w.from.0.clone())
                .collect::<BTreeSet<_>>()
            {
                kin.extend(self.type_kin(&project).await?);
            }
        }
        let sample_for = |k: &StatusKey| -> Option<String> {
            if let Some(s) = ask.samples.get(k) {
                return Some(s.clone());
            }
            let same = kin.get(&(k.0.clone(), k.1.clone()))?;
            ask.samples
                .iter()
                .find(|((p, t, st), _)| *p == k.0 && *st == k.2 && same.contains(t))
                .map(|(_, key)| key.clone())
        };
        let mut workflows = self.workflows.lock().await;
        for walk in &ask.walks {
            // Learn each status on the way (from an issue that sits in it) until the path
            // is known, or no issue shows the statuses still unknown.
            let mut asked: BTreeSet<StatusKey> = BTreeSet::new();
            loop {
                if !matches!(
                    workflows.route(&walk.from, &walk.to),
                    super::workflow::Route::Unknown
                ) {
                    break;
                }
                let next = workflows.unexplored(&walk.from).into_iter().find_map(|s| {
                    let k = (walk.from.0.clone(), walk.from.1.clone(), s);
                    let sample = sample_for(&k)?;
                    (!asked.contains(&k)).then_some((k, sample))
                });
                let Some((k, sample)) = next else { break };
                asked.insert(k.clone());
                let edges = self.transitions(&sample).await?;
                workflows.learn(k, edges);
            }
        }
        cx.workflows = workflows.clone();
        Ok(cx)
    }

    /// What `project` accepts on a create (its issue types with their create screens and
    /// workflows' statuses), the site's priorities and link types, and which of `users`
    /// the site knows: what a copy into the project maps its values onto.
    async fn create_meta(
        &self,
        project: &str,
        users: &BTreeSet<String>,
        groups: &BTreeSet<String>,
    ) -> Result<CreateMeta, TrackerError> {
        let flavor = self.flavor().await?;
        let custom = self.custom_fields().await?;
        let str_of = |v: &Value, k: &str| {
            v.get(k).and_then(|x| {
                x.as_str()
                    .map(str::to_string)
                    .or_else(|| x.as_u64().map(|n| n.to_string()))
            })
        };
        let listed = self
            .api_get(&format!(
                "/issue/createmeta/{project}/issuetypes?maxResults=200"
            ))
            .await?;
        let statuses = self
            .api_get(&format!("/project/{project}/statuses"))
            .await?;
        let mut types = Vec::new();
        for t in listed
            .get("values")
            .or_else(|| listed.get("issueTypes"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(id), Some(name)) = (str_of(t, "id"), str_of(t, "name")) else {
                continue;
            };
            let screen = self
                .api_get(&format!(
                    "/issue/createmeta/{project}/issuetypes/{id}?maxResults=200"
                ))
                .await?;
            // Data Center pages them as `values`, Cloud as `fields`.
            let mut fields = BTreeSet::new();
            let mut required = BTreeSet::new();
            for f in screen
                .get("values")
                .or_else(|| screen.get("fields"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(id) = str_of(f, "fieldId").or_else(|| str_of(f, "key")) else {
                    continue;
                };
                let id = if custom.story_points.contains(&id) {
                    "story_points".to_string()
                } else if custom.epic_link.as_deref() == Some(id.as_str()) {
                    "epic_link".to_string()
                } else if custom.epic_name.as_deref() == Some(id.as_str()) {
                    "epic_name".to_string()
                } else {
                    id
                };
                if f.get("required").and_then(Value::as_bool) == Some(true) {
                    required.insert(id.clone());
                }
                fields.insert(id);
            }
            let workflow = statuses
                .as_array()
                .into_iter()
                .flatten()
                .find(|s| str_of(s, "id").as_deref() == Some(id.as_str()))
                .and_then(|s| s.get("statuses"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|s| {
                    Some(JiraStatus {
                        id: str_of(s, "id")?,
                        name: str_of(s, "name")?,
                        category: s.get("statusCategory").and_then(|c| str_of(c, "key")),
                    })
                })
                .collect();
            types.push(CreateType {
                id,
                name,
                subtask: t.get("subtask").and_then(Value::as_bool).unwrap_or(false),
                fields,
                required,
                statuses: workflow,
            });
        }
        let priorities = self
            .api_get("/priority")
            .await?
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                Some(JiraRef {
                    id: str_of(p, "id")?,
                    name: str_of(p, "name")?,
                })
            })
            .collect();
        let link_types = self
            .api_get("/issueLinkType")
            .await?
            .get("issueLinkTypes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| str_of(t, "name"))
            .collect();
        let mut known = BTreeSet::new();
        for u in users {
            let rest = match flavor {
                Flavor::Cloud => format!(
                    "/user?accountId={}",
                    percent_encoding::utf8_percent_encode(u, percent_encoding::NON_ALPHANUMERIC)
                ),
                Flavor::DataCenter => format!(
                    "/user?username={}",
                    percent_encoding::utf8_percent_encode(u, percent_encoding::NON_ALPHANUMERIC)
                ),
            };
            match self.api_get(&rest).await {
                Ok(_) => {
                    known.insert(u.clone());
                }
                Err(TrackerError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let resolutions = self
            .api_get("/resolution")
            .await?
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                Some(JiraRef {
                    id: str_of(r, "id")?,
                    name: str_of(r, "name")?,
                })
            })
            .collect();
        // `{name: url}` for each of the project's roles.
        let roles = self
            .api_get(&format!("/project/{project}/role"))
            .await?
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        let mut groups_known = BTreeSet::new();
        for g in groups {
            let found = self
                .api_get(&format!(
                    "/groups/picker?maxResults=50&query={}",
                    percent_encoding::utf8_percent_encode(g, percent_encoding::NON_ALPHANUMERIC)
                ))
                .await?;
            let exact = found
                .get("groups")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|x| str_of(x, "name").as_deref() == Some(g.as_str()));
            if exact {
                groups_known.insert(g.clone());
            }
        }
        Ok(CreateMeta {
            project: project.to_string(),
            adf: flavor == Flavor::Cloud,
            types,
            priorities,
            link_types,
            users: known,
            resolutions,
            roles,
            groups: groups_known,
        })
    }

    /// Per (project, issue type), the other types of the project with the same statuses
    /// (`GET /project/{key}/statuses`).
    async fn type_kin(
        &self,
        project: &str,
    ) -> Result<BTreeMap<(String, String), BTreeSet<String>>, TrackerError> {
        let list = self
            .api_get(&format!("/project/{project}/statuses"))
            .await?;
        let mut by_type: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for t in list.as_array().into_iter().flatten() {
            let Some(id) = t.get("id").and_then(Value::as_str) else {
                continue;
            };
            let statuses = t
                .get("statuses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|s| s.get("id").and_then(Value::as_str).map(str::to_string))
                .collect();
            by_type.insert(id.to_string(), statuses);
        }
        Ok(by_type
            .iter()
            .map(|(t, statuses)| {
                let same = by_type
                    .iter()
                    .filter(|(u, s)| *u != t && *s == statuses)
                    .map(|(u, _)| u.clone())
                    .collect();
                ((project.to_string(), t.clone()), same)
            })
            .collect())
    }

    /// The issues of the project that recreate deleted ones (by their
    /// [`RECREATED_PROPERTY`]), among those created on or after `since` (all, without it):
    /// original id → the recreation. Remembered for the writes that follow.
    async fn recreations(
        &self,
        since: Option<chrono::NaiveDate>,
    ) -> Result<BTreeMap<u64, Recreation>, TrackerError> {
        let flavor = self.flavor().await?;
        let mut jql = format!("project = \"{}\"", self.project);
        if let Some(d) = since {
            jql.push_str(&format!(" AND created >= \"{}\"", d.format("%Y-%m-%d")));
        }
        jql.push_str(" ORDER BY created DESC");
        let mut search = Search::new(self, flavor, jql, vec!["created".into()], 100)
            .with_properties(&[RECREATED_PROPERTY]);
        let mut out = BTreeMap::new();
        while let Some((issues, _)) = search.next().await? {
            for i in issues {
                let prop = i.get("properties").and_then(|p| p.get(RECREATED_PROPERTY));
                let original = prop.and_then(|p| p.get("original")).and_then(Value::as_u64);
                let original_key = prop.and_then(|p| p.get("key")).and_then(Value::as_str);
                let key = i.get("key").and_then(Value::as_str);
                if let (Some(original), Some(original_key), Some(key)) =
                    (original, original_key, key)
                {
                    // Two recreations of one issue cannot come from backtrack; should one be
                    // made by hand, the older stands for the original.
                    out.insert(
                        original,
                        Recreation {
                            key: key.to_string(),
                            original_key: original_key.to_string(),
                        },
                    );
                }
            }
        }
        let mut seen = self.recreated.lock().await;
        seen.extend(out.iter().map(|(o, r)| (*o, r.key.clone())));
        Ok(out)
    }

    /// The key of the issue recreating `original`, if it has been recreated.
    async fn recreation(&self, original: u64) -> Result<Option<String>, TrackerError> {
        if let Some(k) = self.recreated.lock().await.get(&original) {
            return Ok(Some(k.clone()));
        }
        Ok(self
            .recreations(None)
            .await?
            .get(&original)
            .map(|r| r.key.clone()))
    }

    /// The key a write on a recreated issue goes to.
    async fn recreated_key(
        &self,
        original: u64,
        original_key: &str,
    ) -> Result<String, TrackerError> {
        self.recreation(original).await?.ok_or_else(|| {
            TrackerError::Scope(format!(
                "{original_key} has not been recreated (no issue of project {} carries the {RECREATED_PROPERTY} property naming it); run the rollback again to plan afresh",
                self.project
            ))
        })
    }

    /// `changes` with links to recreated issues pointing at their recreations.
    async fn resolve_links(&self, changes: &[JiraChange]) -> Result<Vec<JiraChange>, TrackerError> {
        let mut out = Vec::with_capacity(changes.len());
        for c in changes {
            out.push(match c {
                JiraChange::Parent {
                    from,
                    to: Some(k),
                    recreated: Some(id),
                } => JiraChange::Parent {
                    from: from.clone(),
                    to: Some(self.recreated_key(*id, k).await?),
                    recreated: None,
                },
                JiraChange::EpicLink {
                    from,
                    to: Some(k),
                    recreated: Some(id),
                } => JiraChange::EpicLink {
                    from: from.clone(),
                    to: Some(self.recreated_key(*id, k).await?),
                    recreated: None,
                },
                other => other.clone(),
            });
        }
        Ok(out)
    }

    /// The `fields` of an issue's `PUT` for `changes`.
    async fn edit_body(&self, changes: &[JiraChange]) -> Result<Value, TrackerError> {
        let flavor = self.flavor().await?;
        let custom = self.custom_fields().await?;
        let mut fields = serde_json::Map::new();
        let person = |u: &Option<crate::record::jira::JiraUser>| match u {
            None => Value::Null,
            Some(u) if flavor == Flavor::Cloud => json!({ "accountId": u.id }),
            Some(u) => json!({ "name": u.id }),
        };
        for c in changes {
            let (id, value) = match c {
                JiraChange::Summary { to, .. } => ("summary".to_string(), json!(to)),
                JiraChange::Description { to, .. } => ("description".into(), text_value(to)),
                JiraChange::Labels { to, .. } => ("labels".into(), json!(to)),
                JiraChange::Components { to, .. } => (
                    "components".into(),
                    Value::Array(to.iter().map(ref_value).collect()),
                ),
                JiraChange::FixVersions { to, .. } => (
                    "fixVersions".into(),
                    Value::Array(to.iter().map(ref_value).collect()),
                ),
                JiraChange::Priority { to, .. } => (
                    "priority".into(),
                    to.as_ref().map_or(Value::Null, |p| json!({ "id": p.id })),
                ),
                JiraChange::Assignee { to, .. } => ("assignee".into(), person(to)),
                JiraChange::DueDate { to, .. } => (
                    "duedate".into(),
                    to.map_or(Value::Null, |d| json!(d.format("%Y-%m-%d").to_string())),
                ),
                JiraChange::StoryPoints { to, .. } => {
                    let Some(id) = custom.story_points.first() else {
                        return Err(TrackerError::Config(
                            "this Jira site has no Story Points field to restore".into(),
                        ));
                    };
                    (id.clone(), json!(to))
                }
                JiraChange::Parent { to, .. } => (
                    "parent".into(),
                    to.as_ref().map_or(Value::Null, |k| json!({ "key": k })),
                ),
                JiraChange::EpicLink { to, .. } => {
                    let Some(id) = &custom.epic_link else {
                        return Err(TrackerError::Config(
                            "this Jira site has no Epic Link field to restore".into(),
                        ));
                    };
                    (id.clone(), json!(to))
                }
            };
            fields.insert(id, value);
        }
        Ok(json!({ "fields": fields }))
    }

    /// Walks an issue to status `to` (see the module docs). Returns the hops taken.
    async fn walk(
        &self,
        key: &str,
        to: &str,
        to_name: &str,
        resolution: &Option<JiraRef>,
    ) -> Result<Vec<String>, TrackerError> {
        let mut hops = Vec::new();
        loop {
            let here = self.status_key(key).await?;
            if here.2 == to {
                return Ok(hops);
            }
            if hops.len() >= MAX_HOPS {
                return Err(TrackerError::Scope(format!(
                    "{key} did not reach status {to_name:?} within {MAX_HOPS} transitions"
                )));
            }
            let edges = self.transitions(key).await?;
            let edge = {
                let mut workflows = self.workflows.lock().await;
                workflows.learn(here.clone(), edges);
                workflows.next(&here, to)
            };
            let Some(edge) = edge else {
                return Err(TrackerError::Scope(format!(
                    "{key} cannot reach status {to_name:?}: no transition path leads there from its current status in this workflow"
                )));
            };
            let mut fields = serde_json::Map::new();
            if edge.to.id == to && edge.resolution_on_screen {
                if let Some(r) = resolution {
                    fields.insert("resolution".into(), json!({ "id": r.id }));
                }
            }
            if edge.needs_resolution && !fields.contains_key("resolution") {
                // Passing through a done status on the way: the screen wants a resolution,
                // which the next hop out of it clears again.
                let r = resolution.as_ref().or(edge.resolutions.first());
                if let Some(r) = r {
                    fields.insert("resolution".into(), json!({ "id": r.id }));
                }
            }
            let mut body = json!({ "transition": { "id": edge.id } });
            if !fields.is_empty() {
                body["fields"] = Value::Object(fields);
            }
            self.write(
                Method::POST,
                &format!("/issue/{key}/transitions"),
                Some(&body),
            )
            .await?;
            hops.push(edge.id.clone());
        }
    }

    async fn apply_op(&self, op: &Operation) -> Result<Value, TrackerError> {
        match op {
            Operation::JiraEditIssue { key, changes, .. } => {
                let body = self.edit_body(&self.resolve_links(changes).await?).await?;
                self.write(Method::PUT, &format!("/issue/{key}"), Some(&body))
                    .await?;
                Ok(Value::Null)
            }
            Operation::JiraTransition {
                key,
                to,
                resolution,
                recreated,
                ..
            } => {
                let key = match recreated {
                    Some(original) => self.recreated_key(*original, key).await?,
                    None => key.clone(),
                };
                let hops = self.walk(&key, &to.id, &to.name, resolution).await?;
                Ok(json!({ "hops": hops }))
            }
            Operation::JiraEditComment {
                key,
                id,
                to,
                visibility,
                ..
            } => {
                let body = json!({
                    "body": text_value(&Some(to.clone())),
                    "visibility": visibility_value(visibility),
                });
                match self
                    .write(
                        Method::PUT,
                        &format!("/issue/{key}/comment/{id}"),
                        Some(&body),
                    )
                    .await
                {
                    Ok(_) => Ok(Value::Null),
                    // Deleted meanwhile: nothing left to put back.
                    Err(TrackerError::NotFound { .. }) => Ok(json!({ "gone": true })),
                    Err(e) => Err(e),
                }
            }
            Operation::JiraRecreateComment {
                key,
                original_id,
                body,
                visibility,
                recreated,
                ..
            } => {
                let key = match recreated {
                    Some(original) => self.recreated_key(*original, key).await?,
                    None => key.clone(),
                };
                let mut b = json!({
                    "body": text_value(&Some(body.clone())),
                    "properties": [{ "key": RESTORED_PROPERTY, "value": { "original": original_id } }],
                });
                if visibility.is_some() {
                    b["visibility"] = visibility_value(visibility);
                }
                let created = self
                    .create(op, &format!("/issue/{key}/comment"), &b)
                    .await?;
                Ok(json!({ "id": created.get("id").cloned().unwrap_or(Value::Null) }))
            }
            Operation::JiraRecreateIssue {
                original_id,
                original_key,
                summary,
                issue_type,
                fields,
                epic_name,
                ..
            } => {
                let edit = self.edit_body(&self.resolve_links(fields).await?).await?;
                let mut f = serde_json::Map::new();
                f.insert("project".into(), json!({ "key": self.project }));
                f.insert("issuetype".into(), json!({ "id": issue_type.id }));
                f.insert("summary".into(), json!(summary));
                if let Some(name) = epic_name {
                    let Some(id) = self.custom_fields().await?.epic_name else {
                        return Err(TrackerError::Config(
                            "this Jira site has no Epic Name field to set on an epic".into(),
                        ));
                    };
                    f.insert(id, json!(name));
                }
                if let Some(set) = edit.get("fields").and_then(Value::as_object) {
                    // Nothing to clear on a new issue.
                    f.extend(
                        set.iter()
                            .filter(|(_, v)| !v.is_null())
                            .map(|(k, v)| (k.clone(), v.clone())),
                    );
                }
                let b = json!({
                    "fields": f,
                    "properties": [{
                        "key": RECREATED_PROPERTY,
                        "value": { "original": original_id, "key": original_key },
                    }],
                });
                let created = self.create(op, "/issue", &b).await?;
                let key = created
                    .get("key")
                    .and_then(Value::as_str)
                    .ok_or_else(|| decode("/issue", "a created issue without a key"))?
                    .to_string();
                self.recreated
                    .lock()
                    .await
                    .insert(*original_id, key.clone());
                Ok(json!({ "key": key, "original_key": original_key }))
            }
            Operation::JiraLinkCopies {
                kind,
                outward,
                inward,
                ..
            } => {
                // Jira's `inwardIssue` is the side that reads the outward phrase.
                let from = self.recreated_key(outward.0, &outward.1).await?;
                let to = self.recreated_key(inward.0, &inward.1).await?;
                let b = json!({
                    "type": { "name": kind },
                    "inwardIssue": { "key": from },
                    "outwardIssue": { "key": to },
                });
                self.write(Method::POST, "/issueLink", Some(&b)).await?;
                Ok(json!({ "outward": from, "inward": to }))
            }
            Operation::JiraDeleteIssue { key, .. } => {
                match self
                    .write(
                        Method::DELETE,
                        &format!("/issue/{key}?deleteSubtasks=true"),
                        None,
                    )
                    .await
                {
                    Ok(_) | Err(TrackerError::NotFound { .. }) => Ok(Value::Null),
                    Err(e) => Err(e),
                }
            }
            Operation::JiraCreateComponent {
                name,
                description,
                lead,
                assignee_type,
                ..
            } => {
                let flavor = self.flavor().await?;
                let mut b = json!({ "name": name, "project": self.project });
                if let Some(d) = description {
                    b["description"] = json!(d);
                }
                if let Some(l) = lead {
                    let k = if flavor == Flavor::Cloud {
                        "leadAccountId"
                    } else {
                        "leadUserName"
                    };
                    b[k] = json!(l.id);
                }
                if let Some(t) = assignee_type {
                    b["assigneeType"] = json!(t);
                }
                let created = self.create(op, "/component", &b).await?;
                Ok(json!({ "id": created.get("id").cloned().unwrap_or(Value::Null) }))
            }
            Operation::JiraCreateVersion {
                name,
                description,
                released,
                archived,
                start_date,
                release_date,
                ..
            } => {
                let mut b = json!({
                    "name": name, "project": self.project,
                    "released": released, "archived": archived,
                });
                if let Some(d) = description {
                    b["description"] = json!(d);
                }
                if let Some(d) = start_date {
                    b["startDate"] = json!(d.format("%Y-%m-%d").to_string());
                }
                if let Some(d) = release_date {
                    b["releaseDate"] = json!(d.format("%Y-%m-%d").to_string());
                }
                let created = self.create(op, "/version", &b).await?;
                Ok(json!({ "id": created.get("id").cloned().unwrap_or(Value::Null) }))
            }
            other => Err(TrackerError::Config(format!(
                "a Jira tracker cannot apply a GitHub operation ({})",
                serde_json::to_value(other)
                    .ok()
                    .and_then(|v| v.get("op").and_then(Value::as_str).map(str::to_string))
                    .unwrap_or_default()
            ))),
        }
    }

    async fn find_op(&self, op: &Operation) -> Result<Option<Value>, TrackerError> {
        match op {
            Operation::JiraRecreateComment {
                key,
                original_id,
                recreated,
                ..
            } => {
                let key = match recreated {
                    Some(original) => match self.recreation(*original).await? {
                        Some(k) => k,
                        // Its issue is not back yet: neither is the comment.
                        None => return Ok(None),
                    },
                    None => key.clone(),
                };
                Ok(self
                    .restored_comments(&key)
                    .await?
                    .get(original_id)
                    .map(|id| json!({ "id": id.to_string() })))
            }
            Operation::JiraRecreateIssue {
                original_id,
                original_key,
                ..
            } => {
                // Asked afresh: a creation that failed ambiguously may have landed since
                // the last look.
                let found = self.recreations(None).await?;
                Ok(found
                    .get(original_id)
                    .map(|r| json!({ "key": r.key, "original_key": original_key })))
            }
            Operation::JiraCreateComponent { name, .. } => {
                let list = self
                    .api_get(&format!("/project/{}/components", self.project))
                    .await?;
                Ok(find_named(&list, name))
            }
            Operation::JiraCreateVersion { name, .. } => {
                let list = self
                    .api_get(&format!("/project/{}/versions", self.project))
                    .await?;
                Ok(find_named(&list, name))
            }
            _ => Ok(None),
        }
    }
}

fn find_named(list: &Value, name: &str) -> Option<Value> {
    list.as_array()?
        .iter()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(name))
        .map(|c| json!({ "id": c.get("id").cloned().unwrap_or(Value::Null) }))
}

async fn wait_for_pace(pace: &WritePace, log: &mut WriteLog) {
    let now = Instant::now();
    if let Some(last) = log.last {
        let ready = last + pace.min_interval;
        if ready > now {
            tokio::time::sleep_until(ready.into()).await;
        }
    }
    if pace.per_hour > 0 {
        let hour = Duration::from_secs(3600);
        while log.hour.front().is_some_and(|t| t.elapsed() >= hour) {
            log.hour.pop_front();
        }
        if log.hour.len() >= pace.per_hour as usize {
            if let Some(oldest) = log.hour.front() {
                tracing::info!("hourly write budget used; waiting for it to refill");
                tokio::time::sleep_until((*oldest + hour).into()).await;
            }
        }
    }
}

#[async_trait]
impl TrackerWriter for JiraTracker {
    async fn apply(&self, op: &Operation) -> Result<Value, TrackerError> {
        match self.apply_op(op).await {
            Ok(v) => Ok(v),
            Err(e) => Err(self.explain(e).await),
        }
    }

    async fn find_applied(&self, op: &Operation) -> Result<Option<Value>, TrackerError> {
        if op.is_idempotent() {
            return Ok(None);
        }
        match self.find_op(op).await {
            Ok(v) => Ok(v),
            Err(e) => Err(self.explain(e).await),
        }
    }

    fn reader(self: Arc<Self>) -> Arc<dyn Tracker> {
        self
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn attribution_goes_first_in_either_form() {
        let wiki = attributed(&JiraText::Wiki("hello".into()), "Restored");
        assert_eq!(wiki, JiraText::Wiki("_Restored_\n\nhello".into()));
        let adf = attributed(
            &JiraText::Adf(
                json!({"type": "doc", "version": 1, "content": [{"type": "paragraph"}]}),
            ),
            "Restored",
        );
        let JiraText::Adf(doc) = adf else { panic!() };
        assert_eq!(doc["content"][0]["content"][0]["text"], "Restored");
        assert_eq!(doc["content"][1]["type"], "paragraph");
    }
}
