//! `rollback --by ACTOR --since TIME`: the plan narrowed to what those actors changed in that
//! window, leaving everyone else's later work alone.
//!
//! The full plan is computed first; each of its writes (or, inside one issue's PATCH, each
//! field — and for labels and assignees each element) is then kept only when the tracker's
//! activity log says the change since the snapshot was made by the chosen actors, at or
//! after `--since`, and by nobody else. A change made by someone else is left alone without
//! a word; one the log cannot attribute (a body or comment edit, a deleted comment, a label
//! or milestone definition: GitHub records no event for them), or that the chosen actors
//! and others both made, is left alone and named in the preview, so nothing is undone on a
//! guess.

use chrono::{DateTime, Utc};

use super::live::LiveView;
use super::plan::{Irrecoverable, Planned};
use super::RollbackOptions;
use crate::attribution::{Activity, IssueEvent};
use crate::tracker::operation::{Change, Operation};

/// Who made the change of one field (or element) since the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// Only the chosen actors, in the window: restore it.
    Theirs,
    /// Nobody the log knows of.
    Unattributed,
    /// The chosen actors and these others too.
    Mixed(Vec<String>),
    /// Only others (or the chosen actors before the window): someone else's work.
    Others,
}

struct Narrow<'a> {
    opts: &'a RollbackOptions,
    log: &'a Activity,
}

impl Narrow<'_> {
    fn chosen(&self, who: &str, at: DateTime<Utc>) -> bool {
        let by = self.opts.by();
        (by.is_empty() || by.contains(&who.to_ascii_lowercase()))
            && self.opts.since().is_none_or(|s| at >= s)
    }

    /// The events on `issue` named `names` (and about `subject`, when given) since the
    /// snapshot (the log was listed from the snapshot's newest event on).
    fn events<'e>(
        &'e self,
        issue: u64,
        names: &'e [&str],
        subject: Option<&'e str>,
    ) -> impl Iterator<Item = &'e IssueEvent> + 'e {
        self.log.events.iter().filter(move |e| {
            e.issue == issue
                && names.contains(&e.event.as_str())
                && subject.is_none_or(|s| {
                    e.subject
                        .as_deref()
                        .is_some_and(|t| t.eq_ignore_ascii_case(s))
                })
        })
    }

    fn verdict<'e>(&self, events: impl Iterator<Item = &'e IssueEvent>) -> Verdict {
        let (mut theirs, mut others) = (false, Vec::new());
        for e in events {
            if self.chosen(e.who(), e.created_at) {
                theirs = true;
            } else if !others.iter().any(|o: &String| o == e.who()) {
                others.push(e.who().to_string());
            }
        }
        match (theirs, others.is_empty()) {
            (true, true) => Verdict::Theirs,
            (true, false) => Verdict::Mixed(others),
            (false, false) => Verdict::Others,
            (false, true) => Verdict::Unattributed,
        }
    }

    /// A new issue's or comment's own author and creation time.
    fn authored(&self, author: Option<&str>, at: DateTime<Utc>) -> Verdict {
        match author {
            Some(a) if self.chosen(a, at) => Verdict::Theirs,
            Some(_) => Verdict::Others,
            None => Verdict::Unattributed,
        }
    }
}

/// The events that record each kind of issue change.
fn event_names(change: &Change) -> &'static [&'static str] {
    match change {
        Change::Title { .. } => &["renamed"],
        Change::Body { .. } => &[],
        Change::State { .. } => &["closed", "reopened"],
        Change::Labels { .. } => &["labeled", "unlabeled"],
        Change::Assignees { .. } => &["assigned", "unassigned"],
        Change::Milestone { .. } => &["milestoned", "demilestoned"],
        Change::IssueType { .. } => &[
            "issue_type_added",
            "issue_type_changed",
            "issue_type_removed",
        ],
    }
}

fn field_word(change: &Change) -> &'static str {
    match change {
        Change::Title { .. } => "title",
        Change::Body { .. } => "description",
        Change::State { .. } => "state",
        Change::Labels { .. } => "label",
        Change::Assignees { .. } => "assignee",
        Change::Milestone { .. } => "milestone",
        Change::IssueType { .. } => "issue type",
    }
}

/// `planned` narrowed to the changes `opts.by()` made since `opts.since()`, as `log` (the
/// tracker's activity since the snapshot) records them. What cannot be attributed is added to
/// `left_alone`.
pub(crate) fn narrow<'a>(
    planned: Planned,
    live: impl Into<LiveView<'a>>,
    opts: &RollbackOptions,
    log: &Activity,
) -> Planned {
    let live: LiveView<'_> = live.into();
    let n = Narrow { opts, log };
    let mut out = Planned {
        ops: Vec::new(),
        irrecoverable: planned.irrecoverable,
        left_alone: planned.left_alone,
        notes: planned.notes,
    };
    let mut leave = |key: String, what: String, verdict: &Verdict| {
        let reason = match verdict {
            Verdict::Unattributed => {
                "GitHub records no event for it, so who made it is unknown".to_string()
            }
            Verdict::Mixed(others) => format!(
                "{} changed it too since the snapshot",
                others
                    .iter()
                    .map(|o| format!("@{o}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Verdict::Theirs | Verdict::Others => return,
        };
        out.left_alone.push(Irrecoverable { key, what, reason });
    };
    let mut kept = Vec::new();
    // Children whose parent move is restored: their place in the order goes with it.
    let mut moved: Vec<u64> = Vec::new();
    for op in planned.ops.into_iter().map(|p| p.op) {
        match op {
            Operation::SetParent { number, .. } => {
                // Recorded on the child (`parent_issue_*`) and on both parents
                // (`sub_issue_*`, naming the child).
                let child = format!("#{number}");
                let events = log.events.iter().filter(|e| {
                    (e.issue == number && e.event.starts_with("parent_issue_"))
                        || (e.event.starts_with("sub_issue_")
                            && e.subject.as_deref() == Some(child.as_str()))
                });
                let verdict = n.verdict(events);
                if verdict == Verdict::Theirs {
                    moved.push(number);
                    kept.push(op);
                } else {
                    leave(
                        format!("issue:{number}"),
                        format!("#{number} parent"),
                        &verdict,
                    );
                }
            }
            Operation::ReorderSubIssue { number, child, .. } => {
                if moved.contains(&child) {
                    kept.push(op);
                } else {
                    leave(
                        format!("issue:{number}"),
                        format!("#{number} sub-issue order"),
                        &Verdict::Unattributed,
                    );
                }
            }
            Operation::SetBlockedBy {
                number, blocker, ..
            } => {
                let subject = format!("#{blocker}");
                let verdict = n.verdict(n.events(
                    number,
                    &["blocked_by_added", "blocked_by_removed"],
                    Some(&subject),
                ));
                if verdict == Verdict::Theirs {
                    kept.push(op);
                } else {
                    leave(
                        format!("issue:{number}"),
                        format!("#{number} blocked by #{blocker}"),
                        &verdict,
                    );
                }
            }
            Operation::UpdateIssue {
                number,
                title,
                changes,
            } => {
                let mut keep = Vec::new();
                for change in changes {
                    match change {
                        Change::Labels { from, to } => {
                            let to = per_element(
                                &n,
                                number,
                                &from,
                                &to,
                                &["labeled", "unlabeled"],
                                "label",
                                &mut leave,
                            );
                            if !same_set(&from, &to) {
                                keep.push(Change::Labels { from, to });
                            }
                        }
                        Change::Assignees { from, to } => {
                            let to = per_element(
                                &n,
                                number,
                                &from,
                                &to,
                                &["assigned", "unassigned"],
                                "assignee",
                                &mut leave,
                            );
                            if !same_set(&from, &to) {
                                keep.push(Change::Assignees { from, to });
                            }
                        }
                        other => {
                            let verdict = n.verdict(n.events(number, event_names(&other), None));
                            if verdict == Verdict::Theirs {
                                keep.push(other);
                            } else {
                                leave(
                                    format!("issue:{number}"),
                                    format!("#{number} {}", field_word(&other)),
                                    &verdict,
                                );
                            }
                        }
                    }
                }
                if !keep.is_empty() {
                    kept.push(Operation::UpdateIssue {
                        number,
                        title,
                        changes: keep,
                    });
                }
            }
            Operation::SetLock { number, .. } => {
                let verdict = n.verdict(n.events(number, &["locked", "unlocked"], None));
                if verdict == Verdict::Theirs {
                    kept.push(op);
                } else {
                    leave(
                        format!("issue:{number}"),
                        format!("#{number} lock"),
                        &verdict,
                    );
                }
            }
            Operation::DeleteComment { id, .. } => {
                let verdict = live.comment(id).map_or(Verdict::Unattributed, |c| {
                    n.authored(c.author.as_deref(), c.created_at)
                });
                if verdict == Verdict::Theirs {
                    kept.push(op);
                } else {
                    leave(
                        format!("comment:{id}"),
                        format!("new comment {id}"),
                        &verdict,
                    );
                }
            }
            Operation::CloseIssue { number, .. } => {
                let verdict = live.issue(number).map_or(Verdict::Unattributed, |i| {
                    n.authored(i.author.as_deref(), i.created_at)
                });
                if verdict == Verdict::Theirs {
                    kept.push(op);
                } else {
                    leave(
                        format!("issue:{number}"),
                        format!("new issue #{number}"),
                        &verdict,
                    );
                }
            }
            Operation::EditComment { id, issue, .. } => leave(
                format!("comment:{id}"),
                format!("comment {id} on #{issue} was edited"),
                &Verdict::Unattributed,
            ),
            Operation::RecreateComment {
                issue, original_id, ..
            } => leave(
                format!("comment:{original_id}"),
                format!("comment {original_id} on #{issue} was deleted"),
                &Verdict::Unattributed,
            ),
            Operation::CreateLabel { ref name, .. } => leave(
                format!("label:{name}"),
                format!("label {name:?} was deleted"),
                &Verdict::Unattributed,
            ),
            Operation::UpdateLabel {
                ref current_name, ..
            } => leave(
                format!("label:{current_name}"),
                format!("label {current_name:?} was changed"),
                &Verdict::Unattributed,
            ),
            Operation::CreateMilestone { ref title, .. } => leave(
                format!("milestone:{title}"),
                format!("milestone {title:?} was deleted"),
                &Verdict::Unattributed,
            ),
            Operation::UpdateMilestone { number, .. } => leave(
                format!("milestone:{number}"),
                format!("milestone {number} was changed"),
                &Verdict::Unattributed,
            ),
            // Jira scopes are refused narrowing when the options are validated.
            other => kept.push(other),
        }
    }
    for op in kept {
        out.push(op);
    }
    out
}

fn same_set(a: &[String], b: &[String]) -> bool {
    let key = |v: &[String]| {
        let mut k: Vec<String> = v.iter().map(|x| x.to_lowercase()).collect();
        k.sort();
        k
    };
    key(a) == key(b)
}

/// A set field (`from` live, `to` the snapshot's) with only the elements the chosen actors
/// added or removed put back; the rest stays as it is live.
fn per_element(
    n: &Narrow<'_>,
    number: u64,
    from: &[String],
    to: &[String],
    names: &[&str],
    word: &str,
    leave: &mut dyn FnMut(String, String, &Verdict),
) -> Vec<String> {
    let has = |v: &[String], x: &str| v.iter().any(|y| y.eq_ignore_ascii_case(x));
    let mut out: Vec<String> = from.to_vec();
    for added in from.iter().filter(|x| !has(to, x)) {
        let verdict = n.verdict(n.events(number, names, Some(added)));
        if verdict == Verdict::Theirs {
            out.retain(|y| !y.eq_ignore_ascii_case(added));
        } else {
            leave(
                format!("issue:{number}"),
                format!("#{number} {word} {added:?} added"),
                &verdict,
            );
        }
    }
    for removed in to.iter().filter(|x| !has(from, x)) {
        let verdict = n.verdict(n.events(number, names, Some(removed)));
        if verdict == Verdict::Theirs {
            out.push(removed.clone());
        } else {
            leave(
                format!("issue:{number}"),
                format!("#{number} {word} {removed:?} removed"),
                &verdict,
            );
        }
    }
    out
}

#[cfg(test)]
mod tests;
