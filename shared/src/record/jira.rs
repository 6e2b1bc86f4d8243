//! Jira's records: issues (subtasks and epics included), comments, and the project's
//! components and versions.
//!
//! Jira keeps rich text in two forms: Jira Cloud (REST v3) as an Atlassian Document Format
//! tree, Data Center (REST v2) as a wiki-markup string. A record keeps the form its site uses
//! exactly ([`JiraText`]), because that is what a rollback writes back; diffs compare a
//! readable rendering derived from it ([`JiraText::to_text`]), computed when needed rather
//! than stored, so two snapshots taken by different versions of backtrack always render
//! alike.
//!
//! People are kept by the id the site knows them by (the `accountId` on Cloud, the user name
//! on Data Center) with their display name beside it for people to read; custom fields (story
//! points, sprint, Epic Link) are kept by meaning, whatever their per-site ids.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub mod adf;

/// Rich text as the site stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JiraText {
    /// An Atlassian Document Format tree (Jira Cloud, REST v3).
    Adf(serde_json::Value),
    /// Wiki markup (Jira Data Center and Server, REST v2).
    Wiki(String),
}

impl JiraText {
    /// A readable plain-text rendering, one line per paragraph, list item or code line: what
    /// diffs compare line by line. Wiki markup is already text and renders as itself.
    pub fn to_text(&self) -> String {
        match self {
            JiraText::Adf(doc) => adf::to_text(doc),
            JiraText::Wiki(text) => text.replace("\r\n", "\n"),
        }
    }

    /// Whether the text is empty (an empty document, or an empty string).
    pub fn is_blank(&self) -> bool {
        self.to_text().trim().is_empty()
    }
}

/// A person: who the site knows (Cloud `accountId`, Data Center user name) and what people
/// call them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JiraUser {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

impl JiraUser {
    /// The display name, or the id when the site gave none.
    pub fn shown(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.id)
    }
}

/// A named thing Jira refers to by id (issue type, status, priority, resolution, component or
/// version on an issue).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct JiraRef {
    pub id: String,
    pub name: String,
}

/// An issue's status: what it is called and which of Jira's three categories it is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JiraStatus {
    pub id: String,
    pub name: String,
    /// `new`, `indeterminate` or `done` (Jira's status category keys).
    pub category: Option<String>,
}

/// One link from an issue to another, as seen from this issue.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct JiraLink {
    /// The link's own id (one link appears on both issues with the same id).
    pub id: String,
    /// The link type's name (`Blocks`).
    pub kind: String,
    /// How it reads from this issue: the type's outward phrase (`blocks`) or inward one
    /// (`is blocked by`).
    pub phrase: String,
    pub outward: bool,
    /// The other issue's key.
    pub other: String,
}

impl JiraLink {
    /// `blocks PROJ-7`: how a diff names the link.
    pub fn label(&self) -> String {
        format!("{} {}", self.phrase, self.other)
    }
}

/// A Jira issue (epics and subtasks are issues too).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JiraIssue {
    /// Jira's numeric id: stable, unlike the key (which changes when the issue moves to
    /// another project). The record's identity.
    pub id: u64,
    /// `PROJ-123`.
    pub key: String,
    pub project: String,
    pub summary: String,
    pub description: Option<JiraText>,
    pub issue_type: JiraRef,
    /// Whether the issue type is a subtask type.
    pub subtask: bool,
    pub status: JiraStatus,
    pub resolution: Option<JiraRef>,
    pub priority: Option<JiraRef>,
    pub assignee: Option<JiraUser>,
    pub reporter: Option<JiraUser>,
    /// Sorted.
    pub labels: Vec<String>,
    /// Sorted by name.
    pub components: Vec<JiraRef>,
    /// Sorted by name.
    pub fix_versions: Vec<JiraRef>,
    pub due_date: Option<NaiveDate>,
    /// The parent's key: a subtask's parent, or (on Jira Cloud's hierarchy) the epic.
    pub parent: Option<String>,
    /// The epic by the Epic Link field (company-managed and Data Center projects).
    pub epic_link: Option<String>,
    /// An epic's "Epic Name" field (Data Center and company-managed projects, where a
    /// create of an epic requires it), found by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epic_name: Option<String>,
    /// Subtask keys, sorted.
    pub subtasks: Vec<String>,
    /// Sorted.
    pub links: Vec<JiraLink>,
    /// The "Story Points" (or "Story point estimate") field, found by name.
    pub story_points: Option<f64>,
    /// Sprint names from the "Sprint" field, in the order Jira gives them.
    pub sprints: Vec<String>,
    /// The comment total Jira reported.
    pub comments: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The issue's web page (`{site}/browse/KEY`).
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub raw: serde_json::Value,
}

/// Who may see a comment, when restricted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JiraVisibility {
    /// `group` or `role`.
    pub kind: String,
    pub value: String,
}

/// A comment on a Jira issue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JiraComment {
    pub id: u64,
    /// The issue's id.
    pub issue_id: u64,
    pub body: JiraText,
    pub author: Option<JiraUser>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub visibility: Option<JiraVisibility>,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub raw: serde_json::Value,
}

/// A project component definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Component {
    pub id: u64,
    pub name: String,
    pub description: Option<String>,
    /// The component lead.
    pub lead: Option<JiraUser>,
    /// Who issues with this component are assigned to (`PROJECT_DEFAULT`, `COMPONENT_LEAD`…).
    pub assignee_type: Option<String>,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub raw: serde_json::Value,
}

/// A project version (release) definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    pub id: u64,
    pub name: String,
    pub description: Option<String>,
    pub released: bool,
    pub archived: bool,
    pub start_date: Option<NaiveDate>,
    pub release_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub raw: serde_json::Value,
}
