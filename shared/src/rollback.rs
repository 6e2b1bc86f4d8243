//! Rollback in place: put a live tracker back to a snapshot's state, field by field.
//!
//! Plan, then apply. [`plan::plan`] computes a [`RollbackPlan`] from the target snapshot and
//! the live state; it can be printed (the preview) and serialized before anything is
//! written. [`execute::execute`] then takes the scope's lock, records a job, takes a
//! `pre-rollback` snapshot, applies the operations one at a time — journaling each in the
//! catalog — and verifies by planning again against the new live state: a clean rollback
//! plans zero operations. Re-running an interrupted rollback resumes its job.
//! [`job`] runs the same steps as a queued job in bounded slices (the serverless bundle).

pub mod execute;
pub mod job;
pub mod plan;

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use execute::{execute, ExecuteOptions, RollbackReport, Verification};
pub use plan::{restored_body, restored_from, restored_marker, Irrecoverable, Planned};

use crate::id::SnapshotId;
use crate::record::State;
use crate::scope::Scope;

/// A restorable field, for `--fields`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Title,
    Body,
    State,
    Labels,
    Assignees,
    Milestone,
    Comments,
}

impl Field {
    pub const ALL: [Field; 7] = [
        Field::Title,
        Field::Body,
        Field::State,
        Field::Labels,
        Field::Assignees,
        Field::Milestone,
        Field::Comments,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Field::Title => "title",
            Field::Body => "body",
            Field::State => "state",
            Field::Labels => "labels",
            Field::Assignees => "assignees",
            Field::Milestone => "milestone",
            Field::Comments => "comments",
        }
    }
}

impl FromStr for Field {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        let s = match s.as_str() {
            "description" => "body",
            "status" => "state",
            other => other,
        };
        Field::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown field {s:?}; restorable fields are {}",
                    Field::ALL.map(Field::as_str).join(", ")
                )
            })
    }
}

/// What to restore.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackOptions {
    /// Only these issue numbers (and their comments); `None` for all.
    pub only: Option<BTreeSet<u64>>,
    /// Only these fields; `None` for all.
    pub fields: Option<BTreeSet<Field>>,
    /// Close issues created after the snapshot.
    pub close_new_issues: bool,
    /// Delete comments created after the snapshot.
    pub delete_new_comments: bool,
    /// When the target snapshot was taken: what is "new" is younger than this.
    pub snapshot_time: DateTime<Utc>,
}

impl RollbackOptions {
    pub fn new(snapshot_time: DateTime<Utc>) -> Self {
        RollbackOptions {
            only: None,
            fields: None,
            close_new_issues: false,
            delete_new_comments: false,
            snapshot_time,
        }
    }
}

/// One field change carried by an issue's PATCH.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "field", rename_all = "snake_case")]
pub enum Change {
    Title {
        from: String,
        to: String,
    },
    Body {
        from: Option<String>,
        to: Option<String>,
    },
    State {
        from: State,
        from_reason: Option<String>,
        to: State,
        to_reason: Option<String>,
    },
    Labels {
        from: Vec<String>,
        to: Vec<String>,
    },
    Assignees {
        from: Vec<String>,
        to: Vec<String>,
    },
    /// By title: a recreated milestone has a new number, resolved when applying.
    Milestone {
        from: Option<String>,
        to: Option<String>,
    },
}

/// One write against the tracker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operation {
    CreateLabel {
        name: String,
        color: String,
        description: Option<String>,
    },
    UpdateLabel {
        current_name: String,
        name: String,
        color: String,
        description: Option<String>,
    },
    CreateMilestone {
        title: String,
        state: State,
        description: Option<String>,
        due_on: Option<DateTime<Utc>>,
    },
    UpdateMilestone {
        number: u64,
        title: String,
        state: State,
        description: Option<String>,
        due_on: Option<DateTime<Utc>>,
    },
    UpdateIssue {
        number: u64,
        /// The title to show in previews (the target's).
        title: String,
        changes: Vec<Change>,
    },
    EditComment {
        id: u64,
        issue: u64,
        from: String,
        to: String,
    },
    RecreateComment {
        issue: u64,
        original_id: u64,
        body: String,
    },
    CloseIssue {
        number: u64,
        title: String,
    },
    DeleteComment {
        id: u64,
        issue: u64,
        body: String,
    },
}

impl Operation {
    /// The issue this operation touches, if any.
    pub fn issue(&self) -> Option<u64> {
        match self {
            Operation::UpdateIssue { number, .. } | Operation::CloseIssue { number, .. } => {
                Some(*number)
            }
            Operation::EditComment { issue, .. }
            | Operation::RecreateComment { issue, .. }
            | Operation::DeleteComment { issue, .. } => Some(*issue),
            _ => None,
        }
    }
}

/// An operation with its position in the plan (the journal's key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedOp {
    pub index: u64,
    #[serde(flatten)]
    pub op: Operation,
}

/// A computed rollback: what would be written, and what cannot be undone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackPlan {
    pub scope: Scope,
    pub target: SnapshotId,
    pub target_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub options: RollbackOptions,
    pub ops: Vec<PlannedOp>,
    pub irrecoverable: Vec<Irrecoverable>,
}

impl RollbackPlan {
    /// Identifies the command that produced the plan (scope, target and options), so
    /// re-running the same command resumes its interrupted job.
    pub fn fingerprint(scope: &Scope, target: &SnapshotId, options: &RollbackOptions) -> String {
        let input = serde_json::json!({
            "scope": scope.to_string(),
            "target": target.to_string(),
            "only": options.only,
            "fields": options.fields,
            "close_new_issues": options.close_new_issues,
            "delete_new_comments": options.delete_new_comments,
        });
        crate::id::BlobId::of(input.to_string().as_bytes()).to_hex()[..24].to_string()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

fn short(s: &str, max: usize) -> String {
    let one_line = s.replace(['\n', '\r'], " ");
    if one_line.chars().count() > max {
        format!("{}…", one_line.chars().take(max).collect::<String>())
    } else {
        one_line
    }
}

fn set_delta(from: &[String], to: &[String]) -> String {
    let removed = from
        .iter()
        .filter(|x| !to.contains(x))
        .map(|x| format!("-{x}"));
    let added = to
        .iter()
        .filter(|x| !from.contains(x))
        .map(|x| format!("+{x}"));
    removed.chain(added).collect::<Vec<_>>().join(" ")
}

fn lines_changed(from: &str, to: &str) -> String {
    let diff = similar::TextDiff::from_lines(from, to);
    let (mut del, mut ins) = (0, 0);
    for change in diff.iter_all_changes() {
        match change.tag() {
            similar::ChangeTag::Delete => del += 1,
            similar::ChangeTag::Insert => ins += 1,
            similar::ChangeTag::Equal => {}
        }
    }
    format!("-{del} +{ins} lines")
}

fn state_text(state: State, reason: &Option<String>) -> String {
    match reason {
        Some(r) if state == State::Closed => format!("closed ({r})"),
        _ => state.to_string(),
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Title { from, to } => {
                write!(
                    f,
                    "title      {:?} → {:?}",
                    crate::sanitize::visible(&short(from, 50)),
                    crate::sanitize::visible(&short(to, 50))
                )
            }
            Change::Body { from, to } => write!(
                f,
                "body       {}",
                lines_changed(from.as_deref().unwrap_or(""), to.as_deref().unwrap_or(""))
            ),
            Change::State {
                from,
                from_reason,
                to,
                to_reason,
            } => write!(
                f,
                "state      {} → {}",
                state_text(*from, from_reason),
                state_text(*to, to_reason)
            ),
            Change::Labels { from, to } => write!(
                f,
                "labels     {}",
                crate::sanitize::visible(&set_delta(from, to))
            ),
            Change::Assignees { from, to } => write!(
                f,
                "assignees  {}",
                crate::sanitize::visible(&set_delta(from, to))
            ),
            Change::Milestone { from, to } => write!(
                f,
                "milestone  {} → {}",
                crate::sanitize::visible(from.as_deref().unwrap_or("none")),
                crate::sanitize::visible(to.as_deref().unwrap_or("none"))
            ),
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names, titles and bodies are tracker text: shown, never acted on by the terminal.
        use crate::sanitize::visible;
        match self {
            Operation::CreateLabel { name, color, .. } => {
                write!(
                    f,
                    "recreate label {:?} (#{})",
                    visible(name),
                    visible(color)
                )
            }
            Operation::UpdateLabel {
                current_name,
                name,
                color,
                ..
            } => write!(
                f,
                "restore label {:?} → {:?} (#{})",
                visible(current_name),
                visible(name),
                visible(color)
            ),
            Operation::CreateMilestone { title, state, .. } => {
                write!(f, "recreate milestone {:?} ({state})", visible(title))
            }
            Operation::UpdateMilestone {
                number,
                title,
                state,
                ..
            } => write!(
                f,
                "restore milestone {number} → {:?} ({state})",
                visible(title)
            ),
            Operation::UpdateIssue {
                number,
                title,
                changes,
            } => {
                write!(f, "#{number} {}", visible(&short(title, 60)))?;
                for c in changes {
                    write!(f, "\n      {c}")?;
                }
                Ok(())
            }
            Operation::EditComment {
                id,
                issue,
                from,
                to,
            } => write!(
                f,
                "#{issue} restore comment {id} ({})",
                lines_changed(from, to)
            ),
            Operation::RecreateComment {
                issue, original_id, ..
            } => write!(f, "#{issue} recreate deleted comment {original_id}"),
            Operation::CloseIssue { number, title } => {
                write!(
                    f,
                    "#{number} close (created after the snapshot): {}",
                    visible(&short(title, 50))
                )
            }
            Operation::DeleteComment { id, issue, body } => write!(
                f,
                "#{issue} delete comment {id} (added after the snapshot): {}",
                visible(&short(body, 40))
            ),
        }
    }
}

impl fmt::Display for RollbackPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::sanitize::visible;
        let target = match &self.target_name {
            Some(n) => format!("{} ({})", self.target, visible(n)),
            None => self.target.to_string(),
        };
        writeln!(f, "Rollback plan for {} → snapshot {target}", self.scope)?;
        if self.ops.is_empty() {
            writeln!(f, "  Nothing to restore: the live state already matches.")?;
        } else {
            writeln!(f, "  {} write(s), in this order:", self.ops.len())?;
            for op in &self.ops {
                writeln!(f, "  {:>4}. {}", op.index + 1, op.op)?;
            }
        }
        if !self.irrecoverable.is_empty() {
            writeln!(f, "\n  Cannot be restored ({}):", self.irrecoverable.len())?;
            for i in &self.irrecoverable {
                writeln!(f, "    ✗ {} — {}", visible(&i.what), visible(&i.reason))?;
            }
        }
        Ok(())
    }
}
