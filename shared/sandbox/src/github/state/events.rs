//! Issue events: what GitHub's `/issues/events` listings say happened to an issue, by whom and
//! when. Every write that GitHub records as an event records one here, with the actor of the
//! token that made it, so clients (and backtrack's "who changed what") can attribute changes.
//! A body edit is not an event on GitHub, and is not one here either.

use super::{Issue, State, Ts};

/// An issue as an event names it (`sub_issue`, `parent_issue`, `blocked_by`, `blocking`):
/// the number, kept so the reference renders the issue as it is now, as GitHub does.
pub(crate) type IssueRef = u64;

/// What happened, with the details GitHub's event schemas carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EventKind {
    Labeled { name: String, color: String },
    Unlabeled { name: String, color: String },
    Assigned { assignee: usize },
    Unassigned { assignee: usize },
    Milestoned { title: String },
    Demilestoned { title: String },
    Renamed { from: String, to: String },
    Closed { reason: Option<&'static str> },
    Reopened,
    Locked { reason: Option<String> },
    Unlocked,
    TypeAdded { to: u64 },
    TypeChanged { from: u64, to: u64 },
    TypeRemoved { from: u64 },
    SubIssueAdded { child: IssueRef },
    SubIssueRemoved { child: IssueRef },
    ParentAdded { parent: IssueRef },
    ParentRemoved { parent: IssueRef },
    BlockedByAdded { other: IssueRef },
    BlockedByRemoved { other: IssueRef },
    BlockingAdded { other: IssueRef },
    BlockingRemoved { other: IssueRef },
}

impl EventKind {
    /// The `event` field.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            EventKind::Labeled { .. } => "labeled",
            EventKind::Unlabeled { .. } => "unlabeled",
            EventKind::Assigned { .. } => "assigned",
            EventKind::Unassigned { .. } => "unassigned",
            EventKind::Milestoned { .. } => "milestoned",
            EventKind::Demilestoned { .. } => "demilestoned",
            EventKind::Renamed { .. } => "renamed",
            EventKind::Closed { .. } => "closed",
            EventKind::Reopened => "reopened",
            EventKind::Locked { .. } => "locked",
            EventKind::Unlocked => "unlocked",
            EventKind::TypeAdded { .. } => "issue_type_added",
            EventKind::TypeChanged { .. } => "issue_type_changed",
            EventKind::TypeRemoved { .. } => "issue_type_removed",
            EventKind::SubIssueAdded { .. } => "sub_issue_added",
            EventKind::SubIssueRemoved { .. } => "sub_issue_removed",
            EventKind::ParentAdded { .. } => "parent_issue_added",
            EventKind::ParentRemoved { .. } => "parent_issue_removed",
            EventKind::BlockedByAdded { .. } => "blocked_by_added",
            EventKind::BlockedByRemoved { .. } => "blocked_by_removed",
            EventKind::BlockingAdded { .. } => "blocking_added",
            EventKind::BlockingRemoved { .. } => "blocking_removed",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub id: u64,
    pub issue: u64,
    pub actor: usize,
    pub kind: EventKind,
    pub created_at: Ts,
}

/// The events GitHub records for a change of `old` into `new` (issue fields only; sub-issues,
/// and dependencies record their own), in GitHub's order.
pub(super) fn of_change(old: &Issue, new: &Issue) -> Vec<EventKind> {
    // Labels and milestones are resolved by the caller (`State::record_change`), which
    // knows their names; here they stay ids.
    let mut out = Vec::new();
    if old.title != new.title && !old.title.is_empty() {
        out.push(EventKind::Renamed {
            from: old.title.clone(),
            to: new.title.clone(),
        });
    }
    for a in new.assignees.iter().filter(|a| !old.assignees.contains(a)) {
        out.push(EventKind::Assigned { assignee: *a });
    }
    for a in old.assignees.iter().filter(|a| !new.assignees.contains(a)) {
        out.push(EventKind::Unassigned { assignee: *a });
    }
    match (old.issue_type, new.issue_type) {
        (None, Some(to)) => out.push(EventKind::TypeAdded { to }),
        (Some(from), None) => out.push(EventKind::TypeRemoved { from }),
        (Some(from), Some(to)) if from != to => out.push(EventKind::TypeChanged { from, to }),
        _ => {}
    }
    match (old.open, new.open) {
        (true, false) => out.push(EventKind::Closed {
            reason: new.state_reason.map(|r| r.as_str()),
        }),
        (false, true) => out.push(EventKind::Reopened),
        _ => {}
    }
    out
}

impl State {
    /// Appends an event by `actor` on issue `number` at `ts`.
    pub(crate) fn record(&mut self, number: u64, actor: usize, kind: EventKind, ts: Ts) {
        let id = self.event_id_base + self.events.len() as u64 + 1;
        self.events.push(Event {
            id,
            issue: number,
            actor,
            kind,
            created_at: ts,
        });
    }

    /// Label and milestone events of a change, which need the definitions' names.
    pub(super) fn taxonomy_events(&self, old: &Issue, new: &Issue) -> Vec<EventKind> {
        let mut out = Vec::new();
        let label = |id: &u64| {
            self.labels
                .get(id)
                .map(|l| (l.name.clone(), l.color.clone()))
        };
        for (name, color) in new
            .labels
            .iter()
            .filter(|l| !old.labels.contains(l))
            .filter_map(label)
        {
            out.push(EventKind::Labeled { name, color });
        }
        for (name, color) in old
            .labels
            .iter()
            .filter(|l| !new.labels.contains(l))
            .filter_map(label)
        {
            out.push(EventKind::Unlabeled { name, color });
        }
        if old.milestone != new.milestone {
            let title = |m: Option<u64>| {
                m.and_then(|m| self.milestones.get(&m))
                    .map(|m| m.title.clone())
            };
            if let Some(title) = title(old.milestone) {
                out.push(EventKind::Demilestoned { title });
            }
            if let Some(title) = title(new.milestone) {
                out.push(EventKind::Milestoned { title });
            }
        }
        out
    }

    /// An event by id.
    pub(crate) fn event(&self, id: u64) -> Option<&Event> {
        id.checked_sub(self.event_id_base + 1)
            .and_then(|i| self.events.get(i as usize))
    }
}
