//! Jira-shaped JSON for every object, per flavour (Cloud names users by `accountId`, DC by
//! `name` and `key`) and per REST version (rich text as ADF on v3, wiki markup on v2).
//! Shapes follow Atlassian's OpenAPI descriptions (validated in the test suite) and the
//! responses recorded from real sites.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use super::doc::{self, Doc};
use super::http::Ctx;
use super::state::{
    Cat, Comment, Component, CustomFields, Issue, IssueType, Link, Ms, Priority, Resolution, State,
    Status, Transition, Version,
};
use super::{EpicStyle, CLOUD_EMBEDDED_COMMENTS};

/// Jira's timestamp format: `2024-05-01T12:34:56.789+0000` (the sandbox's zone is UTC).
pub(crate) fn ts(ms: Ms) -> Value {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => Value::String(t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()),
        None => Value::Null,
    }
}

/// ISO 8601 with `Z`, as Cloud's agile objects (sprints) carry dates.
fn iso_z(ms: Ms) -> Value {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => Value::String(t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()),
        None => Value::Null,
    }
}

fn date(d: Option<chrono::NaiveDate>) -> Value {
    d.map_or(Value::Null, |d| {
        Value::String(d.format("%Y-%m-%d").to_string())
    })
}

/// One entry of `/field`.
#[derive(Debug, Clone)]
pub(crate) struct FieldDef {
    pub id: String,
    pub name: String,
    pub custom: bool,
    pub navigable: bool,
    pub orderable: bool,
    pub searchable: bool,
    pub clauses: Vec<String>,
    pub schema: Value,
}

/// The custom fields this site has: `(customfield_N, name, schema)`.
pub(crate) fn custom_fields(st: &State) -> Vec<(String, &'static str, Value)> {
    let f = st.fields;
    let c = |id: u64, ty: &str, custom: &str, items: Option<&str>| {
        let mut s = json!({"type": ty, "custom": custom, "customId": id});
        if let Some(items) = items {
            s["items"] = json!(items);
        }
        s
    };
    let mut out = vec![
        (
            CustomFields::name(f.story_points),
            "Story Points",
            c(
                f.story_points,
                "number",
                "com.atlassian.jira.plugin.system.customfieldtypes:float",
                None,
            ),
        ),
        (
            CustomFields::name(f.sprint),
            "Sprint",
            c(
                f.sprint,
                "array",
                "com.pyxis.greenhopper.jira:gh-sprint",
                Some("json"),
            ),
        ),
        (
            CustomFields::name(f.rank),
            "Rank",
            c(
                f.rank,
                "any",
                "com.pyxis.greenhopper.jira:gh-lexo-rank",
                None,
            ),
        ),
    ];
    if st.epic_style == EpicStyle::EpicLink {
        out.push((
            CustomFields::name(f.epic_link),
            "Epic Link",
            c(
                f.epic_link,
                "any",
                "com.pyxis.greenhopper.jira:gh-epic-link",
                None,
            ),
        ));
        out.push((
            CustomFields::name(f.epic_name),
            "Epic Name",
            c(
                f.epic_name,
                "string",
                "com.pyxis.greenhopper.jira:gh-epic-label",
                None,
            ),
        ));
    }
    out
}

/// Every field the site has, system fields first.
pub(crate) fn field_defs(st: &State) -> Vec<FieldDef> {
    let sys =
        |id: &str, name: &str, nav: bool, ord: bool, clauses: &[&str], schema: Value| FieldDef {
            id: id.to_owned(),
            name: name.to_owned(),
            custom: false,
            navigable: nav,
            orderable: ord,
            searchable: !clauses.is_empty(),
            clauses: clauses.iter().map(|c| (*c).to_owned()).collect(),
            schema,
        };
    let s = |ty: &str, system: &str| json!({"type": ty, "system": system});
    let arr =
        |items: &str, system: &str| json!({"type": "array", "items": items, "system": system});
    let mut out = vec![
        sys(
            "summary",
            "Summary",
            true,
            true,
            &["summary"],
            s("string", "summary"),
        ),
        sys(
            "description",
            "Description",
            true,
            true,
            &["description"],
            s("string", "description"),
        ),
        sys(
            "environment",
            "Environment",
            true,
            true,
            &["environment"],
            s("string", "environment"),
        ),
        sys(
            "issuetype",
            "Issue Type",
            true,
            true,
            &["issuetype", "type"],
            s("issuetype", "issuetype"),
        ),
        sys(
            "status",
            "Status",
            true,
            false,
            &["status"],
            s("status", "status"),
        ),
        sys(
            "statuscategorychangedate",
            "Status Category Changed",
            true,
            false,
            &["statusCategoryChangedDate"],
            s("datetime", "statuscategorychangedate"),
        ),
        sys(
            "priority",
            "Priority",
            true,
            true,
            &["priority"],
            s("priority", "priority"),
        ),
        sys(
            "resolution",
            "Resolution",
            true,
            true,
            &["resolution"],
            s("resolution", "resolution"),
        ),
        sys(
            "resolutiondate",
            "Resolved",
            true,
            false,
            &["resolutiondate", "resolved"],
            s("datetime", "resolutiondate"),
        ),
        sys(
            "assignee",
            "Assignee",
            true,
            true,
            &["assignee"],
            s("user", "assignee"),
        ),
        sys(
            "reporter",
            "Reporter",
            true,
            true,
            &["reporter"],
            s("user", "reporter"),
        ),
        sys(
            "creator",
            "Creator",
            true,
            false,
            &["creator"],
            s("user", "creator"),
        ),
        sys(
            "created",
            "Created",
            true,
            false,
            &["created", "createdDate"],
            s("datetime", "created"),
        ),
        sys(
            "updated",
            "Updated",
            true,
            false,
            &["updated", "updatedDate"],
            s("datetime", "updated"),
        ),
        sys(
            "lastViewed",
            "Last Viewed",
            true,
            false,
            &["lastViewed"],
            s("datetime", "lastViewed"),
        ),
        sys(
            "duedate",
            "Due date",
            true,
            true,
            &["due", "duedate"],
            s("date", "duedate"),
        ),
        sys(
            "labels",
            "Labels",
            true,
            true,
            &["labels"],
            arr("string", "labels"),
        ),
        sys(
            "components",
            "Components",
            true,
            true,
            &["component"],
            arr("component", "components"),
        ),
        sys(
            "fixVersions",
            "Fix versions",
            true,
            true,
            &["fixVersion"],
            arr("version", "fixVersions"),
        ),
        sys(
            "versions",
            "Affects versions",
            true,
            true,
            &["affectedVersion"],
            arr("version", "versions"),
        ),
        sys(
            "project",
            "Project",
            false,
            false,
            &["project"],
            s("project", "project"),
        ),
        sys(
            "parent",
            "Parent",
            true,
            true,
            &["parent"],
            s("issuelink", "parent"),
        ),
        sys(
            "subtasks",
            "Sub-tasks",
            true,
            false,
            &["subtasks"],
            arr("issuelinks", "subtasks"),
        ),
        sys(
            "issuelinks",
            "Linked Issues",
            true,
            true,
            &["issueLink"],
            arr("issuelinks", "issuelinks"),
        ),
        sys(
            "comment",
            "Comment",
            false,
            true,
            &["comment"],
            s("comments-page", "comment"),
        ),
        sys(
            "watches",
            "Watchers",
            true,
            false,
            &["watchers"],
            s("watches", "watches"),
        ),
        sys(
            "votes",
            "Votes",
            true,
            false,
            &["votes"],
            s("votes", "votes"),
        ),
        sys(
            "attachment",
            "Attachment",
            false,
            true,
            &["attachments"],
            arr("attachment", "attachment"),
        ),
        sys(
            "worklog",
            "Log Work",
            false,
            true,
            &["worklogAuthor", "worklogComment", "worklogDate"],
            arr("worklog", "worklog"),
        ),
        sys(
            "timetracking",
            "Time tracking",
            false,
            true,
            &[],
            s("timetracking", "timetracking"),
        ),
        sys(
            "workratio",
            "Work Ratio",
            true,
            false,
            &["workratio"],
            s("number", "workratio"),
        ),
        sys(
            "security",
            "Security Level",
            true,
            true,
            &["level"],
            s("securitylevel", "security"),
        ),
        sys(
            "progress",
            "Progress",
            true,
            false,
            &["progress"],
            s("progress", "progress"),
        ),
        sys(
            "aggregateprogress",
            "Σ Progress",
            true,
            false,
            &[],
            s("progress", "aggregateprogress"),
        ),
        sys(
            "timeoriginalestimate",
            "Original estimate",
            true,
            false,
            &["originalEstimate", "timeoriginalestimate"],
            s("number", "timeoriginalestimate"),
        ),
        sys(
            "timeestimate",
            "Remaining Estimate",
            true,
            false,
            &["remainingEstimate", "timeestimate"],
            s("number", "timeestimate"),
        ),
        sys(
            "timespent",
            "Time Spent",
            true,
            false,
            &["timespent"],
            s("number", "timespent"),
        ),
        sys(
            "aggregatetimeoriginalestimate",
            "Σ Original Estimate",
            true,
            false,
            &[],
            s("number", "aggregatetimeoriginalestimate"),
        ),
        sys(
            "aggregatetimeestimate",
            "Σ Remaining Estimate",
            true,
            false,
            &[],
            s("number", "aggregatetimeestimate"),
        ),
        sys(
            "aggregatetimespent",
            "Σ Time Spent",
            true,
            false,
            &[],
            s("number", "aggregatetimespent"),
        ),
    ];
    if st.cloud() {
        out.push(sys(
            "issuerestriction",
            "Restrict to",
            true,
            true,
            &[],
            s("issuerestriction", "issuerestriction"),
        ));
    }
    for (id, name, schema) in custom_fields(st) {
        let num = id.trim_start_matches("customfield_").to_owned();
        let clause = match name {
            "Story Points" => vec![format!("cf[{num}]"), "Story Points".to_owned()],
            "Sprint" => vec![format!("cf[{num}]"), "sprint".to_owned()],
            "Rank" => vec![format!("cf[{num}]"), "rank".to_owned()],
            "Epic Link" => vec![format!("cf[{num}]"), "\"Epic Link\"".to_owned()],
            _ => vec![format!("cf[{num}]"), format!("\"{name}\"")],
        };
        out.push(FieldDef {
            id,
            name: name.to_owned(),
            custom: true,
            navigable: true,
            orderable: name != "Rank",
            searchable: true,
            clauses: clause,
            schema,
        });
    }
    out
}

/// Which fields a request asked for (`fields=`): ids, `*all`, `*navigable`, `-id` to drop.
#[derive(Debug, Clone, Default)]
pub(crate) struct FieldSel {
    all: bool,
    navigable: bool,
    include: HashSet<String>,
    exclude: HashSet<String>,
}

impl FieldSel {
    /// `list` as given (`None` if the parameter was absent, so `default` applies).
    pub(crate) fn parse(list: Option<&[String]>, default: &str) -> FieldSel {
        let mut sel = FieldSel::default();
        let items: Vec<String> = match list {
            Some(l) if !l.is_empty() => l.to_vec(),
            _ => vec![default.to_owned()],
        };
        for it in items {
            let it = it.trim();
            match it {
                "*all" => sel.all = true,
                "*navigable" => sel.navigable = true,
                "" => {}
                _ => match it.strip_prefix('-') {
                    Some(x) => {
                        sel.exclude.insert(x.to_owned());
                    }
                    None => {
                        sel.include.insert(it.to_owned());
                    }
                },
            }
        }
        sel
    }

    pub(crate) fn wants(&self, f: &FieldDef) -> bool {
        if self.exclude.contains(&f.id) {
            return false;
        }
        self.all || (self.navigable && f.navigable) || self.include.contains(&f.id)
    }

    /// Whether nothing but `id` and `key` was asked for (Cloud pages up to 5,000 then).
    pub(crate) fn ids_only(&self) -> bool {
        !self.all && !self.navigable && self.include.iter().all(|f| f == "id" || f == "key")
    }
}

/// `expand=` options of issue reads.
#[derive(Debug, Clone, Default)]
pub(crate) struct Expand {
    pub names: bool,
    pub schema: bool,
    pub transitions: bool,
    pub editmeta: bool,
    pub rendered: bool,
    pub changelog: bool,
    pub operations: bool,
    pub transitions_fields: bool,
}

impl Expand {
    pub(crate) fn parse(list: Option<&[String]>) -> Expand {
        let mut e = Expand::default();
        for it in list.unwrap_or(&[]) {
            match it.trim() {
                "names" => e.names = true,
                "schema" => e.schema = true,
                "transitions" => e.transitions = true,
                "transitions.fields" => {
                    e.transitions = true;
                    e.transitions_fields = true;
                }
                "editmeta" => e.editmeta = true,
                "renderedFields" => e.rendered = true,
                "changelog" => e.changelog = true,
                "operations" => e.operations = true,
                _ => {}
            }
        }
        e
    }
}

/// Renders objects for one request.
pub(crate) struct Render<'a> {
    pub ctx: &'a Ctx,
    pub st: &'a State,
    rest: String,
}

impl<'a> Render<'a> {
    pub(crate) fn new(ctx: &'a Ctx, st: &'a State) -> Render<'a> {
        Render {
            rest: ctx.rest(),
            ctx,
            st,
        }
    }

    fn cloud(&self) -> bool {
        self.st.cloud()
    }

    pub(crate) fn rest(&self) -> &str {
        &self.rest
    }

    fn avatars(&self, kind: &str, id: &str) -> Value {
        let base = format!("{}/secure/{kind}avatar?avatarId={id}", self.ctx.origin);
        json!({
            "48x48": base,
            "24x24": format!("{base}&size=small"),
            "16x16": format!("{base}&size=xsmall"),
            "32x32": format!("{base}&size=medium"),
        })
    }

    /// A user as every embedded reference shows them.
    pub(crate) fn user(&self, idx: usize) -> Value {
        let Some(u) = self.st.users.get(idx) else {
            return Value::Null;
        };
        if self.cloud() {
            let id = &u.account_id;
            let enc: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
            json!({
                "self": format!("{}/user?accountId={enc}", self.rest),
                "accountId": id,
                "emailAddress": u.email,
                "avatarUrls": self.avatars("user", &u.key),
                "displayName": u.display,
                "active": u.active,
                "timeZone": u.time_zone,
                "accountType": "atlassian",
            })
        } else {
            let enc: String = url::form_urlencoded::byte_serialize(u.name.as_bytes()).collect();
            json!({
                "self": format!("{}/user?username={enc}", self.rest),
                "name": u.name,
                "key": u.key,
                "emailAddress": u.email,
                "avatarUrls": self.avatars("user", &u.key),
                "displayName": u.display,
                "active": u.active,
                "timeZone": u.time_zone,
            })
        }
    }

    pub(crate) fn user_opt(&self, idx: Option<usize>) -> Value {
        idx.map_or(Value::Null, |i| self.user(i))
    }

    /// `/myself` and `/user`: the embedded shape plus locale, groups and roles.
    pub(crate) fn user_full(&self, idx: usize) -> Value {
        let mut u = self.user(idx);
        if let Some(o) = u.as_object_mut() {
            o.insert("locale".into(), json!("en_US"));
            o.insert("groups".into(), json!({"size": 2, "items": []}));
            o.insert("applicationRoles".into(), json!({"size": 1, "items": []}));
            o.insert("expand".into(), json!("groups,applicationRoles"));
        }
        u
    }

    pub(crate) fn issue_type(&self, t: &IssueType) -> Value {
        let mut v = json!({
            "self": format!("{}/issuetype/{}", self.rest, t.id),
            "id": t.id,
            "description": t.description,
            "iconUrl": format!("{}/secure/viewavatar?size=medium&avatarId={}&avatarType=issuetype",
                               self.ctx.origin, t.avatar),
            "name": t.name,
            "subtask": t.subtask,
            "avatarId": t.avatar,
        });
        if self.cloud() {
            v["hierarchyLevel"] = json!(t.hierarchy);
        }
        v
    }

    pub(crate) fn status_category(&self, c: Cat) -> Value {
        let (id, key, color, name) = c.parts();
        json!({
            "self": format!("{}/statuscategory/{id}", self.rest),
            "id": id,
            "key": key,
            "colorName": color,
            "name": name,
        })
    }

    pub(crate) fn status(&self, s: &Status) -> Value {
        let mut v = json!({
            "self": format!("{}/status/{}", self.rest, s.id),
            "description": s.description,
            "iconUrl": format!("{}/images/icons/status_generic.gif", self.ctx.origin),
            "name": s.name,
            "id": s.id,
            "statusCategory": self.status_category(s.category),
        });
        if !self.cloud() {
            v["untranslatedName"] = json!(s.name);
        }
        v
    }

    pub(crate) fn priority(&self, p: &Priority) -> Value {
        json!({
            "self": format!("{}/priority/{}", self.rest, p.id),
            "statusColor": p.color,
            "description": p.description,
            "iconUrl": format!("{}/images/icons/priorities/{}.svg", self.ctx.origin, p.icon),
            "name": p.name,
            "id": p.id,
        })
    }

    /// A priority as an issue embeds it (no description or colour).
    fn priority_short(&self, p: &Priority) -> Value {
        json!({
            "self": format!("{}/priority/{}", self.rest, p.id),
            "iconUrl": format!("{}/images/icons/priorities/{}.svg", self.ctx.origin, p.icon),
            "name": p.name,
            "id": p.id,
        })
    }

    pub(crate) fn resolution(&self, r: &Resolution) -> Value {
        json!({
            "self": format!("{}/resolution/{}", self.rest, r.id),
            "id": r.id,
            "description": r.description,
            "name": r.name,
        })
    }

    pub(crate) fn link_type(&self, t: &super::state::LinkType) -> Value {
        json!({
            "id": t.id,
            "name": t.name,
            "inward": t.inward,
            "outward": t.outward,
            "self": format!("{}/issueLinkType/{}", self.rest, t.id),
        })
    }

    pub(crate) fn project_short(&self) -> Value {
        let p = &self.st.project;
        let mut v = json!({
            "self": format!("{}/project/{}", self.rest, p.id),
            "id": p.id.to_string(),
            "key": p.key,
            "name": p.name,
            "projectTypeKey": "software",
            "avatarUrls": self.avatars("project", &p.id.to_string()),
        });
        if self.cloud() {
            v["simplified"] = json!(self.st.epic_style == EpicStyle::Parent);
        }
        v
    }

    /// `GET /project/{key}` (and the list, which leaves out the heavy parts).
    pub(crate) fn project(&self, full: bool) -> Value {
        let p = &self.st.project;
        let mut v = self.project_short();
        let o = v.as_object_mut();
        let Some(o) = o else { return v };
        o.insert(
            "expand".into(),
            json!("description,lead,issueTypes,url,projectKeys,permissions,insight"),
        );
        if self.cloud() {
            o.insert(
                "style".into(),
                json!(if self.st.epic_style == EpicStyle::Parent {
                    "next-gen"
                } else {
                    "classic"
                }),
            );
            o.insert("isPrivate".into(), json!(false));
        }
        o.insert("archived".into(), json!(false));
        if full {
            o.insert("description".into(), json!(p.description));
            o.insert("lead".into(), self.user(p.lead));
            o.insert(
                "components".into(),
                Value::Array(
                    self.st
                        .components
                        .values()
                        .map(|c| self.component(c))
                        .collect(),
                ),
            );
            o.insert(
                "issueTypes".into(),
                Value::Array(self.st.types.iter().map(|t| self.issue_type(t)).collect()),
            );
            o.insert("assigneeType".into(), json!("UNASSIGNED"));
            o.insert(
                "versions".into(),
                Value::Array(self.st.versions.values().map(|v| self.version(v)).collect()),
            );
            o.insert(
                "roles".into(),
                json!({
                    "Administrators": format!("{}/project/{}/role/10002", self.rest, p.id),
                    "Developers": format!("{}/project/{}/role/10001", self.rest, p.id),
                    "Users": format!("{}/project/{}/role/10000", self.rest, p.id),
                }),
            );
            o.insert("properties".into(), json!({}));
        }
        v
    }

    pub(crate) fn component(&self, c: &Component) -> Value {
        let p = &self.st.project;
        let mut v = json!({
            "self": format!("{}/component/{}", self.rest, c.id),
            "id": c.id.to_string(),
            "name": c.name,
            "assigneeType": c.assignee_type,
            "realAssigneeType": c.assignee_type,
            "isAssigneeTypeValid": false,
            "project": p.key,
            "projectId": p.id,
        });
        if let Some(d) = &c.description {
            v["description"] = json!(d);
        }
        if let Some(l) = c.lead {
            v["lead"] = self.user(l);
            if let Some(u) = self.st.users.get(l) {
                if self.cloud() {
                    v["leadAccountId"] = json!(u.account_id);
                } else {
                    v["leadUserName"] = json!(u.name);
                }
            }
        }
        v
    }

    /// A component as an issue embeds it.
    fn component_short(&self, c: &Component) -> Value {
        let mut v = json!({
            "self": format!("{}/component/{}", self.rest, c.id),
            "id": c.id.to_string(),
            "name": c.name,
        });
        if let Some(d) = &c.description {
            v["description"] = json!(d);
        }
        v
    }

    pub(crate) fn version(&self, ver: &Version) -> Value {
        let mut v = json!({
            "self": format!("{}/version/{}", self.rest, ver.id),
            "id": ver.id.to_string(),
            "name": ver.name,
            "archived": ver.archived,
            "released": ver.released,
            "projectId": self.st.project.id,
        });
        if let Some(d) = &ver.description {
            v["description"] = json!(d);
        }
        if let Some(d) = ver.start_date {
            v["startDate"] = date(Some(d));
        }
        if let Some(d) = ver.release_date {
            v["releaseDate"] = date(Some(d));
            v["userReleaseDate"] = json!(d.format("%-d/%b/%y").to_string());
            let today = chrono::Utc::now().date_naive();
            v["overdue"] = json!(!ver.released && d < today);
        }
        v
    }

    fn version_short(&self, ver: &Version) -> Value {
        let mut v = json!({
            "self": format!("{}/version/{}", self.rest, ver.id),
            "id": ver.id.to_string(),
            "name": ver.name,
            "archived": ver.archived,
            "released": ver.released,
        });
        if let Some(d) = &ver.description {
            v["description"] = json!(d);
        }
        if let Some(d) = ver.release_date {
            v["releaseDate"] = date(Some(d));
        }
        v
    }

    /// Rich text in the request's version: ADF on v3, wiki markup on v2.
    pub(crate) fn doc(&self, d: Option<&Doc>) -> Value {
        match d {
            None => Value::Null,
            Some(d) if self.ctx.v3() => d.to_adf(),
            Some(d) => Value::String(d.to_wiki()),
        }
    }

    pub(crate) fn field_json(&self, f: &FieldDef) -> Value {
        let mut v = json!({
            "id": f.id,
            "name": f.name,
            "custom": f.custom,
            "orderable": f.orderable,
            "navigable": f.navigable,
            "searchable": f.searchable,
            "clauseNames": f.clauses,
            "schema": f.schema,
        });
        if self.cloud() {
            v["key"] = json!(f.id);
        }
        v
    }

    /// The `{id, key, self, fields: {summary, status, priority, issuetype}}` an issue shows for
    /// its parent, subtasks and linked issues.
    fn issue_ref(&self, id: u64) -> Value {
        let Some(i) = self.st.issues.get(&id) else {
            return Value::Null;
        };
        json!({
            "id": i.id.to_string(),
            "key": self.st.issue_key(i),
            "self": format!("{}/issue/{}", self.rest, i.id),
            "fields": {
                "summary": i.summary,
                "status": self.status(&self.st.statuses[i.status]),
                "priority": self.priority_short(&self.st.priorities[i.priority]),
                "issuetype": self.issue_type(&self.st.types[i.itype]),
            }
        })
    }

    fn link_view(&self, l: &Link, from: u64) -> Value {
        let t = &self.st.link_types[l.ltype];
        let mut v = json!({
            "id": l.id.to_string(),
            "self": format!("{}/issueLink/{}", self.rest, l.id),
            "type": self.link_type(t),
        });
        if l.inward == from {
            v["outwardIssue"] = self.issue_ref(l.outward);
        } else {
            v["inwardIssue"] = self.issue_ref(l.inward);
        }
        v
    }

    /// `GET /issueLink/{id}`.
    pub(crate) fn link(&self, l: &Link) -> Value {
        json!({
            "id": l.id.to_string(),
            "self": format!("{}/issueLink/{}", self.rest, l.id),
            "type": self.link_type(&self.st.link_types[l.ltype]),
            "inwardIssue": self.issue_ref(l.inward),
            "outwardIssue": self.issue_ref(l.outward),
        })
    }

    pub(crate) fn comment(&self, c: &Comment, expand_rendered: bool, expand_props: bool) -> Value {
        let mut v = json!({
            "self": format!("{}/issue/{}/comment/{}", self.rest, c.issue, c.id),
            "id": c.id.to_string(),
            "author": self.user(c.author),
            "body": self.doc(Some(&c.body)),
            "updateAuthor": self.user(c.update_author),
            "created": ts(c.created),
            "updated": ts(c.updated),
        });
        if let Some((kind, value)) = &c.visibility {
            v["visibility"] = if self.cloud() {
                json!({"type": kind, "value": value, "identifier": value})
            } else {
                json!({"type": kind, "value": value})
            };
        }
        if self.cloud() {
            v["jsdPublic"] = json!(true);
        }
        if expand_rendered {
            v["renderedBody"] = json!(doc::html(&c.body));
        }
        if expand_props {
            v["properties"] = Value::Array(
                c.properties
                    .iter()
                    .map(|(k, val)| json!({"key": k, "value": val}))
                    .collect(),
            );
        }
        v
    }

    /// The `fields.comment` page an issue embeds.
    fn comment_page(&self, i: &Issue) -> Value {
        let total = i.comments.len();
        let limit = if self.cloud() {
            CLOUD_EMBEDDED_COMMENTS
        } else {
            usize::MAX
        };
        let shown: Vec<Value> = i
            .comments
            .iter()
            .take(limit)
            .filter_map(|id| self.st.comments.get(id))
            .map(|c| self.comment(c, false, false))
            .collect();
        json!({
            "comments": shown,
            "self": format!("{}/issue/{}/comment", self.rest, i.id),
            "maxResults": shown.len(),
            "total": total,
            "startAt": 0,
        })
    }

    fn sprint(&self, id: u64) -> Value {
        let Some(s) = self.st.sprint(id) else {
            return Value::Null;
        };
        if self.cloud() {
            let mut v = json!({
                "id": s.id,
                "name": s.name,
                "state": s.state,
                "boardId": s.board,
                "goal": s.goal,
                "startDate": iso_z(s.start),
                "endDate": iso_z(s.end),
            });
            if let Some(c) = s.complete {
                v["completeDate"] = iso_z(c);
            }
            v
        } else {
            // Data Center keeps the GreenHopper bean's toString.
            let d = |ms: Option<Ms>| match ms.and_then(chrono::DateTime::from_timestamp_millis) {
                Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                None => "<null>".to_owned(),
            };
            Value::String(format!(
                "com.atlassian.greenhopper.service.sprint.Sprint@{:x}[id={},rapidViewId={},\
                 state={},name={},startDate={},endDate={},completeDate={},activatedDate={},\
                 sequence={},goal={},synced=false,autoStartStop=false,incompleteIssuesDestinationId=<null>]",
                0x5a1d_0000u64 + s.id,
                s.id,
                s.board,
                s.state.to_uppercase(),
                s.name,
                d(Some(s.start)),
                d(Some(s.end)),
                d(s.complete),
                d(Some(s.start)),
                s.id,
                if s.goal.is_empty() { "<null>" } else { &s.goal },
            ))
        }
    }

    /// The value of one field of an issue.
    pub(crate) fn field_value(&self, i: &Issue, id: &str) -> Value {
        let st = self.st;
        let cf = st.fields;
        match id {
            "summary" => json!(i.summary),
            "description" => self.doc(i.description.as_ref()),
            "environment" => self.doc(i.environment.as_ref()),
            "issuetype" => self.issue_type(&st.types[i.itype]),
            "status" => self.status(&st.statuses[i.status]),
            "statuscategorychangedate" => ts(i.status_changed),
            "priority" => self.priority_short(&st.priorities[i.priority]),
            "resolution" => i
                .resolution
                .map_or(Value::Null, |r| self.resolution(&st.resolutions[r])),
            "resolutiondate" => i.resolution_date.map_or(Value::Null, ts),
            "assignee" => self.user_opt(i.assignee),
            "reporter" => self.user(i.reporter),
            "creator" => self.user(i.creator),
            "created" => ts(i.created),
            "updated" => ts(i.updated),
            "lastViewed" => Value::Null,
            "duedate" => date(i.due),
            "labels" => json!(i.labels),
            "components" => Value::Array(
                i.components
                    .iter()
                    .filter_map(|c| st.components.get(c))
                    .map(|c| self.component_short(c))
                    .collect(),
            ),
            "fixVersions" => Value::Array(
                i.fix_versions
                    .iter()
                    .filter_map(|v| st.versions.get(v))
                    .map(|v| self.version_short(v))
                    .collect(),
            ),
            "versions" => Value::Array(
                i.versions
                    .iter()
                    .filter_map(|v| st.versions.get(v))
                    .map(|v| self.version_short(v))
                    .collect(),
            ),
            "project" => self.project_short(),
            "parent" => i.parent.map_or(Value::Null, |p| self.issue_ref(p)),
            "subtasks" => Value::Array(
                st.subtasks_of(i.id)
                    .into_iter()
                    .map(|s| self.issue_ref(s))
                    .collect(),
            ),
            "issuelinks" => Value::Array(
                i.links
                    .iter()
                    .filter_map(|l| st.links.get(l))
                    .map(|l| self.link_view(l, i.id))
                    .collect(),
            ),
            "comment" => self.comment_page(i),
            "watches" => json!({
                "self": format!("{}/issue/{}/watchers", self.rest, st.issue_key(i)),
                "watchCount": i.watchers.len(),
                "isWatching": false,
            }),
            "votes" => json!({
                "self": format!("{}/issue/{}/votes", self.rest, st.issue_key(i)),
                "votes": i.votes,
                "hasVoted": false,
            }),
            "attachment" => json!([]),
            "worklog" => json!({"startAt": 0, "maxResults": 20, "total": 0, "worklogs": []}),
            "timetracking" => json!({}),
            "workratio" => json!(-1),
            "security" => Value::Null,
            "progress" | "aggregateprogress" => json!({"progress": 0, "total": 0}),
            "timeoriginalestimate"
            | "timeestimate"
            | "timespent"
            | "aggregatetimeoriginalestimate"
            | "aggregatetimeestimate"
            | "aggregatetimespent" => Value::Null,
            "issuerestriction" => json!({"issuerestrictions": {}, "shouldDisplay": false}),
            _ => {
                let Some(num) = id
                    .strip_prefix("customfield_")
                    .and_then(|n| n.parse::<u64>().ok())
                else {
                    return Value::Null;
                };
                if num == cf.story_points {
                    i.story_points.map_or(Value::Null, |p| json!(p))
                } else if num == cf.sprint {
                    if i.sprints.is_empty() {
                        Value::Null
                    } else {
                        Value::Array(i.sprints.iter().map(|s| self.sprint(*s)).collect())
                    }
                } else if num == cf.rank {
                    json!(i.rank)
                } else if num == cf.epic_link {
                    i.epic_link
                        .and_then(|e| st.issues.get(&e))
                        .map_or(Value::Null, |e| json!(st.issue_key(e)))
                } else if num == cf.epic_name {
                    i.epic_name.as_ref().map_or(Value::Null, |n| json!(n))
                } else {
                    Value::Null
                }
            }
        }
    }

    /// An issue with the selected fields and expansions. `defs` is [`field_defs`] of the
    /// state (computed once per request).
    pub(crate) fn issue(&self, i: &Issue, defs: &[FieldDef], sel: &FieldSel, ex: &Expand) -> Value {
        let key = self.st.issue_key(i);
        let mut o = Map::new();
        o.insert(
            "expand".into(),
            json!("renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"),
        );
        o.insert("id".into(), json!(i.id.to_string()));
        o.insert(
            "self".into(),
            json!(format!("{}/issue/{}", self.rest, i.id)),
        );
        o.insert("key".into(), json!(key));
        let wanted: Vec<&FieldDef> = defs.iter().filter(|f| sel.wants(f)).collect();
        // Jira leaves out a parent that isn't there, and Cloud's project-level fields that
        // don't apply; everything else selected is present, null or not.
        let mut fields = Map::new();
        for f in &wanted {
            if f.id == "parent" && i.parent.is_none() {
                continue;
            }
            fields.insert(f.id.clone(), self.field_value(i, &f.id));
        }
        if !wanted.is_empty() || !sel.ids_only() {
            o.insert("fields".into(), Value::Object(fields));
        }
        if ex.names {
            o.insert(
                "names".into(),
                Value::Object(
                    wanted
                        .iter()
                        .map(|f| (f.id.clone(), json!(f.name)))
                        .collect(),
                ),
            );
        }
        if ex.schema {
            o.insert(
                "schema".into(),
                Value::Object(
                    wanted
                        .iter()
                        .map(|f| (f.id.clone(), f.schema.clone()))
                        .collect(),
                ),
            );
        }
        if ex.rendered {
            let mut r = Map::new();
            for f in &wanted {
                let v = match f.id.as_str() {
                    "description" => i
                        .description
                        .as_ref()
                        .map_or(Value::Null, |d| json!(doc::html(d))),
                    "environment" => i
                        .environment
                        .as_ref()
                        .map_or(Value::Null, |d| json!(doc::html(d))),
                    "created" | "updated" | "resolutiondate" | "statuscategorychangedate" => {
                        self.field_value(i, &f.id)
                    }
                    _ => Value::Null,
                };
                r.insert(f.id.clone(), v);
            }
            o.insert("renderedFields".into(), Value::Object(r));
        }
        if ex.transitions {
            o.insert(
                "transitions".into(),
                Value::Array(
                    self.st
                        .available(i)
                        .into_iter()
                        .map(|t| self.transition(t, ex.transitions_fields))
                        .collect(),
                ),
            );
        }
        if ex.editmeta {
            o.insert("editmeta".into(), self.editmeta(i));
        }
        if ex.changelog {
            // History is not recorded: an empty page in Jira's shape.
            o.insert(
                "changelog".into(),
                json!({"startAt": 0, "maxResults": 0, "total": 0, "histories": []}),
            );
        }
        if ex.operations {
            o.insert("operations".into(), json!({"linkGroups": []}));
        }
        Value::Object(o)
    }

    pub(crate) fn transition(&self, t: &Transition, with_fields: bool) -> Value {
        let to = &self.st.statuses[t.to];
        let mut v = json!({
            "id": t.id.to_string(),
            "name": t.name,
            "to": self.status(to),
            "hasScreen": t.needs_resolution,
            "isGlobal": false,
            "isInitial": false,
            "isAvailable": true,
            "isConditional": false,
            "isLooped": false,
        });
        if with_fields {
            let mut fields = Map::new();
            if t.needs_resolution {
                fields.insert(
                    "resolution".into(),
                    json!({
                        "required": true,
                        "schema": {"type": "resolution", "system": "resolution"},
                        "name": "Resolution",
                        "key": "resolution",
                        "operations": ["set"],
                        "allowedValues": self.st.resolutions.iter()
                            .map(|r| self.resolution(r)).collect::<Vec<_>>(),
                        "hasDefaultValue": false,
                    }),
                );
            }
            v["fields"] = Value::Object(fields);
        }
        v
    }

    /// `editmeta`: what an edit of this issue may set, with allowed values.
    pub(crate) fn editmeta(&self, i: &Issue) -> Value {
        let st = self.st;
        let meta = |f: &FieldDef, ops: &[&str], allowed: Option<Vec<Value>>| {
            let mut m = json!({
                "required": f.id == "summary" || f.id == "issuetype",
                "schema": f.schema,
                "name": f.name,
                "key": f.id,
                "operations": ops,
            });
            if let Some(a) = allowed {
                m["allowedValues"] = Value::Array(a);
            }
            m
        };
        let mut fields = Map::new();
        for f in field_defs(st) {
            let entry = match f.id.as_str() {
                "summary" | "description" | "environment" | "duedate" => {
                    Some(meta(&f, &["set"], None))
                }
                "issuetype" => {
                    let level = st.types[i.itype].hierarchy;
                    Some(meta(
                        &f,
                        &[],
                        Some(
                            st.types
                                .iter()
                                .filter(|t| t.hierarchy == level)
                                .map(|t| self.issue_type(t))
                                .collect(),
                        ),
                    ))
                }
                "priority" => Some(meta(
                    &f,
                    &["set"],
                    Some(st.priorities.iter().map(|p| self.priority(p)).collect()),
                )),
                "assignee" | "reporter" => Some(meta(&f, &["set"], None)),
                "labels" => Some(meta(&f, &["add", "set", "remove"], None)),
                "components" => Some(meta(
                    &f,
                    &["add", "set", "remove"],
                    Some(
                        st.components
                            .values()
                            .map(|c| self.component_short(c))
                            .collect(),
                    ),
                )),
                "fixVersions" | "versions" => Some(meta(
                    &f,
                    &["set", "add", "remove"],
                    Some(
                        st.versions
                            .values()
                            .map(|v| self.version_short(v))
                            .collect(),
                    ),
                )),
                "parent" => Some(meta(&f, &["set"], None)),
                "comment" => Some(meta(&f, &["add", "edit", "remove"], None)),
                "issuelinks" => Some(meta(&f, &["add"], None)),
                _ if f.custom && f.name != "Rank" => Some(meta(&f, &["set"], None)),
                _ => None,
            };
            if let Some(e) = entry {
                fields.insert(f.id.clone(), e);
            }
        }
        json!({ "fields": fields })
    }

    pub(crate) fn server_info(&self) -> Value {
        let now = crate::jira::state::now_ms();
        if self.cloud() {
            json!({
                "baseUrl": self.ctx.origin,
                "version": "1001.0.0-SNAPSHOT",
                "versionNumbers": [1001, 0, 0],
                "deploymentType": "Cloud",
                "buildNumber": 100_290,
                "buildDate": "2025-06-02T00:00:00.000+0000",
                "serverTime": ts(now),
                "scmInfo": "5a1dbd6c1f6f8f4f7e8c1b1f0f4a0b9c5d2e7a11",
                "serverTitle": "Jira",
            })
        } else {
            // A Data Center node reports "Server" as its deployment type.
            json!({
                "baseUrl": self.ctx.origin,
                "version": "9.12.15",
                "versionNumbers": [9, 12, 15],
                "deploymentType": "Server",
                "buildNumber": 9_120_015,
                "buildDate": "2024-10-07T00:00:00.000+0000",
                "serverTime": ts(now),
                "scmInfo": "8b5b6f6f7e3d2c1a0f9e8d7c6b5a4f3e2d1c0b9a",
                "serverTitle": "Jira",
            })
        }
    }
}
