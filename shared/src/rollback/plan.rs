//! Planning: the minimal ordered operations that turn the live state into a snapshot's
//! state, and the list of differences no operation can undo.
//!
//! The planner is a pure function of (target, live, options). Verification re-runs it after
//! execution: a successful rollback plans zero operations.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Field, Operation, PlannedOp, RollbackOptions};
use crate::record::{Comment, Issue, Label, Milestone, RecordSet, State};

/// The hidden marker a recreated comment carries, so a retry finds it instead of posting it
/// again, and verification recognises it as the restored original.
pub fn restored_marker(original_id: u64) -> String {
    format!("<!-- backtrack:restored-comment:{original_id} -->")
}

/// How every hidden backtrack marker starts.
pub const MARKER_PREFIX: &str = "<!-- backtrack:";

/// Whether a comment is one of backtrack's own reports (a sticky diff comment): its body
/// starts with the upsert marker. Comments that a rollback recreated carry a
/// `<!-- backtrack:restored-comment:… -->` marker instead (at their end) and are real content.
pub fn is_report(body: &str) -> bool {
    body.starts_with(MARKER_PREFIX) && !body.starts_with("<!-- backtrack:restored-comment:")
}

/// The original comment id a live comment restores, if it carries the marker.
pub fn restored_from(body: &str) -> Option<u64> {
    let start = body.rfind("<!-- backtrack:restored-comment:")?;
    let rest = &body[start + "<!-- backtrack:restored-comment:".len()..];
    rest.split_once(" -->")?.0.parse().ok()
}

/// The body a deleted comment is recreated with: an attribution line (authorship and time
/// cannot be restored through the API), the original text, and the marker.
pub fn restored_body(original: &Comment, snapshot: &str) -> String {
    format!(
        "> _Restored by backtrack from snapshot `{snapshot}`. Originally written by @{} on {}._\n\n{}\n\n{}",
        original.author.as_deref().unwrap_or("ghost"),
        original.created_at.format("%Y-%m-%d %H:%M UTC"),
        original.body,
        restored_marker(original.id)
    )
}

/// A difference the plan cannot undo, named before anything is executed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Irrecoverable {
    /// `issue:12`, `comment:345`, `milestone:3`…
    pub key: String,
    pub what: String,
    pub reason: String,
}

/// The output of planning.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Planned {
    pub ops: Vec<PlannedOp>,
    pub irrecoverable: Vec<Irrecoverable>,
}

fn body_eq(a: &Option<String>, b: &Option<String>) -> bool {
    // GitHub stores an emptied body as null; both mean "no description".
    a.as_deref().unwrap_or("") == b.as_deref().unwrap_or("")
}

fn date_eq(a: &Option<DateTime<Utc>>, b: &Option<DateTime<Utc>>) -> bool {
    // Due dates are days; GitHub shifts the time of day by time zone on write.
    a.map(|d| d.date_naive()) == b.map(|d| d.date_naive())
}

/// Finds the live label that corresponds to a target label: same id, else same name
/// (case-insensitively, as GitHub compares label names).
fn match_label<'a>(target: &Label, live: &'a BTreeMap<u64, Label>) -> Option<&'a Label> {
    live.get(&target.id).or_else(|| {
        live.values()
            .find(|l| l.name.eq_ignore_ascii_case(&target.name))
    })
}

fn match_milestone<'a>(
    target: &Milestone,
    live: &'a BTreeMap<u64, Milestone>,
) -> Option<&'a Milestone> {
    live.get(&target.number)
        .filter(|m| m.title == target.title || !live.values().any(|o| o.title == target.title))
        .or_else(|| live.values().find(|m| m.title == target.title))
}

/// Computes the plan. `snapshot` names the target in recreated comments' attribution.
pub fn plan(
    target: &RecordSet,
    live: &RecordSet,
    opts: &RollbackOptions,
    snapshot: &str,
) -> Planned {
    let mut out = Planned::default();
    let wants = |f: Field| opts.fields.as_ref().is_none_or(|fs| fs.contains(&f));
    let in_scope = |n: u64| opts.only.as_ref().is_none_or(|only| only.contains(&n));

    // Which label names and milestone titles the selected issues need in the end: with
    // `--only`, definitions unrelated to those issues are left alone.
    let selected: Vec<&Issue> = target
        .issues
        .values()
        .filter(|i| in_scope(i.number))
        .collect();
    let needed_labels: BTreeSet<String> = selected
        .iter()
        .flat_map(|i| i.labels.iter().map(|l| l.to_ascii_lowercase()))
        .collect();
    let needed_milestones: BTreeSet<&str> = selected
        .iter()
        .filter_map(|i| i.milestone.as_ref().map(|m| m.title.as_str()))
        .collect();
    let all_definitions = opts.only.is_none();

    // 1. Label definitions.
    if wants(Field::Labels) {
        for label in target.labels.values() {
            if !all_definitions && !needed_labels.contains(&label.name.to_ascii_lowercase()) {
                continue;
            }
            match match_label(label, &live.labels) {
                None => out.push(Operation::CreateLabel {
                    name: label.name.clone(),
                    color: label.color.clone(),
                    description: label.description.clone(),
                }),
                Some(current) => {
                    if current.name != label.name
                        || !current.color.eq_ignore_ascii_case(&label.color)
                        || current.description.as_deref().unwrap_or("")
                            != label.description.as_deref().unwrap_or("")
                    {
                        out.push(Operation::UpdateLabel {
                            current_name: current.name.clone(),
                            name: label.name.clone(),
                            color: label.color.clone(),
                            description: label.description.clone(),
                        });
                    }
                }
            }
        }
    }

    // 2. Milestone definitions.
    if wants(Field::Milestone) {
        for m in target.milestones.values() {
            if !all_definitions && !needed_milestones.contains(m.title.as_str()) {
                continue;
            }
            match match_milestone(m, &live.milestones) {
                None => {
                    out.push(Operation::CreateMilestone {
                        title: m.title.clone(),
                        state: m.state,
                        description: m.description.clone(),
                        due_on: m.due_on,
                    });
                    out.irrecoverable.push(Irrecoverable {
                        key: format!("milestone:{}", m.number),
                        what: format!("milestone {:?} keeps a new number", m.title),
                        reason: "a deleted milestone is recreated under a new number; links to the old number do not follow".into(),
                    });
                }
                Some(current) => {
                    if current.title != m.title
                        || current.state != m.state
                        || current.description.as_deref().unwrap_or("")
                            != m.description.as_deref().unwrap_or("")
                        || !date_eq(&current.due_on, &m.due_on)
                    {
                        out.push(Operation::UpdateMilestone {
                            number: current.number,
                            title: m.title.clone(),
                            state: m.state,
                            description: m.description.clone(),
                            due_on: m.due_on,
                        });
                    }
                }
            }
        }
    }

    // 3. One PATCH per changed issue, carrying every changed field.
    for issue in &selected {
        let Some(current) = live.issues.get(&issue.number) else {
            out.irrecoverable.push(Irrecoverable {
                key: format!("issue:{}", issue.number),
                what: format!("#{} {:?} was deleted", issue.number, issue.title),
                reason: "GitHub cannot restore a deleted issue; its content, comments and history remain in the snapshot".into(),
            });
            continue;
        };
        let patch = issue_patch(issue, current, &wants, &mut out.irrecoverable);
        if !patch.is_empty() {
            out.push(Operation::UpdateIssue {
                number: issue.number,
                title: issue.title.clone(),
                changes: patch,
            });
        }
        if current.locked != issue.locked {
            out.irrecoverable.push(Irrecoverable {
                key: format!("issue:{}", issue.number),
                what: format!(
                    "#{} is {} (was {})",
                    issue.number,
                    if current.locked { "locked" } else { "unlocked" },
                    if issue.locked { "locked" } else { "unlocked" }
                ),
                reason: "conversation locking is not restored; lock or unlock it on GitHub".into(),
            });
        }
    }

    // 4 and 5. Comment edits, then re-creation of deleted comments.
    if wants(Field::Comments) {
        plan_comments(target, live, opts, snapshot, &in_scope, &mut out);
    }

    // 6. Opt-in clean-up of what was created after the snapshot.
    if opts.close_new_issues && wants(Field::State) {
        for current in live.issues.values() {
            if !target.issues.contains_key(&current.number)
                && in_scope(current.number)
                && current.state == State::Open
                && current.created_at > opts.snapshot_time
            {
                out.push(Operation::CloseIssue {
                    number: current.number,
                    title: current.title.clone(),
                });
            }
        }
    }
    out
}

/// The changed restorable fields of one issue, as `Change`s.
fn issue_patch(
    target: &Issue,
    current: &Issue,
    wants: &dyn Fn(Field) -> bool,
    irrecoverable: &mut Vec<Irrecoverable>,
) -> Vec<super::Change> {
    use super::Change;
    let mut changes = Vec::new();
    if wants(Field::Title) && current.title != target.title {
        changes.push(Change::Title {
            from: current.title.clone(),
            to: target.title.clone(),
        });
    }
    if wants(Field::Body) && !body_eq(&current.body, &target.body) {
        changes.push(Change::Body {
            from: current.body.clone(),
            to: target.body.clone(),
        });
    }
    if wants(Field::State) {
        let reason_differs = target.state == State::Closed
            && current.state == State::Closed
            && target.state_reason.is_some()
            && current.state_reason != target.state_reason;
        if current.state != target.state || reason_differs {
            let merged = current.pull_request
                && current
                    .raw
                    .pointer("/pull_request/merged_at")
                    .is_some_and(|m| !m.is_null());
            if merged && target.state == State::Open {
                irrecoverable.push(Irrecoverable {
                    key: format!("issue:{}", target.number),
                    what: format!("pull request #{} was merged", target.number),
                    reason: "a merged pull request cannot be reopened".into(),
                });
            } else {
                changes.push(Change::State {
                    from: current.state,
                    from_reason: current.state_reason.clone(),
                    to: target.state,
                    to_reason: match target.state {
                        State::Closed => target.state_reason.clone(),
                        State::Open => None,
                    },
                });
            }
        }
    }
    let lower =
        |v: &[String]| -> BTreeSet<String> { v.iter().map(|s| s.to_ascii_lowercase()).collect() };
    if wants(Field::Labels) && lower(&current.labels) != lower(&target.labels) {
        changes.push(Change::Labels {
            from: current.labels.clone(),
            to: target.labels.clone(),
        });
    }
    if wants(Field::Assignees) && current.assignees != target.assignees {
        changes.push(Change::Assignees {
            from: current.assignees.clone(),
            to: target.assignees.clone(),
        });
    }
    let title_of = |i: &Issue| i.milestone.as_ref().map(|m| m.title.clone());
    if wants(Field::Milestone) && title_of(current) != title_of(target) {
        changes.push(Change::Milestone {
            from: title_of(current),
            to: title_of(target),
        });
    }
    changes
}

fn plan_comments(
    target: &RecordSet,
    live: &RecordSet,
    opts: &RollbackOptions,
    snapshot: &str,
    in_scope: &dyn Fn(u64) -> bool,
    out: &mut Planned,
) {
    // Live comments that are restored copies of a target comment, by original id.
    let restored: HashMap<u64, &Comment> = live
        .comments
        .values()
        .filter_map(|c| restored_from(&c.body).map(|orig| (orig, c)))
        .collect();
    let mut recreate = Vec::new();
    for comment in target.comments.values() {
        if !in_scope(comment.issue_number) {
            continue;
        }
        if !live.issues.contains_key(&comment.issue_number) {
            continue; // reported with its deleted issue
        }
        match live.comments.get(&comment.id) {
            Some(current) => {
                if current.body != comment.body {
                    out.push(Operation::EditComment {
                        id: comment.id,
                        issue: comment.issue_number,
                        from: current.body.clone(),
                        to: comment.body.clone(),
                    });
                }
            }
            None => {
                let body = restored_body(comment, snapshot);
                match restored.get(&comment.id) {
                    // Already recreated by an earlier (perhaps interrupted) run.
                    Some(copy) if copy.body == body => {}
                    Some(copy) => out.push(Operation::EditComment {
                        id: copy.id,
                        issue: comment.issue_number,
                        from: copy.body.clone(),
                        to: body,
                    }),
                    None => recreate.push(Operation::RecreateComment {
                        issue: comment.issue_number,
                        original_id: comment.id,
                        body,
                    }),
                }
                let reactions = comment
                    .raw
                    .pointer("/reactions/total_count")
                    .and_then(|v| v.as_u64())
                    .unwrap_or(0);
                out.irrecoverable.push(Irrecoverable {
                    key: format!("comment:{}", comment.id),
                    what: format!(
                        "comment {} on #{} by @{} ({}){}",
                        comment.id,
                        comment.issue_number,
                        comment.author.as_deref().unwrap_or("ghost"),
                        comment.created_at.format("%Y-%m-%d"),
                        if reactions > 0 {
                            format!(", {reactions} reactions")
                        } else {
                            String::new()
                        }
                    ),
                    reason: "recreated as the token's user with an attribution line: the original author, timestamps and reactions cannot be restored".into(),
                });
            }
        }
    }
    for op in recreate {
        out.push(op);
    }
    if opts.delete_new_comments {
        for current in live.comments.values() {
            if !target.comments.contains_key(&current.id)
                && restored_from(&current.body).is_none()
                // The Action's sticky diff comment is backtrack's own, not content.
                && !is_report(&current.body)
                && in_scope(current.issue_number)
                && current.created_at > opts.snapshot_time
            {
                out.push(Operation::DeleteComment {
                    id: current.id,
                    issue: current.issue_number,
                    body: current.body.clone(),
                });
            }
        }
    }
}

impl Planned {
    fn push(&mut self, op: Operation) {
        let index = self.ops.len() as u64;
        self.ops.push(PlannedOp { index, op });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::testkit::{at, milestone_ref, names, Builder};
    use crate::rollback::Change;

    fn opts() -> RollbackOptions {
        RollbackOptions::new(at(5))
    }

    fn base() -> Builder {
        let mut b = Builder::new();
        b.label(1, "bug", "d73a4a").description = Some("Something is broken".into());
        b.label(2, "p1", "ff0000");
        b.milestone(1, "v1.0").due_on = Some(at(30));
        let i = b.issue(1, "Login crash");
        i.body = Some("Steps\n1. open\n2. crash".into());
        i.labels = names(&["bug", "p1"]);
        i.assignees = names(&["amy"]);
        i.milestone = milestone_ref(1, "v1.0");
        b.issue(2, "Docs typo").state = State::Closed;
        b.set.issues.get_mut(&2).unwrap().state_reason = Some("completed".into());
        b.comment(10, 1, "bob", "I can reproduce");
        b.comment(11, 1, "amy", "Fixed in #3");
        b
    }

    #[test]
    fn identical_states_plan_nothing() {
        let t = base().build();
        let p = plan(&t, &t, &opts(), "snap");
        assert!(p.ops.is_empty() && p.irrecoverable.is_empty(), "{p:?}");
    }

    #[test]
    fn one_patch_per_issue_carries_every_changed_field() {
        let target = base().build();
        let mut live = target.clone();
        let i = live.issues.get_mut(&1).unwrap();
        i.title = "SYNCED".into();
        i.body = None;
        i.state = State::Closed;
        i.state_reason = Some("not_planned".into());
        i.labels = names(&["p1", "wontfix"]);
        i.assignees = vec![];
        i.milestone = None;
        let p = plan(&target, &live, &opts(), "snap");
        assert_eq!(p.ops.len(), 1, "{p:?}");
        let Operation::UpdateIssue {
            number, changes, ..
        } = &p.ops[0].op
        else {
            panic!("{:?}", p.ops[0])
        };
        assert_eq!(*number, 1);
        let fields: Vec<&str> = changes
            .iter()
            .map(|c| match c {
                Change::Title { .. } => "title",
                Change::Body { .. } => "body",
                Change::State { .. } => "state",
                Change::Labels { .. } => "labels",
                Change::Assignees { .. } => "assignees",
                Change::Milestone { .. } => "milestone",
            })
            .collect();
        assert_eq!(
            fields,
            ["title", "body", "state", "labels", "assignees", "milestone"]
        );
        assert!(matches!(
            &changes[2],
            Change::State {
                to: State::Open,
                to_reason: None,
                ..
            }
        ));
    }

    #[test]
    fn deleted_definitions_come_first_and_are_matched_by_name_when_recreated() {
        let target = base().build();
        let mut live = target.clone();
        live.labels.remove(&1);
        live.milestones.remove(&1);
        for i in live.issues.values_mut() {
            i.labels.retain(|l| l != "bug");
            i.milestone = None;
        }
        let p = plan(&target, &live, &opts(), "snap");
        let kinds: Vec<&str> = p
            .ops
            .iter()
            .map(|o| match &o.op {
                Operation::CreateLabel { .. } => "label",
                Operation::CreateMilestone { .. } => "milestone",
                Operation::UpdateIssue { .. } => "issue",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, ["label", "milestone", "issue"]);
        assert!(p.irrecoverable.iter().any(|i| i.key == "milestone:1"));

        // After recreation the label has a new id and the milestone a new number: both are
        // still recognised, so a second plan is empty.
        let mut restored = target.clone();
        let mut bug = restored.labels.remove(&1).unwrap();
        bug.id = 99;
        restored.labels.insert(99, bug);
        let mut v1 = restored.milestones.remove(&1).unwrap();
        v1.number = 7;
        restored.milestones.insert(7, v1);
        restored.issues.get_mut(&1).unwrap().milestone = milestone_ref(7, "v1.0");
        assert!(plan(&target, &restored, &opts(), "snap").ops.is_empty());
    }

    #[test]
    fn label_renames_and_recolours_are_restored_in_place() {
        let target = base().build();
        let mut live = target.clone();
        let l = live.labels.get_mut(&1).unwrap();
        l.name = "defect".into();
        l.color = "000000".into();
        for i in live.issues.values_mut() {
            for name in i.labels.iter_mut().filter(|n| *n == "bug") {
                *name = "defect".into();
            }
        }
        let p = plan(&target, &live, &opts(), "snap");
        assert!(
            matches!(&p.ops[0].op, Operation::UpdateLabel { current_name, name, .. } if current_name == "defect" && name == "bug")
        );
    }

    #[test]
    fn deleted_comments_are_recreated_once_with_attribution_and_marker() {
        let target = base().build();
        let mut live = target.clone();
        live.comments.remove(&10);
        live.comments.get_mut(&11).unwrap().body = "edited".into();
        let p = plan(&target, &live, &opts(), "before-sync");
        assert!(matches!(
            &p.ops[0].op,
            Operation::EditComment { id: 11, .. }
        ));
        let Operation::RecreateComment {
            body,
            original_id,
            issue,
        } = &p.ops[1].op
        else {
            panic!("{p:?}")
        };
        assert_eq!((*original_id, *issue), (10, 1));
        assert!(body.contains("@bob") && body.contains("I can reproduce"));
        assert!(body.contains("before-sync"));
        assert_eq!(restored_from(body), Some(10));
        assert!(p.irrecoverable.iter().any(|i| i.key == "comment:10"));

        // The recreated copy counts as the original: no second recreation.
        let mut after = live.clone();
        after.comments.get_mut(&11).unwrap().body = "Fixed in #3".into();
        let mut copy = target.comments[&10].clone();
        copy.id = 500;
        copy.body = body.clone();
        after.comments.insert(500, copy);
        let again = plan(&target, &after, &opts(), "before-sync");
        assert!(again.ops.is_empty(), "{again:?}");
    }

    #[test]
    fn deleted_issues_and_locks_are_irrecoverable_not_planned() {
        let target = base().build();
        let mut live = target.clone();
        live.issues.remove(&2);
        live.issues.get_mut(&1).unwrap().locked = true;
        let p = plan(&target, &live, &opts(), "snap");
        assert!(p.ops.is_empty(), "{p:?}");
        let keys: Vec<&str> = p.irrecoverable.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["issue:1", "issue:2"]);
    }

    #[test]
    fn new_issues_and_comments_are_left_alone_unless_asked() {
        let target = base().build();
        let mut b = Builder::new();
        b.set = target.clone();
        b.issue(3, "Created later").created_at = at(6);
        b.comment(12, 1, "eve", "spam").created_at = at(6);
        // The Action's sticky diff comment, posted after the snapshot: never deleted.
        b.comment(
            13,
            1,
            "bot",
            "<!-- backtrack:diff github:acme/widgets -->\nreport",
        )
        .created_at = at(6);
        let live = b.build();
        assert!(plan(&target, &live, &opts(), "snap").ops.is_empty());
        let mut o = opts();
        o.close_new_issues = true;
        o.delete_new_comments = true;
        let p = plan(&target, &live, &o, "snap");
        let ops: Vec<&Operation> = p.ops.iter().map(|o| &o.op).collect();
        assert!(
            matches!(
                ops[..],
                [
                    Operation::DeleteComment { id: 12, .. },
                    Operation::CloseIssue { number: 3, .. }
                ]
            ),
            "{ops:?}"
        );
    }

    #[test]
    fn only_and_fields_narrow_the_plan() {
        let target = base().build();
        let mut live = target.clone();
        for n in [1, 2] {
            let i = live.issues.get_mut(&n).unwrap();
            i.title = "x".into();
            i.body = Some("y".into());
        }
        let mut o = opts();
        o.only = Some([1].into());
        o.fields = Some([Field::Title].into());
        let p = plan(&target, &live, &o, "snap");
        assert_eq!(p.ops.len(), 1);
        assert!(
            matches!(&p.ops[0].op, Operation::UpdateIssue { number: 1, changes, .. } if changes.len() == 1)
        );
    }

    #[test]
    fn merged_pull_requests_cannot_be_reopened() {
        let target = base().build();
        let mut live = target.clone();
        let i = live.issues.get_mut(&1).unwrap();
        i.pull_request = true;
        i.state = State::Closed;
        i.raw = serde_json::json!({"pull_request": {"merged_at": "2025-01-01T00:00:00Z"}});
        let p = plan(&target, &live, &opts(), "snap");
        assert!(p.ops.is_empty(), "{p:?}");
        assert!(p.irrecoverable[0].reason.contains("merged"));
    }

    #[test]
    fn field_names_parse_with_a_helpful_error() {
        assert_eq!("Description".parse::<Field>(), Ok(Field::Body));
        let e = "colour".parse::<Field>().unwrap_err();
        assert!(e.contains("title, body, state"), "{e}");
    }
}
