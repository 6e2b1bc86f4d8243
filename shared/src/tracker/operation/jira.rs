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
    },
    /// The epic by the Epic Link field (Data Center and company-managed projects).
    EpicLink {
        from: Option<String>,
        to: Option<String>,
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

/// One step of a walk through the workflow, as the plan foresees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hop {
    /// The transition's id and name.
    pub transition: String,
    pub name: String,
    /// The status it leads to (name, for the preview).
    pub to: String,
}
