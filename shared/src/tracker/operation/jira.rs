//! Jira's writes, beside GitHub's: what one `PUT /issue/{key}` carries, one walk through the
//! workflow, comments put back, and the clean-ups a user opts into.
//!
//! Values are kept as the snapshot holds them (rich text in the site's own form, people by
//! the id the site knows them by), so the writer sends back exactly what was captured.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::record::jira::{JiraRef, JiraText, JiraUser};

/// One field change carried by an issue's `PUT`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "field", rename_all = "snake_case")]
pub enum JiraChange {
    Summary {
        from: String,
        to: String,
    },
    Description {
        from: Option<JiraText>,
        to: Option<JiraText>,
    },
    Labels {
        from: Vec<String>,
        to: Vec<String>,
    },
    Components {
        from: Vec<JiraRef>,
        to: Vec<JiraRef>,
    },
    FixVersions {
        from: Vec<JiraRef>,
        to: Vec<JiraRef>,
    },
    Priority {
        from: Option<JiraRef>,
        to: Option<JiraRef>,
    },
    Assignee {
        from: Option<JiraUser>,
        to: Option<JiraUser>,
    },
    DueDate {
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    },
    StoryPoints {
        from: Option<f64>,
        to: Option<f64>,
    },
    /// The parent by key: a subtask's parent, or the epic on Jira Cloud's hierarchy.
    Parent {
        from: Option<String>,
        to: Option<String>,
        /// Set when `to` is the original key of an issue this rollback recreates (its id):
        /// the writer sends the recreation's key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recreated: Option<u64>,
    },
    /// The epic by the Epic Link field (Data Center and company-managed projects).
    EpicLink {
        from: Option<String>,
        to: Option<String>,
        /// As for [`JiraChange::Parent`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recreated: Option<u64>,
    },
}

impl JiraChange {
    /// The field as `editmeta` names it; custom fields by what they mean (`story_points`,
    /// `epic_link`), which the writer resolves to the site's ids.
    pub fn field(&self) -> &'static str {
        match self {
            JiraChange::Summary { .. } => "summary",
            JiraChange::Description { .. } => "description",
            JiraChange::Labels { .. } => "labels",
            JiraChange::Components { .. } => "components",
            JiraChange::FixVersions { .. } => "fixVersions",
            JiraChange::Priority { .. } => "priority",
            JiraChange::Assignee { .. } => "assignee",
            JiraChange::DueDate { .. } => "duedate",
            JiraChange::StoryPoints { .. } => "story_points",
            JiraChange::Parent { .. } => "parent",
            JiraChange::EpicLink { .. } => "epic_link",
        }
    }
}

impl JiraChange {
    /// The issue this change links to by a key that only exists once this rollback has
    /// recreated it (a parent or epic deleted since the snapshot): its original id.
    pub fn recreated_link(&self) -> Option<u64> {
        match self {
            JiraChange::Parent { recreated, .. } | JiraChange::EpicLink { recreated, .. } => {
                *recreated
            }
            _ => None,
        }
    }
}

/// The issue entity property a recreated issue carries: `{"original": <id>, "key":
/// "<original key>"}`, so a resumed run, a later plan and an undo know it for what it is.
pub const RECREATED_PROPERTY: &str = "backtrack.restored";

/// One step of a walk through the workflow, as the plan foresees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hop {
    /// The transition's id and name.
    pub transition: String,
    pub name: String,
    /// The status it leads to (name, for the preview).
    pub to: String,
}
