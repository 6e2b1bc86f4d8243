//! Jira's JSON (REST v2 and v3 alike) into records.
//!
//! Tolerant where Jira varies (an absent field, a null object, v2 strings where v3 has ADF,
//! Data Center's sprint strings), strict where a record would be wrong without it (ids,
//! keys, timestamps): those are decode errors that name the path.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use crate::record::{
    Component, JiraComment, JiraIssue, JiraLink, JiraRef, JiraStatus, JiraText, JiraUser,
    JiraVisibility, Version,
};
use crate::tracker::TrackerError;

/// The fields a search asks for, besides the custom ones ([`CustomFields::ids`]).
pub const ISSUE_FIELDS: &[&str] = &[
    "summary",
    "description",
    "issuetype",
    "status",
    "resolution",
    "priority",
    "assignee",
    "reporter",
    "labels",
    "components",
    "fixVersions",
    "duedate",
    "parent",
    "subtasks",
    "issuelinks",
    "comment",
    "created",
    "updated",
    "project",
];

/// The per-site ids of the custom fields backtrack keeps, found by name (and by the type
/// Jira Software gives them) in `GET /field`: they differ from site to site.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomFields {
    /// Story points, in order of preference: "Story Points", then Cloud's "Story point
    /// estimate" (team-managed projects); the first that has a value is kept.
    pub story_points: Vec<String>,
    pub sprint: Option<String>,
    pub epic_link: Option<String>,
    /// "Epic Name": required on an epic's create screen where the site has it.
    pub epic_name: Option<String>,
}

impl CustomFields {
    /// Finds the fields in a `GET /field` reply.
    pub fn discover(fields: &Value) -> Self {
        let mut found = CustomFields::default();
        let Some(list) = fields.as_array() else {
            return found;
        };
        let custom_type = |f: &Value| {
            f.get("schema")
                .and_then(|s| s.get("custom"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let mut points: Vec<(u8, String)> = Vec::new();
        for f in list {
            let (Some(id), Some(name)) = (
                f.get("id").and_then(Value::as_str),
                f.get("name").and_then(Value::as_str),
            ) else {
                continue;
            };
            let name = name.trim().to_ascii_lowercase();
            let kind = custom_type(f);
            match name.as_str() {
                "story points" => points.push((0, id.to_string())),
                "story point estimate" => points.push((1, id.to_string())),
                "sprint" if found.sprint.is_none() => found.sprint = Some(id.to_string()),
                "epic link" if found.epic_link.is_none() => found.epic_link = Some(id.to_string()),
                "epic name" if found.epic_name.is_none() => found.epic_name = Some(id.to_string()),
                _ => {}
            }
            if kind.ends_with(":gh-sprint") && found.sprint.is_none() {
                found.sprint = Some(id.to_string());
            }
            if kind.ends_with(":gh-epic-link") && found.epic_link.is_none() {
                found.epic_link = Some(id.to_string());
            }
            if kind.ends_with(":gh-epic-label") && found.epic_name.is_none() {
                found.epic_name = Some(id.to_string());
            }
        }
        points.sort();
        found.story_points = points.into_iter().map(|(_, id)| id).collect();
        found
    }

    /// Every custom field id to request.
    pub fn ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.story_points.iter().map(String::as_str).collect();
        ids.extend(self.sprint.as_deref());
        ids.extend(self.epic_link.as_deref());
        ids.extend(self.epic_name.as_deref());
        ids
    }
}

/// What a conversion needs besides the JSON.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// The site's base URL, for issue links.
    pub site: &'a str,
    pub fields: &'a CustomFields,
    /// The request path, for error messages.
    pub path: &'a str,
}

impl Context<'_> {
    fn decode(&self, detail: impl Into<String>) -> TrackerError {
        TrackerError::Decode {
            service: "Jira".into(),
            path: self.path.to_string(),
            detail: detail.into(),
        }
    }
}

/// The comments a search embedded in an issue, and how many the issue has.
#[derive(Debug, Clone, Default)]
pub struct EmbeddedComments {
    pub comments: Vec<JiraComment>,
    pub total: u64,
}

impl EmbeddedComments {
    /// Whether the issue has comments the search did not embed.
    pub fn incomplete(&self) -> bool {
        (self.comments.len() as u64) < self.total
    }
}

/// Parses Jira's timestamps: `2025-01-13T15:04:05.123+0000` (Jira's own form) or RFC 3339.
pub fn timestamp(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(s))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn id_of(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

fn str_of(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_string)
}

/// A named reference (`{id, name}`), or `None` for null.
fn named(v: Option<&Value>) -> Option<JiraRef> {
    let v = v.filter(|v| v.is_object())?;
    Some(JiraRef {
        id: v
            .get("id")
            .map(|id| match id {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_default(),
        name: str_of(v.get("name")).unwrap_or_default(),
    })
}

/// A person: Cloud's `accountId`, else Data Center's `name` (or `key`).
pub fn user(v: Option<&Value>) -> Option<JiraUser> {
    let v = v.filter(|v| v.is_object())?;
    let id = str_of(v.get("accountId"))
        .or_else(|| str_of(v.get("name")))
        .or_else(|| str_of(v.get("key")))?;
    Some(JiraUser {
        id,
        display_name: str_of(v.get("displayName")),
    })
}

/// Rich text: an ADF object (Cloud) or a wiki-markup string (Data Center); `None` for null.
pub fn text(v: Option<&Value>) -> Option<JiraText> {
    match v? {
        Value::Null => None,
        Value::String(s) => Some(JiraText::Wiki(s.clone())),
        other => Some(JiraText::Adf(other.clone())),
    }
}

fn date(v: Option<&Value>) -> Option<NaiveDate> {
    v.and_then(Value::as_str)
        .and_then(|s| NaiveDate::parse_from_str(s.get(..10).unwrap_or(s), "%Y-%m-%d").ok())
}

pub(super) fn sorted_refs(v: Option<&Value>) -> Vec<JiraRef> {
    let mut refs: Vec<JiraRef> = v
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|r| named(Some(r))).collect())
        .unwrap_or_default();
    refs.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    refs.dedup();
    refs
}

/// Sprint names from the Sprint field: objects on Cloud (`{"name": …}`), and on Data Center
/// either objects or Jira Software's `…Sprint@1a2b[id=3,…,name=Sprint 3,…]` strings.
fn sprints(v: Option<&Value>) -> Vec<String> {
    let Some(items) = v.and_then(Value::as_array) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|s| match s {
            Value::Object(_) => str_of(s.get("name")),
            Value::String(text) => {
                let start = text
                    .find(",name=")
                    .map(|i| i + 6)
                    .or_else(|| text.find("[name=").map(|i| i + 6))?;
                let rest = &text[start..];
                // The name runs to the next `,key=` pair (names may contain commas).
                let end = [
                    ",startDate=",
                    ",endDate=",
                    ",completeDate=",
                    ",activatedDate=",
                    ",sequence=",
                    ",goal=",
                    ",synced=",
                    ",autoStartStop=",
                    ",incompleteIssuesDestinationId=",
                    "]",
                ]
                .iter()
                .filter_map(|m| rest.find(m))
                .min()
                .unwrap_or(rest.len());
                Some(rest[..end].to_string())
            }
            _ => None,
        })
        .collect()
}

fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A key from a field that holds an issue (`{"key": …}`) or a key string (Epic Link).
fn key_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Object(o) => o.get("key").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

fn links(v: Option<&Value>) -> Vec<JiraLink> {
    let mut out: Vec<JiraLink> = v
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|l| {
                    let kind = l.get("type")?;
                    let (other, outward) = match (l.get("outwardIssue"), l.get("inwardIssue")) {
                        (Some(o), _) => (o, true),
                        (None, Some(i)) => (i, false),
                        (None, None) => return None,
                    };
                    let phrase = if outward { "outward" } else { "inward" };
                    Some(JiraLink {
                        id: l
                            .get("id")
                            .map(|id| id.as_str().map_or_else(|| id.to_string(), str::to_string))
                            .unwrap_or_default(),
                        kind: str_of(kind.get("name")).unwrap_or_default(),
                        phrase: str_of(kind.get(phrase)).unwrap_or_else(|| {
                            if outward {
                                "links to"
                            } else {
                                "is linked from"
                            }
                            .into()
                        }),
                        outward,
                        other: str_of(other.get("key"))?,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out.dedup();
    out
}

/// The ids of the issues an issue's JSON holds copies of: its parent, its subtasks and the
/// other end of each link (each copy shows the other issue's key, summary, status, priority
/// and type, which Jira changes without moving this issue's `updated`).
pub fn related(raw: &Value) -> Vec<u64> {
    let Some(f) = raw.get("fields") else {
        return Vec::new();
    };
    let mut ids: Vec<u64> = Vec::new();
    ids.extend(f.get("parent").and_then(|p| p.get("id")).and_then(id_of));
    ids.extend(
        f.get("subtasks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| s.get("id").and_then(id_of)),
    );
    ids.extend(
        f.get("issuelinks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|l| l.get("outwardIssue").or_else(|| l.get("inwardIssue")))
            .filter_map(|o| o.get("id").and_then(id_of)),
    );
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// One issue from a search result or `GET /issue`, with the comments embedded in it. The raw
/// JSON kept is the issue without its embedded comments (they are records of their own).
pub fn issue(
    mut raw: Value,
    cx: &Context<'_>,
) -> Result<(JiraIssue, EmbeddedComments), TrackerError> {
    let id = raw
        .get("id")
        .and_then(id_of)
        .ok_or_else(|| cx.decode("an issue without a numeric id"))?;
    let key = str_of(raw.get("key")).ok_or_else(|| cx.decode(format!("issue {id} has no key")))?;
    let comment = raw
        .get_mut("fields")
        .and_then(Value::as_object_mut)
        .and_then(|f| f.remove("comment"));
    let f = raw
        .get("fields")
        .filter(|f| f.is_object())
        .ok_or_else(|| cx.decode(format!("issue {key} has no fields")))?;
    let time = |name: &str| {
        f.get(name)
            .and_then(Value::as_str)
            .and_then(timestamp)
            .ok_or_else(|| cx.decode(format!("issue {key} has no readable `{name}` time")))
    };
    let (created_at, updated_at) = (time("created")?, time("updated")?);
    let issue_type = named(f.get("issuetype")).unwrap_or(JiraRef {
        id: String::new(),
        name: String::new(),
    });
    let subtask = f
        .get("issuetype")
        .and_then(|t| t.get("subtask"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let status = match f.get("status").filter(|s| s.is_object()) {
        Some(s) => JiraStatus {
            id: s
                .get("id")
                .map(|id| id.as_str().map_or_else(|| id.to_string(), str::to_string))
                .unwrap_or_default(),
            name: str_of(s.get("name")).unwrap_or_default(),
            category: s
                .get("statusCategory")
                .and_then(|c| c.get("key"))
                .and_then(Value::as_str)
                .map(str::to_string),
        },
        None => JiraStatus {
            id: String::new(),
            name: String::new(),
            category: None,
        },
    };
    let mut labels: Vec<String> = f
        .get("labels")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    labels.sort();
    labels.dedup();
    let mut subtasks: Vec<String> = f
        .get("subtasks")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|s| str_of(s.get("key"))).collect())
        .unwrap_or_default();
    subtasks.sort();
    subtasks.dedup();
    let story_points = cx
        .fields
        .story_points
        .iter()
        .find_map(|id| number(f.get(id)));
    let issue = JiraIssue {
        id,
        project: f
            .get("project")
            .and_then(|p| p.get("key"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| key.rsplit_once('-').map(|(p, _)| p.to_string()))
            .unwrap_or_default(),
        summary: str_of(f.get("summary")).unwrap_or_default(),
        description: text(f.get("description")),
        issue_type,
        subtask,
        status,
        resolution: named(f.get("resolution")),
        priority: named(f.get("priority")),
        assignee: user(f.get("assignee")),
        reporter: user(f.get("reporter")),
        labels,
        components: sorted_refs(f.get("components")),
        fix_versions: sorted_refs(f.get("fixVersions")),
        due_date: date(f.get("duedate")),
        parent: key_of(f.get("parent")),
        epic_link: cx
            .fields
            .epic_link
            .as_ref()
            .and_then(|id| key_of(f.get(id))),
        epic_name: cx
            .fields
            .epic_name
            .as_ref()
            .and_then(|id| str_of(f.get(id)))
            .filter(|n| !n.is_empty()),
        subtasks,
        links: links(f.get("issuelinks")),
        story_points,
        sprints: cx
            .fields
            .sprint
            .as_ref()
            .map(|id| sprints(f.get(id)))
            .unwrap_or_default(),
        comments: comment
            .as_ref()
            .and_then(|c| c.get("total"))
            .and_then(Value::as_u64)
            .unwrap_or(0),
        created_at,
        updated_at,
        url: Some(format!("{}/browse/{key}", cx.site)),
        key,
        raw: Value::Null,
    };
    let mut embedded = EmbeddedComments {
        total: issue.comments,
        comments: Vec::new(),
    };
    if let Some(list) = comment
        .as_ref()
        .and_then(|c| c.get("comments"))
        .and_then(Value::as_array)
    {
        for c in list {
            embedded.comments.push(self::comment(c.clone(), id, cx)?);
        }
        embedded.total = embedded.total.max(embedded.comments.len() as u64);
    }
    let mut issue = issue;
    issue.comments = embedded.total;
    issue.raw = raw;
    Ok((issue, embedded))
}

/// One comment of issue `issue_id`.
pub fn comment(raw: Value, issue_id: u64, cx: &Context<'_>) -> Result<JiraComment, TrackerError> {
    let id = raw
        .get("id")
        .and_then(id_of)
        .ok_or_else(|| cx.decode("a comment without a numeric id"))?;
    let time = |name: &str| {
        raw.get(name)
            .and_then(Value::as_str)
            .and_then(timestamp)
            .ok_or_else(|| cx.decode(format!("comment {id} has no readable `{name}` time")))
    };
    let created_at = time("created")?;
    let updated_at = time("updated").unwrap_or(created_at);
    let visibility = raw
        .get("visibility")
        .filter(|v| v.is_object())
        .map(|v| JiraVisibility {
            kind: str_of(v.get("type")).unwrap_or_default(),
            value: str_of(v.get("value"))
                .or_else(|| str_of(v.get("identifier")))
                .unwrap_or_default(),
        });
    Ok(JiraComment {
        id,
        issue_id,
        body: text(raw.get("body")).unwrap_or(JiraText::Wiki(String::new())),
        author: user(raw.get("author")),
        created_at,
        updated_at,
        visibility,
        raw,
    })
}

/// A project component.
pub fn component(raw: Value, cx: &Context<'_>) -> Result<Component, TrackerError> {
    let id = raw
        .get("id")
        .and_then(id_of)
        .ok_or_else(|| cx.decode("a component without a numeric id"))?;
    Ok(Component {
        id,
        name: str_of(raw.get("name")).unwrap_or_default(),
        description: str_of(raw.get("description")).filter(|d| !d.is_empty()),
        lead: user(raw.get("lead")),
        assignee_type: str_of(raw.get("assigneeType")),
        raw,
    })
}

/// A project version.
pub fn version(raw: Value, cx: &Context<'_>) -> Result<Version, TrackerError> {
    let id = raw
        .get("id")
        .and_then(id_of)
        .ok_or_else(|| cx.decode("a version without a numeric id"))?;
    Ok(Version {
        id,
        name: str_of(raw.get("name")).unwrap_or_default(),
        description: str_of(raw.get("description")).filter(|d| !d.is_empty()),
        released: raw
            .get("released")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        archived: raw
            .get("archived")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        start_date: date(raw.get("startDate")),
        release_date: date(raw.get("releaseDate")),
        raw,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn fields() -> CustomFields {
        CustomFields::discover(&json!([
            {"id": "summary", "name": "Summary", "custom": false},
            {"id": "customfield_10016", "name": "Story point estimate", "custom": true,
             "schema": {"type": "number", "custom": "com.pyxis.greenhopper.jira:jsw-story-points"}},
            {"id": "customfield_10026", "name": "Story Points", "custom": true,
             "schema": {"type": "number", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:float"}},
            {"id": "customfield_10020", "name": "Sprint", "custom": true,
             "schema": {"type": "array", "custom": "com.pyxis.greenhopper.jira:gh-sprint"}},
            {"id": "customfield_10014", "name": "Epic Link", "custom": true,
             "schema": {"type": "any", "custom": "com.pyxis.greenhopper.jira:gh-epic-link"}}
        ]))
    }

    #[test]
    fn discovers_custom_fields_by_name_not_by_id() {
        let f = fields();
        assert_eq!(f.story_points, ["customfield_10026", "customfield_10016"]);
        assert_eq!(f.sprint.as_deref(), Some("customfield_10020"));
        assert_eq!(f.epic_link.as_deref(), Some("customfield_10014"));
        assert_eq!(f.ids().len(), 4);
        let other_site = CustomFields::discover(&json!([
            {"id": "customfield_12345", "name": "Story Points"},
            {"id": "customfield_99", "name": "Team", "schema": {"custom": "x:gh-sprint"}}
        ]));
        assert_eq!(other_site.story_points, ["customfield_12345"]);
        assert_eq!(other_site.sprint.as_deref(), Some("customfield_99"));
        assert_eq!(other_site.epic_link, None);
    }

    /// A Cloud search hit in the shape of atlassian-python-api's recorded responses.
    #[test]
    fn converts_a_cloud_issue_with_embedded_comments() {
        let f = fields();
        let cx = Context {
            site: "https://acme.atlassian.net",
            fields: &f,
            path: "/rest/api/3/search/jql",
        };
        let raw = json!({
            "expand": "operations", "id": "125595", "key": "BAR-111",
            "self": "https://acme.atlassian.net/rest/api/3/issue/125595",
            "fields": {
                "summary": "Sample Story in Epic",
                "description": {"type": "doc", "version": 1, "content": [
                    {"type": "paragraph", "content": [{"type": "text", "text": "Some Description"}]}]},
                "issuetype": {"id": "3", "name": "Task", "subtask": false, "hierarchyLevel": 0},
                "status": {"id": "10408", "name": "Done",
                           "statusCategory": {"id": 3, "key": "done", "name": "Done"}},
                "resolution": {"id": "10000", "name": "Done"},
                "priority": {"id": "5", "name": "Normal"},
                "assignee": {"accountId": "557058:574b", "displayName": "Some Person"},
                "reporter": null,
                "labels": ["zeta", "alpha"],
                "components": [{"id": "2", "name": "UI"}, {"id": "1", "name": "API"}],
                "fixVersions": [],
                "duedate": "2025-02-01",
                "parent": {"id": "125000", "key": "BAR-22"},
                "subtasks": [{"id": "1", "key": "BAR-113"}, {"id": "2", "key": "BAR-112"}],
                "issuelinks": [
                    {"id": "77", "type": {"name": "Blocks", "inward": "is blocked by", "outward": "blocks"},
                     "outwardIssue": {"key": "BAR-7"}},
                    {"id": "78", "type": {"name": "Blocks", "inward": "is blocked by", "outward": "blocks"},
                     "inwardIssue": {"key": "BAR-9"}}
                ],
                "customfield_10016": 5,
                "customfield_10026": null,
                "customfield_10020": [{"id": 1209, "name": "Garbage Can Sprint", "state": "future"}],
                "customfield_10014": null,
                "comment": {"comments": [{
                    "id": "10000", "author": {"accountId": "a1", "displayName": "Ann"},
                    "body": {"type": "doc", "version": 1, "content": []},
                    "created": "2021-06-14T15:22:58.891-0400", "updated": "2021-06-14T15:22:58.891-0400",
                    "visibility": {"type": "role", "value": "Developers"}
                }], "maxResults": 1, "total": 3, "startAt": 0},
                "project": {"id": "23560", "key": "BAR"},
                "created": "2021-06-14T15:22:58.891-0400",
                "updated": "2022-06-02T10:05:44.150-0400"
            }
        });
        let (i, embedded) = issue(raw, &cx).unwrap();
        assert_eq!(
            (i.id, i.key.as_str(), i.project.as_str()),
            (125595, "BAR-111", "BAR")
        );
        assert_eq!(i.labels, ["alpha", "zeta"]);
        assert_eq!(
            i.components
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            ["API", "UI"]
        );
        assert_eq!(i.subtasks, ["BAR-112", "BAR-113"]);
        assert_eq!(i.parent.as_deref(), Some("BAR-22"));
        assert_eq!(i.story_points, Some(5.0));
        assert_eq!(i.sprints, ["Garbage Can Sprint"]);
        assert_eq!(i.status.category.as_deref(), Some("done"));
        assert_eq!(i.assignee.as_ref().unwrap().id, "557058:574b");
        assert_eq!(
            i.links.iter().map(|l| l.label()).collect::<Vec<_>>(),
            ["blocks BAR-7", "is blocked by BAR-9"]
        );
        assert_eq!(i.updated_at.to_rfc3339(), "2022-06-02T14:05:44.150+00:00");
        assert_eq!(
            i.url.as_deref(),
            Some("https://acme.atlassian.net/browse/BAR-111")
        );
        assert!(matches!(i.description, Some(JiraText::Adf(_))));
        assert!(
            i.raw["fields"].get("comment").is_none(),
            "comments are records of their own"
        );
        assert_eq!(i.comments, 3);
        assert!(embedded.incomplete());
        let c = &embedded.comments[0];
        assert_eq!((c.id, c.issue_id), (10000, 125595));
        assert_eq!(c.visibility.as_ref().unwrap().value, "Developers");
    }

    #[test]
    fn converts_data_center_shapes() {
        let f = fields();
        let cx = Context {
            site: "https://jira.example.com",
            fields: &f,
            path: "/rest/api/2/search",
        };
        let raw = json!({
            "id": "10042", "key": "DC-7",
            "fields": {
                "summary": "Wiki", "description": "h2. Steps\n* one",
                "assignee": {"name": "jdoe", "key": "JIRAUSER10000", "displayName": "J Doe"},
                "customfield_10014": "DC-1",
                "customfield_10026": "3.5",
                "customfield_10020": ["com.atlassian.greenhopper.service.sprint.Sprint@1a2b[id=3,rapidViewId=1,state=ACTIVE,name=Sprint 3, the big one,startDate=2025-01-01T00:00:00.000Z,endDate=<null>,completeDate=<null>,sequence=3,goal=]"],
                "comment": {"comments": [], "maxResults": 0, "total": 0, "startAt": 0},
                "created": "2025-01-13T15:04:05.000+0000", "updated": "2025-01-13T15:04:05.000+0000"
            }
        });
        let (i, embedded) = issue(raw, &cx).unwrap();
        assert_eq!(
            i.description,
            Some(JiraText::Wiki("h2. Steps\n* one".into()))
        );
        assert_eq!(i.assignee.unwrap().id, "jdoe");
        assert_eq!(i.epic_link.as_deref(), Some("DC-1"));
        assert_eq!(i.story_points, Some(3.5));
        assert_eq!(i.sprints, ["Sprint 3, the big one"]);
        assert_eq!(i.project, "DC");
        assert!(!embedded.incomplete());
        let e = issue(json!({"id": "1", "key": "DC-1", "fields": {}}), &cx).unwrap_err();
        assert!(e.to_string().contains("created"), "{e}");
    }

    #[test]
    fn converts_components_and_versions() {
        let f = CustomFields::default();
        let cx = Context {
            site: "https://x",
            fields: &f,
            path: "/p",
        };
        let c = component(
            json!({"id": "10000", "name": "Backend", "description": "",
            "lead": {"accountId": "a", "displayName": "Ann"}, "assigneeType": "PROJECT_DEFAULT"}),
            &cx,
        )
        .unwrap();
        assert_eq!(
            (c.id, c.name.as_str(), c.description.as_deref()),
            (10000, "Backend", None)
        );
        let v = version(
            json!({"id": "10001", "name": "1.0", "released": true, "archived": false,
            "releaseDate": "2025-03-01"}),
            &cx,
        )
        .unwrap();
        assert!(v.released && v.release_date.is_some());
    }
}
