//! Reading an issue write (`fields` and `update` of a create, an edit or a transition) into
//! validated [`Changes`], refused in Jira's words (`{"errorMessages":[],"errors":{field: …}}`,
//! every bad field named at once) before anything is applied.
//!
//! Jira takes fields by id only (`summary`, `customfield_10016`), users by account id on
//! Cloud and by name on DC, and rich text as ADF on REST v3 and as wiki markup on v2.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::{Map, Value};

use super::{EpicStyle, Issue, State};
use crate::jira::doc::{self, Doc};
use crate::jira::http::JiraError;

/// One operation of an `update` list.
#[derive(Debug, Clone)]
pub(crate) enum ListOp<T> {
    Set(Vec<T>),
    Add(T),
    Remove(T),
}

/// A validated set of field changes. `None` = leave as is.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    pub summary: Option<String>,
    pub description: Option<Option<Doc>>,
    pub environment: Option<Option<Doc>>,
    pub itype: Option<usize>,
    pub priority: Option<usize>,
    pub assignee: Option<Option<usize>>,
    pub reporter: Option<usize>,
    pub labels: Option<Vec<String>>,
    pub components: Option<Vec<u64>>,
    pub fix_versions: Option<Vec<u64>>,
    pub versions: Option<Vec<u64>>,
    pub due: Option<Option<NaiveDate>>,
    pub parent: Option<Option<u64>>,
    pub epic_link: Option<Option<u64>>,
    pub epic_name: Option<Option<String>>,
    pub story_points: Option<Option<f64>>,
    pub sprints: Option<Vec<u64>>,
    pub resolution: Option<Option<usize>>,
    /// `update.comment[].add` bodies, added after the change.
    pub comments: Vec<(Doc, Option<(String, String)>)>,
}

impl Changes {
    pub(crate) fn is_empty(&self) -> bool {
        self.summary.is_none()
            && self.description.is_none()
            && self.environment.is_none()
            && self.itype.is_none()
            && self.priority.is_none()
            && self.assignee.is_none()
            && self.reporter.is_none()
            && self.labels.is_none()
            && self.components.is_none()
            && self.fix_versions.is_none()
            && self.versions.is_none()
            && self.due.is_none()
            && self.parent.is_none()
            && self.epic_link.is_none()
            && self.epic_name.is_none()
            && self.story_points.is_none()
            && self.sprints.is_none()
            && self.resolution.is_none()
    }

    pub(crate) fn apply_to(self, i: &mut Issue) {
        if let Some(v) = self.summary {
            i.summary = v;
        }
        if let Some(v) = self.description {
            i.description = v;
        }
        if let Some(v) = self.environment {
            i.environment = v;
        }
        if let Some(v) = self.itype {
            i.itype = v;
        }
        if let Some(v) = self.priority {
            i.priority = v;
        }
        if let Some(v) = self.assignee {
            i.assignee = v;
        }
        if let Some(v) = self.reporter {
            i.reporter = v;
        }
        if let Some(v) = self.labels {
            i.labels = v;
        }
        if let Some(v) = self.components {
            i.components = v;
        }
        if let Some(v) = self.fix_versions {
            i.fix_versions = v;
        }
        if let Some(v) = self.versions {
            i.versions = v;
        }
        if let Some(v) = self.due {
            i.due = v;
        }
        if let Some(v) = self.parent {
            i.parent = v;
        }
        if let Some(v) = self.epic_link {
            i.epic_link = v;
        }
        if let Some(v) = self.epic_name {
            i.epic_name = v;
        }
        if let Some(v) = self.story_points {
            i.story_points = v;
        }
        if let Some(v) = self.sprints {
            i.sprints = v;
        }
        if let Some(v) = self.resolution {
            i.resolution = v;
        }
    }
}

/// What is being written: which REST version (rich text form), and to what.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub v3: bool,
    /// The issue being edited, or `None` when creating.
    pub issue: Option<&'a Issue>,
    /// The issue type the result will have (for parent rules).
    pub itype: usize,
    /// Fields a transition screen adds to what an edit may set (`resolution`).
    pub screen_resolution: bool,
}

const NOT_SETTABLE: &str = "cannot be set. It is not on the appropriate screen, or unknown.";

/// Collects field errors under the field's id, as Jira reports them.
#[derive(Debug, Default)]
struct Errors(BTreeMap<String, String>);

impl Errors {
    fn add(&mut self, field: &str, msg: impl Into<String>) {
        self.0.entry(field.to_owned()).or_insert_with(|| msg.into());
    }
}

fn str_ref<'v>(v: &'v Value, keys: &[&str]) -> Option<&'v str> {
    keys.iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str).filter(|s| !s.is_empty()))
}

impl State {
    /// Reads a write's `fields` and `update` objects into validated changes.
    pub(crate) fn read_changes(
        &self,
        fields: Option<&Map<String, Value>>,
        update: Option<&Map<String, Value>>,
        t: Target<'_>,
    ) -> Result<Changes, JiraError> {
        let mut ch = Changes::default();
        let mut errs = Errors::default();
        let empty = Map::new();
        for (name, value) in fields.unwrap_or(&empty) {
            if t.issue.is_none() && (name == "project" || name == "issuetype") {
                continue; // the caller resolved these
            }
            self.set_field(&mut ch, &mut errs, name, value, t);
        }
        for (name, ops) in update.unwrap_or(&empty) {
            let Some(ops) = ops.as_array() else {
                errs.add(name, "Operation value must be an array of operations.");
                continue;
            };
            for op in ops {
                let Some((verb, value)) = op.as_object().and_then(|o| o.iter().next()) else {
                    errs.add(name, "Operation value must be an object.");
                    continue;
                };
                self.update_field(&mut ch, &mut errs, name, verb, value, t);
            }
        }
        if errs.0.is_empty() {
            Ok(ch)
        } else {
            Err(JiraError::fields(errs.0))
        }
    }

    fn set_field(&self, ch: &mut Changes, errs: &mut Errors, name: &str, v: &Value, t: Target<'_>) {
        let cf = self.fields;
        let custom = |id: u64| super::CustomFields::name(id) == name;
        let epic_link_style = self.epic_style == EpicStyle::EpicLink;
        match name {
            "summary" => match v.as_str().map(str::trim) {
                Some("") | None => errs.add(name, "You must specify a summary of the issue."),
                Some(s) if s.chars().count() > 255 => {
                    errs.add(name, "Summary must be less than 255 characters.")
                }
                Some(_) if v.as_str().is_some_and(|s| s.contains('\n')) => errs.add(
                    name,
                    "The summary is invalid because it contains newline characters.",
                ),
                Some(s) => ch.summary = Some(s.to_owned()),
            },
            "description" | "environment" => match self.read_doc(v, t.v3) {
                Ok(d) if name == "description" => ch.description = Some(d),
                Ok(d) => ch.environment = Some(d),
                Err(m) => errs.add(name, m),
            },
            "issuetype" => match str_ref(v, &["id", "name"]).and_then(|r| self.type_by_ref(r)) {
                None => errs.add(name, "The issue type selected is invalid."),
                Some(ty) => {
                    let old = t.issue.map(|i| &self.types[i.itype]);
                    let new = &self.types[ty];
                    match old {
                        Some(o) if o.hierarchy != new.hierarchy => errs.add(
                            name,
                            "The issue type can only be changed to a type of the same level \
                             (use Move for others).",
                        ),
                        _ => ch.itype = Some(ty),
                    }
                }
            },
            "priority" => match str_ref(v, &["id", "name"]).and_then(|r| self.priority_by_ref(r)) {
                Some(p) => ch.priority = Some(p),
                None => errs.add(
                    name,
                    "Specify the Priority (id or name) in the correct format",
                ),
            },
            "assignee" => match self.read_user(v) {
                Ok(u) => ch.assignee = Some(u),
                Err(m) => errs.add(name, m),
            },
            "reporter" => match self.read_user(v) {
                Ok(Some(u)) => ch.reporter = Some(u),
                Ok(None) => errs.add(name, "Reporter is required."),
                Err(m) => errs.add(name, m),
            },
            "labels" => match v.as_array() {
                Some(a) => {
                    let mut labels = Vec::new();
                    for l in a {
                        match l.as_str().map(|s| self.check_label(s)) {
                            Some(Ok(s)) => {
                                if !labels.contains(&s) {
                                    labels.push(s)
                                }
                            }
                            Some(Err(m)) => errs.add(name, m),
                            None => errs.add(name, "Labels must be strings."),
                        }
                    }
                    ch.labels = Some(labels);
                }
                None if v.is_null() => ch.labels = Some(Vec::new()),
                None => errs.add(name, "data was not an array"),
            },
            "components" | "fixVersions" | "versions" => match self.read_refs(name, v) {
                Ok(ids) => self.set_list(ch, name, ids),
                Err(m) => errs.add(name, m),
            },
            "duedate" => match v {
                Value::Null => ch.due = Some(None),
                Value::String(s) if s.is_empty() => ch.due = Some(None),
                Value::String(s) => match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                    Ok(d) => ch.due = Some(Some(d)),
                    Err(_) => errs.add(name, format!("Error parsing date string: {s}")),
                },
                _ => errs.add(name, "Error parsing date string"),
            },
            "parent" => match self.read_parent(v, t) {
                Ok(p) => ch.parent = Some(p),
                Err(m) => errs.add(name, m),
            },
            "resolution" if t.screen_resolution => {
                match str_ref(v, &["id", "name"]).and_then(|r| self.resolution_by_ref(r)) {
                    Some(r) => ch.resolution = Some(Some(r)),
                    None => errs.add(name, "Could not find resolution by id or name."),
                }
            }
            _ if custom(cf.story_points) => match v {
                Value::Null => ch.story_points = Some(None),
                Value::Number(n) => ch.story_points = Some(n.as_f64()),
                _ => errs.add(name, "Operation value must be a number"),
            },
            _ if custom(cf.sprint) => match v {
                Value::Null => ch.sprints = Some(Vec::new()),
                Value::Number(n) => match n.as_u64().filter(|id| self.sprint(*id).is_some()) {
                    Some(id) => {
                        // Setting the sprint replaces the open one; closed sprints stay in
                        // the issue's history, as on Jira.
                        let mut keep: Vec<u64> = t
                            .issue
                            .map(|i| {
                                i.sprints
                                    .iter()
                                    .copied()
                                    .filter(|s| {
                                        self.sprint(*s).is_some_and(|s| s.state == "closed")
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        if !keep.contains(&id) {
                            keep.push(id);
                        }
                        ch.sprints = Some(keep);
                    }
                    None => errs.add(name, format!("Sprint with id {n} does not exist.")),
                },
                _ => errs.add(name, "Number value expected as the Sprint id."),
            },
            _ if epic_link_style && custom(cf.epic_link) => match v {
                Value::Null => ch.epic_link = Some(None),
                Value::String(s) if s.is_empty() => ch.epic_link = Some(None),
                Value::String(s) => match self.find(s).and_then(|id| self.issues.get(&id)) {
                    Some(e) if self.is_epic(e) => {
                        if self.types[t.itype].hierarchy != 0 {
                            errs.add(name, "Only standard issues can be linked to an epic.")
                        } else {
                            ch.epic_link = Some(Some(e.id))
                        }
                    }
                    Some(_) => errs.add(name, format!("Issue {s} is not an Epic.")),
                    None => errs.add(name, format!("Epic '{s}' does not exist.")),
                },
                _ => errs.add(name, "The Epic Link must be an issue key."),
            },
            _ if epic_link_style && custom(cf.epic_name) => match v {
                Value::Null => ch.epic_name = Some(None),
                Value::String(s) => ch.epic_name = Some(Some(s.clone())),
                _ => errs.add(name, "Epic Name must be a string."),
            },
            _ => errs.add(name, format!("Field '{name}' {NOT_SETTABLE}")),
        }
    }

    fn update_field(
        &self,
        ch: &mut Changes,
        errs: &mut Errors,
        name: &str,
        verb: &str,
        v: &Value,
        t: Target<'_>,
    ) {
        match (name, verb) {
            ("comment", "add") => {
                let body = v.get("body").map(|b| self.read_doc(b, t.v3));
                match body {
                    Some(Ok(Some(d))) => match self.read_visibility(v.get("visibility")) {
                        Ok(vis) => ch.comments.push((d, vis)),
                        Err(m) => errs.add("comment", m),
                    },
                    Some(Err(m)) => errs.add("comment", m),
                    _ => errs.add("comment", "Comment body can not be empty!"),
                }
            }
            ("labels", _) => {
                let op = match verb {
                    "set" => v.as_array().map(|a| {
                        ListOp::Set(
                            a.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_owned)
                                .collect(),
                        )
                    }),
                    "add" => v.as_str().map(|s| ListOp::Add(s.to_owned())),
                    "remove" => v.as_str().map(|s| ListOp::Remove(s.to_owned())),
                    _ => None,
                };
                let Some(op) = op else {
                    return errs.add(name, format!("Unsupported operation '{verb}' for labels."));
                };
                let current = ch
                    .labels
                    .clone()
                    .or_else(|| t.issue.map(|i| i.labels.clone()))
                    .unwrap_or_default();
                let mut bad = None;
                let mut check = |s: &str| match self.check_label(s) {
                    Ok(s) => Some(s),
                    Err(m) => {
                        bad = Some(m);
                        None
                    }
                };
                let next = match op {
                    ListOp::Set(all) => {
                        let mut out: Vec<String> = Vec::new();
                        for l in all.iter().filter_map(|s| check(s)) {
                            if !out.contains(&l) {
                                out.push(l);
                            }
                        }
                        out
                    }
                    ListOp::Add(l) => {
                        let mut out = current;
                        if let Some(l) = check(&l) {
                            if !out.contains(&l) {
                                out.push(l);
                            }
                        }
                        out
                    }
                    ListOp::Remove(l) => current.into_iter().filter(|x| *x != l).collect(),
                };
                match bad {
                    Some(m) => errs.add(name, m),
                    None => ch.labels = Some(next),
                }
            }
            ("components" | "fixVersions" | "versions", _) => {
                let current = match name {
                    "components" => ch.components.clone(),
                    "fixVersions" => ch.fix_versions.clone(),
                    _ => ch.versions.clone(),
                }
                .or_else(|| {
                    t.issue.map(|i| match name {
                        "components" => i.components.clone(),
                        "fixVersions" => i.fix_versions.clone(),
                        _ => i.versions.clone(),
                    })
                })
                .unwrap_or_default();
                let next = match verb {
                    "set" => self.read_refs(name, v),
                    "add" => self.read_ref(name, v).map(|id| {
                        let mut out = current.clone();
                        if !out.contains(&id) {
                            out.push(id);
                        }
                        out
                    }),
                    "remove" => self
                        .read_ref(name, v)
                        .map(|id| current.iter().copied().filter(|x| *x != id).collect()),
                    _ => Err(format!("Unsupported operation '{verb}' for {name}.")),
                };
                match next {
                    Ok(ids) => self.set_list(ch, name, ids),
                    Err(m) => errs.add(name, m),
                }
            }
            (_, "set") => self.set_field(ch, errs, name, v, t),
            _ => errs.add(
                name,
                format!("Field '{name}' does not support the '{verb}' operation."),
            ),
        }
    }

    fn set_list(&self, ch: &mut Changes, name: &str, ids: Vec<u64>) {
        match name {
            "components" => ch.components = Some(ids),
            "fixVersions" => ch.fix_versions = Some(ids),
            _ => ch.versions = Some(ids),
        }
    }

    /// One component or version reference (`{"id": …}` or `{"name": …}`).
    fn read_ref(&self, field: &str, v: &Value) -> Result<u64, String> {
        let component = field == "components";
        if let Some(id) = v.get("id") {
            let id = id
                .as_str()
                .and_then(|s| s.parse::<u64>().ok())
                .or_else(|| id.as_u64());
            let known = id.filter(|id| {
                if component {
                    self.components.contains_key(id)
                } else {
                    self.versions.contains_key(id)
                }
            });
            return known.ok_or_else(|| {
                let what = if component { "Component" } else { "Version" };
                format!("{what} id '{}' is not valid", id.unwrap_or_default())
            });
        }
        let Some(name) = v.get("name").and_then(Value::as_str) else {
            return Err(format!(
                "Could not find valid 'id' or 'name' in {field} object."
            ));
        };
        let found = if component {
            self.component_by_name(name)
        } else {
            self.version_by_name(name)
        };
        found.ok_or_else(|| {
            if component {
                format!("Component name '{name}' is not valid")
            } else {
                format!("Version name '{name}' is not valid")
            }
        })
    }

    fn read_refs(&self, field: &str, v: &Value) -> Result<Vec<u64>, String> {
        if v.is_null() {
            return Ok(Vec::new());
        }
        let Some(items) = v.as_array() else {
            return Err("data was not an array".into());
        };
        let mut out = Vec::new();
        for item in items {
            let id = self.read_ref(field, item)?;
            if !out.contains(&id) {
                out.push(id);
            }
        }
        Ok(out)
    }

    fn check_label(&self, s: &str) -> Result<String, String> {
        if s.is_empty() {
            Err("Label cannot be empty.".into())
        } else if s.chars().any(char::is_whitespace) {
            Err(format!("The label '{s}' contains spaces which is invalid."))
        } else if s.chars().count() > 255 {
            Err("The label must be less than 255 characters.".into())
        } else {
            Ok(s.to_owned())
        }
    }

    /// Rich text in the request's REST version, stored in the flavour's form.
    pub(crate) fn read_doc(&self, v: &Value, v3: bool) -> Result<Option<Doc>, String> {
        match v {
            Value::Null => Ok(None),
            Value::String(s) if !v3 => Ok((!s.is_empty()).then(|| {
                if self.cloud() {
                    Doc::Adf(doc::wiki_to_adf(s))
                } else {
                    Doc::Wiki(s.clone())
                }
            })),
            _ if v3 && doc::is_adf_doc(v) => Ok(Some(Doc::Adf(v.clone()))),
            _ if v3 => Err(
                "Operation value must be an Atlassian Document (see the Atlassian Document \
                 Format)."
                    .into(),
            ),
            _ => Err("Operation value must be a string".into()),
        }
    }

    /// A user reference as the flavour takes it; `Ok(None)` for null (unassigned).
    pub(crate) fn read_user(&self, v: &Value) -> Result<Option<usize>, String> {
        if v.is_null() {
            return Ok(None);
        }
        if self.cloud() {
            let Some(id) = str_ref(v, &["accountId", "id"]) else {
                return Err("Specify a valid value for accountId".into());
            };
            if id == "-1" {
                return Ok(None);
            }
            self.user_by_account(id)
                .map(Some)
                .ok_or_else(|| format!("User with accountId '{id}' does not exist"))
        } else {
            let Some(name) = str_ref(v, &["name", "key"]) else {
                return Err("Specify a valid value for the user (name or key)".into());
            };
            if name == "-1" {
                return Ok(None);
            }
            self.user_by_ref(name)
                .map(Some)
                .ok_or_else(|| format!("User '{name}' does not exist."))
        }
    }

    fn read_parent(&self, v: &Value, t: Target<'_>) -> Result<Option<u64>, String> {
        if v.is_null() || v.as_object().is_some_and(Map::is_empty) {
            if self.types[t.itype].subtask {
                return Err("A sub-task must have a parent.".into());
            }
            return Ok(None);
        }
        let Some(r) = str_ref(v, &["key", "id"]) else {
            return Err("Could not find issue by id or key.".into());
        };
        let Some(p) = self.find(r).and_then(|id| self.issues.get(&id)) else {
            return Err("Could not find issue by id or key.".into());
        };
        if t.issue.is_some_and(|i| i.id == p.id) {
            return Err("An issue cannot be its own parent.".into());
        }
        let want = self.types[t.itype].hierarchy + 1;
        let ok = self.types[p.itype].hierarchy == want
            && (want != 1 || self.epic_style == EpicStyle::Parent);
        if ok {
            Ok(Some(p.id))
        } else {
            Err("Given parent work item does not belong to appropriate hierarchy.".into())
        }
    }
}

impl State {
    /// A comment's `visibility` (`{"type": "role"|"group", "value": …}`), `Ok(None)` if
    /// absent; a role or group the site lacks is refused as Jira refuses a non-member.
    pub(crate) fn read_visibility(
        &self,
        v: Option<&Value>,
    ) -> Result<Option<(String, String)>, String> {
        read_visibility(v, &self.roles, &self.groups)
    }
}

fn read_visibility(
    v: Option<&Value>,
    roles: &[String],
    groups: &[String],
) -> Result<Option<(String, String)>, String> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let kind = v.get("type").and_then(Value::as_str);
    let value = v
        .get("value")
        .or_else(|| v.get("identifier"))
        .and_then(Value::as_str);
    match (kind, value) {
        (Some(k @ ("role" | "group")), Some(val)) if !val.is_empty() => {
            let known = if k == "role" {
                roles.iter().any(|r| r.eq_ignore_ascii_case(val))
            } else {
                groups.iter().any(|g| g.eq_ignore_ascii_case(val))
            };
            if known {
                Ok(Some((k.to_owned(), val.to_owned())))
            } else if k == "role" {
                Err(format!(
                    "You are currently not a member of the project role: {val}."
                ))
            } else {
                Err(format!(
                    "You are currently not a member of the group: {val}."
                ))
            }
        }
        _ => Err("Visibility must have a type (role or group) and a value.".into()),
    }
}

/// Project roles a comment can be restricted to, unless the site is configured otherwise.
pub(crate) const ROLES: &[&str] = &["Administrators", "Developers", "Users"];
/// Groups a comment can be restricted to, unless the site is configured otherwise.
pub(crate) const GROUPS: &[&str] = &["jira-administrators", "jira-software-users", "developers"];
