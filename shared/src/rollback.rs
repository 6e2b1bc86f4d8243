//! Rollback in place: put a live tracker back to a snapshot's state, field by field.
//!
//! Plan, then apply. [`RollbackOptions::validate`] checks what the user asked for against
//! the target snapshot; [`plan::plan`] computes a [`RollbackPlan`] from the target and the
//! live state, which is printed (the preview, with its [`PlanFingerprint`]) and serialized
//! before anything is written. One engine then runs it, whoever asks:
//! [`execute::execute`] for the CLI (the lock held by the process, no budget) and
//! [`job::run_slice`] for the restore function's queued slices (the lock held in the job's
//! name, each slice within its invocation's budget). The engine takes a `pre-rollback`
//! snapshot, plans again from it and stops before writing if that plan is not the one
//! confirmed, applies the operations one at a time — journaling each in the catalog — and
//! verifies by planning again against the new live state: a clean rollback plans zero
//! operations. Re-running an interrupted rollback resumes its job.

pub mod execute;
mod identity;
pub mod into;
mod jira;
pub mod job;
pub mod live;
mod narrow;
pub mod options;
pub mod plan;
mod run;
pub mod target;

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::tracker::operation::{Change, JiraChange, Operation};
pub use execute::{execute, ExecuteOptions, Executed};
pub use identity::{PlanChange, PlanFingerprint, ResumeKey};
pub use options::{Field, JiraRequest, OptionError, RollbackOptions, RollbackRequest};
pub use plan::{
    planning_view, restored_body, restored_from, restored_marker, Irrecoverable, Planned,
};
pub use run::{
    change_since, kept_preview, load_target, plan_against_live, pre_rollback_name, prepare,
    preview, remember_preview, Budget, Confirmed, Executor, Moved, OpProgress, PlanProgress,
    Preview, Resuming, Rollback, RollbackReport, Verification, JOB_LOCK_TTL, PROCESS_LOCK_TTL,
};

use crate::id::SnapshotId;
use crate::record::State;
use crate::scope::Scope;

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
    /// What a preview says besides writes and losses (see [`Planned::notes`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Under `--by`/`--since`: changes the plan leaves alone because it cannot attribute
    /// them to those actors alone, each named with why. (Absent when empty, so other plans'
    /// fingerprints stand.)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_alone: Vec<Irrecoverable>,
}

impl RollbackPlan {
    /// What this plan writes, as a hash (see [`PlanFingerprint`]).
    pub fn fingerprint(&self) -> PlanFingerprint {
        PlanFingerprint::of(self)
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
            Change::IssueType { from, to } => write!(
                f,
                "type       {} → {}",
                crate::sanitize::visible(from.as_deref().unwrap_or("none")),
                crate::sanitize::visible(to.as_deref().unwrap_or("none"))
            ),
        }
    }
}

fn refs(rs: &[crate::record::jira::JiraRef]) -> Vec<String> {
    rs.iter().map(|r| r.name.clone()).collect()
}

fn or_none<T: fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "none".to_string(), |v| v.to_string())
}

impl fmt::Display for JiraChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::sanitize::visible;
        let text = |t: &Option<crate::record::jira::JiraText>| {
            t.as_ref().map(|t| t.to_text()).unwrap_or_default()
        };
        match self {
            JiraChange::Summary { from, to } => write!(
                f,
                "summary    {:?} → {:?}",
                visible(&short(from, 50)),
                visible(&short(to, 50))
            ),
            JiraChange::Description { from, to } => {
                write!(f, "description {}", lines_changed(&text(from), &text(to)))
            }
            JiraChange::Labels { from, to } => {
                write!(f, "labels     {}", visible(&set_delta(from, to)))
            }
            JiraChange::Components { from, to } => write!(
                f,
                "components {}",
                visible(&set_delta(&refs(from), &refs(to)))
            ),
            JiraChange::FixVersions { from, to } => write!(
                f,
                "fix versions {}",
                visible(&set_delta(&refs(from), &refs(to)))
            ),
            JiraChange::Priority { from, to } => write!(
                f,
                "priority   {} → {}",
                visible(&or_none(&from.as_ref().map(|p| p.name.clone()))),
                visible(&or_none(&to.as_ref().map(|p| p.name.clone())))
            ),
            JiraChange::Assignee { from, to } => write!(
                f,
                "assignee   {} → {}",
                visible(from.as_ref().map_or("nobody", |u| u.shown())),
                visible(to.as_ref().map_or("nobody", |u| u.shown()))
            ),
            JiraChange::DueDate { from, to } => {
                write!(f, "due date   {} → {}", or_none(from), or_none(to))
            }
            JiraChange::StoryPoints { from, to } => {
                write!(f, "story points {} → {}", or_none(from), or_none(to))
            }
            JiraChange::Parent {
                from,
                to,
                recreated,
            } => write!(
                f,
                "parent     {} → {}{}",
                visible(&or_none(from)),
                visible(&or_none(to)),
                if recreated.is_some() {
                    "'s recreation"
                } else {
                    ""
                }
            ),
            JiraChange::EpicLink {
                from,
                to,
                recreated,
            } => write!(
                f,
                "epic link  {} → {}{}",
                visible(&or_none(from)),
                visible(&or_none(to)),
                if recreated.is_some() {
                    "'s recreation"
                } else {
                    ""
                }
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
            Operation::SetLock {
                number,
                title,
                locked,
                reason,
            } => write!(
                f,
                "#{number} {}: {}",
                match (locked, reason) {
                    (true, Some(r)) => format!("lock ({})", visible(r)),
                    (true, None) => "lock".to_string(),
                    (false, _) => "unlock".to_string(),
                },
                visible(&short(title, 50))
            ),
            Operation::SetParent {
                number,
                title,
                from,
                to,
                ..
            } => {
                let show = |p: &Option<u64>| p.map_or("no parent".to_string(), |p| format!("#{p}"));
                write!(
                    f,
                    "#{number} {}\n      parent     {} → {}",
                    visible(&short(title, 60)),
                    show(from),
                    show(to)
                )
            }
            Operation::ReorderSubIssue {
                number,
                child,
                anchor,
                after,
                ..
            } => write!(
                f,
                "#{number} sub-issue order: move #{child} {} #{anchor}",
                if *after { "after" } else { "before" }
            ),
            Operation::SetBlockedBy {
                number,
                blocker,
                blocked,
                ..
            } => write!(
                f,
                "#{number} {} blocked by #{blocker}",
                if *blocked { "again" } else { "no longer" }
            ),
            Operation::DeleteComment { id, issue, body } => write!(
                f,
                "#{issue} delete comment {id} (added after the snapshot): {}",
                visible(&short(body, 40))
            ),
            Operation::CopyIssue {
                source,
                title,
                labels,
                milestone,
                ..
            } => {
                write!(f, "create copy of #{source} {}", visible(&short(title, 60)))?;
                if !labels.is_empty() {
                    write!(f, "\n      labels     {}", visible(&labels.join(", ")))?;
                }
                if let Some(m) = milestone {
                    write!(f, "\n      milestone  {}", visible(m))?;
                }
                Ok(())
            }
            Operation::CopyComment {
                source_issue,
                origin,
                ..
            } => {
                let id = origin.rsplit('/').next().unwrap_or_default();
                write!(f, "copy of #{source_issue}: post comment {}", visible(id))
            }
            Operation::CloseCopy {
                source,
                title,
                state_reason,
                ..
            } => write!(
                f,
                "copy of #{source}: {} {}",
                state_text(State::Closed, state_reason),
                visible(&short(title, 50))
            ),
            Operation::LinkCopies { parent, child, .. } => {
                write!(f, "copy of #{child}: sub-issue of the copy of #{parent}")
            }
            Operation::JiraEditIssue {
                key,
                summary,
                changes,
                ..
            } => {
                write!(f, "{} {}", visible(key), visible(&short(summary, 60)))?;
                for c in changes {
                    write!(f, "\n      {c}")?;
                }
                Ok(())
            }
            Operation::JiraTransition {
                key,
                from,
                to,
                path,
                recreated,
                ..
            } => {
                let key = match recreated {
                    Some(_) => format!("{key} (recreated)"),
                    None => key.clone(),
                };
                let mut walk = vec![visible(from).into_owned()];
                if path.is_empty() {
                    walk.push(format!(
                        "{} (path learned while walking)",
                        visible(&to.name)
                    ));
                } else {
                    walk.extend(path.iter().map(|h| visible(&h.to).into_owned()));
                }
                write!(f, "{} status     {}", visible(&key), walk.join(" → "))
            }
            Operation::JiraEditComment {
                key, id, from, to, ..
            } => write!(
                f,
                "{} restore comment {id} ({})",
                visible(key),
                lines_changed(from, &to.to_text())
            ),
            Operation::JiraRecreateComment {
                key,
                original_id,
                recreated,
                ..
            } => write!(
                f,
                "{}{} recreate deleted comment {original_id}",
                visible(key),
                if recreated.is_some() {
                    " (recreated)"
                } else {
                    ""
                }
            ),
            Operation::JiraRecreateIssue {
                original_key,
                summary,
                issue_type,
                fields,
                copy_of,
                ..
            } => {
                match copy_of {
                    Some(_) => write!(
                        f,
                        "{} copy as a new {} (new key on execute): {}",
                        visible(original_key),
                        visible(&issue_type.name),
                        visible(&short(summary, 50))
                    )?,
                    None => write!(
                        f,
                        "{} recreate deleted {} as a new issue (new key on execute): {}",
                        visible(original_key),
                        visible(&issue_type.name),
                        visible(&short(summary, 50))
                    )?,
                }
                for c in fields {
                    write!(f, "\n      {c}")?;
                }
                Ok(())
            }
            Operation::JiraLinkCopies {
                phrase,
                outward,
                inward,
                ..
            } => write!(
                f,
                "copy of {} {} the copy of {}",
                visible(&outward.1),
                visible(phrase),
                visible(&inward.1)
            ),
            Operation::JiraDeleteIssue {
                key,
                summary,
                subtask,
                ..
            } => write!(
                f,
                "{} delete {} (created after the snapshot): {}",
                visible(key),
                if *subtask { "subtask" } else { "issue" },
                visible(&short(summary, 50))
            ),
            Operation::JiraCreateComponent { name, .. } => {
                write!(f, "recreate component {:?}", visible(name))
            }
            Operation::JiraCreateVersion { name, .. } => {
                write!(f, "recreate version {:?}", visible(name))
            }
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
        match self.options.destination() {
            Some(into) => writeln!(f, "Restore plan: snapshot {target} → copied into {into}")?,
            None => writeln!(f, "Rollback plan for {} → snapshot {target}", self.scope)?,
        }
        for note in &self.notes {
            writeln!(f, "  Note: {}", visible(note))?;
        }
        if self.ops.is_empty() {
            match self.options.destination() {
                Some(_) => writeln!(
                    f,
                    "  Nothing to copy: the destination holds every copy as the snapshot has it."
                )?,
                None => writeln!(f, "  Nothing to restore: the live state already matches.")?,
            }
        } else {
            writeln!(f, "  {} write(s), in this order:", self.ops.len())?;
            for op in &self.ops {
                writeln!(f, "  {:>4}. {}", op.index + 1, op.op)?;
            }
        }
        if !self.irrecoverable.is_empty() {
            let heading = match self.options.destination() {
                Some(_) => "Lost in the copy",
                None => "Cannot be restored",
            };
            writeln!(f, "\n  {heading} ({}):", self.irrecoverable.len())?;
            for i in &self.irrecoverable {
                writeln!(f, "    ✗ {} — {}", visible(&i.what), visible(&i.reason))?;
            }
        }
        if !self.left_alone.is_empty() {
            let who = self
                .options
                .by()
                .iter()
                .map(|a| format!("@{a}"))
                .collect::<Vec<_>>();
            let scope = match (who.is_empty(), self.options.since()) {
                (false, Some(t)) => format!("by {} since {t}", who.join(", ")),
                (false, None) => format!("by {}", who.join(", ")),
                (true, Some(t)) => format!("since {t}"),
                (true, None) => String::new(),
            };
            writeln!(
                f,
                "\n  Left alone: not attributable to changes {scope} ({}):",
                self.left_alone.len()
            )?;
            for i in &self.left_alone {
                writeln!(f, "    ? {} — {}", visible(&i.what), visible(&i.reason))?;
            }
        }
        Ok(())
    }
}

/// Test support shared by the rollback modules' tests.
#[cfg(test)]
pub(crate) mod testkit {
    use chrono::{DateTime, Utc};

    use crate::catalog::SnapshotEntry;
    use crate::manifest::Trigger;
    use crate::SnapshotStatus;

    /// A completed snapshot entry of `github:acme/widgets` taken at `created_at`.
    pub fn entry(created_at: DateTime<Utc>) -> SnapshotEntry {
        SnapshotEntry {
            id: crate::SnapshotId::new(),
            scope: "github:acme/widgets".parse().expect("a valid scope"),
            name: Some("good".into()),
            trigger: Trigger::Manual,
            status: SnapshotStatus::Completed,
            created_at,
            finished_at: Some(created_at),
            counts: Default::default(),
            bytes: Default::default(),
            requests: 0,
            manifest_key: "m".into(),
            parent: None,
            pinned: false,
            expires_at: None,
            error: None,
            manifest_hash: None,
            lease: None,
        }
    }
}
