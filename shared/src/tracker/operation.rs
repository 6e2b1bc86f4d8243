//! The writes a tracker can be asked to make: one [`Operation`] is one write (plus the reads
//! needed to resolve a reference), and [`TrackerWriter`](super::TrackerWriter) applies it.
//!
//! These types belong to the tracker layer, not to rollback: rollback *plans* operations and
//! a tracker *applies* them, so both depend on this module and neither on the other. A Jira
//! tracker adds its own variants (transitions, subtasks) beside GitHub's.
//!
//! Operations name what the tracker names: labels by their current name (GitHub addresses a
//! label by name), milestones by number, and an issue's milestone by title (a recreated
//! milestone gets a new number only known when it is written).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::record::jira::{JiraRef, JiraStatus, JiraText, JiraUser, JiraVisibility};
use crate::record::State;

pub mod jira;

pub use jira::{Hop, JiraChange, RECREATED_PROPERTY};

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
    /// GitHub: the issue type, by name (`None` removes it).
    IssueType {
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
    /// Renames and/or restyles the label currently called `current_name`.
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
    /// Posts a deleted comment again; `body` ends with [`restored_marker`]`(original_id)`.
    RecreateComment {
        issue: u64,
        original_id: u64,
        body: String,
    },
    CloseIssue {
        number: u64,
        title: String,
    },
    /// GitHub: locks the conversation (with the snapshot's reason) or unlocks it.
    SetLock {
        number: u64,
        title: String,
        locked: bool,
        reason: Option<String>,
    },
    DeleteComment {
        id: u64,
        issue: u64,
        body: String,
    },
    /// GitHub: makes sub-issue `number` (GitHub id `id`) a child of `to` — moved from
    /// `from` with `replace_parent` — or, with `to` empty, removes it from `from`: one
    /// `POST …/sub_issues` or `DELETE …/sub_issue`.
    SetParent {
        number: u64,
        id: u64,
        title: String,
        from: Option<u64>,
        to: Option<u64>,
    },
    /// GitHub: moves sub-issue `child` of parent `number` right after (`after`) or right
    /// before the sub-issue `anchor`: one `PATCH …/sub_issues/priority`.
    ReorderSubIssue {
        number: u64,
        child: u64,
        child_id: u64,
        anchor: u64,
        anchor_id: u64,
        after: bool,
    },
    /// GitHub: records (`blocked`) or removes that `blocker` (GitHub id `blocker_id`) blocks
    /// issue `number`: one `POST …/dependencies/blocked_by` or `DELETE …/blocked_by/{id}`.
    SetBlockedBy {
        number: u64,
        blocker: u64,
        blocker_id: u64,
        blocked: bool,
    },
    /// Jira: one `PUT /issue/{key}` carrying every changed editable field (`id` is the
    /// issue's stable id; `key` is how the site addresses it).
    JiraEditIssue {
        id: u64,
        key: String,
        /// The summary to show in previews (the target's).
        summary: String,
        changes: Vec<JiraChange>,
    },
    /// Jira: walks the workflow from whatever status the issue is in when applied to `to`,
    /// one transition at a time; `path` is the walk foreseen from the planned status.
    JiraTransition {
        id: u64,
        key: String,
        from: String,
        to: JiraStatus,
        /// Set on the transition into a done status whose screen asks for one.
        resolution: Option<JiraRef>,
        path: Vec<Hop>,
        /// Set when the issue is one this rollback recreates (`id` and `key` are then the
        /// original's): the walk goes through the recreation.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recreated: Option<u64>,
    },
    /// Jira: puts an edited comment's body (and visibility) back.
    JiraEditComment {
        issue: u64,
        key: String,
        id: u64,
        /// The current text, for the preview.
        from: String,
        to: JiraText,
        visibility: Option<JiraVisibility>,
    },
    /// Jira: posts a deleted comment again, with an attribution line; the new comment
    /// carries a comment property naming `original_id`, so a retry finds it.
    JiraRecreateComment {
        issue: u64,
        key: String,
        original_id: u64,
        body: JiraText,
        visibility: Option<JiraVisibility>,
        /// As for [`Operation::JiraTransition`]: posted on the issue's recreation.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recreated: Option<u64>,
    },
    /// Jira: creates a deleted issue or subtask anew (`--recreate-deleted`). It gets a new
    /// key; its description starts with an attribution line naming the original, and it
    /// carries the [`RECREATED_PROPERTY`] issue property (set in the same request), so a
    /// retry finds it instead of creating a second one. Its status and comments follow as
    /// their own operations.
    JiraRecreateIssue {
        original_id: u64,
        original_key: String,
        summary: String,
        issue_type: JiraRef,
        subtask: bool,
        /// Every other field to set, as changes from nothing (parent and epic links
        /// included: to a surviving issue, or to one recreated earlier in the plan).
        fields: Vec<JiraChange>,
        /// Set on a restore into another project: the scope the original is in. The copy
        /// is found again the same way, by its issue property.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        copy_of: Option<String>,
        /// An epic's Epic Name, set through the site's field of that name: a Data Center
        /// site refuses to create an epic without it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        epic_name: Option<String>,
    },
    /// Restore into another Jira project: links the copies of two issues as the originals
    /// were (`outward` shows the type's outward phrase, e.g. "blocks", towards `inward`).
    /// Each side is an original (id, key), resolved to its copy by its issue property when
    /// applied. Jira keeps one link per type and pair, so repeating it changes nothing.
    JiraLinkCopies {
        kind: String,
        phrase: String,
        outward: (u64, String),
        inward: (u64, String),
    },
    /// Jira: deletes an issue or subtask created after the snapshot (opted into).
    JiraDeleteIssue {
        id: u64,
        key: String,
        summary: String,
        subtask: bool,
    },
    /// Jira: recreates a deleted component (it gets a new id), before the issues using it.
    JiraCreateComponent {
        original_id: u64,
        name: String,
        description: Option<String>,
        lead: Option<JiraUser>,
        assignee_type: Option<String>,
    },
    /// Restore into another scope: creates an open issue copied from `origin` (see
    /// [`migrated_marker`]); `body` carries the attribution line and ends with the marker, by
    /// which a retry or a later run finds the copy instead of creating it twice. `source` is
    /// the original's number, for previews.
    CopyIssue {
        origin: String,
        source: u64,
        title: String,
        body: String,
        labels: Vec<String>,
        /// By title, like [`Change::Milestone`].
        milestone: Option<String>,
    },
    /// Restore into another scope: posts a comment copied from `origin` on the copy of the
    /// issue `issue_origin` (resolved by its marker when applied); `body` ends with the
    /// comment's marker.
    CopyComment {
        issue_origin: String,
        source_issue: u64,
        origin: String,
        body: String,
    },
    /// Restore into another scope: closes the copy of `issue_origin` as the original was.
    CloseCopy {
        issue_origin: String,
        source: u64,
        title: String,
        state_reason: Option<String>,
    },
    /// Restore into another scope: makes the copy of `child_origin` a sub-issue of the copy
    /// of `parent_origin` (`parent` and `child` are the originals' numbers, for previews).
    LinkCopies {
        parent_origin: String,
        child_origin: String,
        parent: u64,
        child: u64,
    },
    /// Jira: recreates a deleted version (it gets a new id), before the issues using it.
    JiraCreateVersion {
        original_id: u64,
        name: String,
        description: Option<String>,
        released: bool,
        archived: bool,
        start_date: Option<chrono::NaiveDate>,
        release_date: Option<chrono::NaiveDate>,
    },
}

impl Operation {
    /// The issue this operation touches, if any.
    pub fn issue(&self) -> Option<u64> {
        match self {
            Operation::UpdateIssue { number, .. }
            | Operation::CloseIssue { number, .. }
            | Operation::SetLock { number, .. }
            | Operation::SetParent { number, .. }
            | Operation::ReorderSubIssue { number, .. }
            | Operation::SetBlockedBy { number, .. } => Some(*number),
            Operation::EditComment { issue, .. }
            | Operation::RecreateComment { issue, .. }
            | Operation::DeleteComment { issue, .. } => Some(*issue),
            Operation::JiraEditIssue { id, .. }
            | Operation::JiraTransition { id, .. }
            | Operation::JiraDeleteIssue { id, .. } => Some(*id),
            Operation::JiraEditComment { issue, .. }
            | Operation::JiraRecreateComment { issue, .. } => Some(*issue),
            Operation::JiraRecreateIssue { original_id, .. } => Some(*original_id),
            _ => None,
        }
    }

    /// Whether applying the operation twice has the same effect as once. The others
    /// (creations) are looked for with [`TrackerWriter::find_applied`](super::TrackerWriter::find_applied)
    /// before a resumed run repeats them.
    pub fn is_idempotent(&self) -> bool {
        !matches!(
            self,
            Operation::CreateLabel { .. }
                | Operation::CreateMilestone { .. }
                | Operation::RecreateComment { .. }
                | Operation::JiraRecreateComment { .. }
                | Operation::JiraRecreateIssue { .. }
                | Operation::JiraCreateComponent { .. }
                | Operation::JiraCreateVersion { .. }
                | Operation::CopyIssue { .. }
                | Operation::CopyComment { .. }
                // Sent twice, a link write is refused (422 or 404): a resumed run reads
                // the live link first instead.
                | Operation::SetParent { .. }
                | Operation::SetBlockedBy { .. }
        )
    }

    /// How many writes applying the operation makes when it runs as planned: one, except a
    /// walk through the workflow, which makes one per transition.
    pub fn writes(&self) -> usize {
        match self {
            Operation::JiraTransition { path, .. } => path.len().max(1),
            _ => 1,
        }
    }
}

/// How every hidden backtrack marker starts.
pub const MARKER_PREFIX: &str = "<!-- backtrack:";

const RESTORED_PREFIX: &str = "<!-- backtrack:restored-comment:";

/// The hidden marker a recreated comment carries, so a retry finds it instead of posting it
/// again, and verification recognises it as the restored original.
pub fn restored_marker(original_id: u64) -> String {
    format!("{RESTORED_PREFIX}{original_id} -->")
}

/// The original comment id a live comment restores, if it carries the marker.
pub fn restored_from(body: &str) -> Option<u64> {
    let start = body.rfind(RESTORED_PREFIX)?;
    let rest = &body[start + RESTORED_PREFIX.len()..];
    rest.split_once(" -->")?.0.parse().ok()
}

const MIGRATED_PREFIX: &str = "<!-- backtrack:migrated-from ";

/// The hidden marker an issue or comment copied into another scope carries: `origin` names
/// the original (`github:acme/widgets#12`, `github:acme/widgets#12/comment/345`), so a
/// resumed or repeated restore finds the copy and never creates it twice.
pub fn migrated_marker(origin: &str) -> String {
    format!("{MIGRATED_PREFIX}{origin} -->")
}

/// The original a live issue or comment was copied from, if it carries the marker.
pub fn migrated_from(body: &str) -> Option<&str> {
    let start = body.rfind(MIGRATED_PREFIX)?;
    let rest = &body[start + MIGRATED_PREFIX.len()..];
    let (origin, _) = rest.split_once(" -->")?;
    (!origin.is_empty() && !origin.contains(char::is_whitespace)).then_some(origin)
}

/// Whether a comment is one of backtrack's own reports (a sticky diff comment): its body
/// starts with a marker other than the restoration marker. Comments that a rollback
/// recreated carry their marker at the end and are real content.
pub fn is_report(body: &str) -> bool {
    body.starts_with(MARKER_PREFIX) && !body.starts_with(RESTORED_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip_and_reports_are_told_apart() {
        let body = format!("text\n\n{}", restored_marker(42));
        assert_eq!(restored_from(&body), Some(42));
        assert_eq!(restored_from("no marker"), None);
        assert!(is_report("<!-- backtrack:diff github:a/b -->\nreport"));
        assert!(!is_report(&restored_marker(1)));
        assert!(!is_report("a normal comment <!-- backtrack:diff x -->"));
    }

    #[test]
    fn migration_markers_round_trip() {
        let body = format!("> moved\n\ntext\n\n{}", migrated_marker("github:a/b#12"));
        assert_eq!(migrated_from(&body), Some("github:a/b#12"));
        assert_eq!(migrated_from("plain"), None);
        assert_eq!(migrated_from("<!-- backtrack:migrated-from  -->"), None);
        assert!(!is_report(&body));
    }
}
