//! Restore into another scope (`restore REF --into SCOPE`): copy a snapshot's labels,
//! milestones, issues, comments, states and sub-issue links into another repository of the
//! same tracker kind.
//!
//! It is a rollback whose live side is the destination, planned by [`plan_github`] instead
//! of the in-place planner and run by the same engine (pre-rollback snapshot of the
//! destination, sealed plan, journal, lock, verification by planning again). The planner is
//! a pure function of (snapshot, destination), which is what makes it resumable and
//! re-runnable: every copy carries a hidden marker naming its original
//! ([`migrated_marker`]), so the destination itself says what was copied already. A copy
//! that exists is compared with what it should be and corrected in place; one that does not
//! is created. A finished restore therefore plans zero operations, and running the command
//! again creates nothing twice.
//!
//! Definitions are reused by name: a destination label or milestone of the same name is
//! the one the copies use, never a duplicate. What a copy cannot carry (numbers, authors,
//! dates, reactions, assignees…) is listed in the plan before anything is written.

use std::collections::{BTreeMap, BTreeSet, HashMap};

pub(crate) mod jira;

use super::options::OptionError;
use super::plan::{Irrecoverable, Planned};
use crate::record::{Comment, Issue, RecordSet, State};
use crate::scope::{Scope, TrackerKind};
use crate::tracker::operation::{migrated_from, migrated_marker, Change, Operation};

/// Checks that `into` can receive a restore of a snapshot of `source`.
pub(crate) fn check_destination(source: &Scope, into: &Scope) -> Result<(), OptionError> {
    let refuse = |message: String| {
        Err(OptionError {
            field: "into",
            message,
        })
    };
    if source.tracker() != into.tracker() {
        let example = match source.tracker() {
            TrackerKind::GitHub => "github:OWNER/REPO",
            TrackerKind::Jira => "jira:PROJECT",
        };
        return refuse(format!(
            "{into} is a {} scope but the snapshot is of {source}, a {} scope; a snapshot can only be restored into a scope of the same tracker kind (their issues, fields and workflows do not map onto each other). Name a {} scope (--into {example}), or leave out --into to restore in place",
            kind(into),
            kind(source),
            kind(source),
        ));
    }
    if source == into {
        return refuse(format!(
            "{into} is the snapshot's own scope; to put it back in place, leave out --into"
        ));
    }
    if matches!(into, Scope::JiraEpic { .. }) {
        return refuse(format!(
            "{into} is an epic; restore into a whole project (jira:PROJECT)"
        ));
    }
    Ok(())
}

fn kind(scope: &Scope) -> &'static str {
    match scope.tracker() {
        TrackerKind::GitHub => "GitHub",
        TrackerKind::Jira => "Jira",
    }
}

/// What an issue copied from `source`'s issue `number` is marked with.
pub fn issue_origin(source: &Scope, number: u64) -> String {
    format!("{source}#{number}")
}

/// What a comment copied from `source`'s comment `id` (on issue `issue`) is marked with.
pub fn comment_origin(source: &Scope, issue: u64, id: u64) -> String {
    format!("{source}#{issue}/comment/{id}")
}

fn when(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Attribution, original text, marker: the first line says where the copy came from (its
/// author and dates cannot be written through the API), the marker ends it.
fn with_attribution(attribution: String, text: &str, origin: &str) -> String {
    let mut body = attribution;
    if !text.is_empty() {
        body.push_str("\n\n");
        body.push_str(text);
    }
    body.push_str("\n\n");
    body.push_str(&migrated_marker(origin));
    body
}

/// The body of an issue's copy.
pub fn copied_issue_body(issue: &Issue, source: &Scope, snapshot: &str) -> String {
    let mut attribution = format!(
        "> _Migrated by backtrack from {} (snapshot `{snapshot}`). Opened by @{} on {}; last updated {}",
        issue_origin(source, issue.number),
        issue.author.as_deref().unwrap_or("ghost"),
        when(&issue.created_at),
        when(&issue.updated_at),
    );
    if let Some(closed) = &issue.closed_at {
        attribution.push_str(&format!("; closed {}", when(closed)));
    }
    attribution.push_str("._");
    with_attribution(
        attribution,
        issue.body.as_deref().unwrap_or(""),
        &issue_origin(source, issue.number),
    )
}

/// The body of a comment's copy.
pub fn copied_comment_body(comment: &Comment, source: &Scope) -> String {
    let origin = comment_origin(source, comment.issue_number, comment.id);
    with_attribution(
        format!(
            "> _Migrated by backtrack from {} (comment {}). Written by @{} on {}._",
            issue_origin(source, comment.issue_number),
            comment.id,
            comment.author.as_deref().unwrap_or("ghost"),
            when(&comment.created_at),
        ),
        &comment.body,
        &origin,
    )
}

fn loss(
    key: impl Into<String>,
    what: impl Into<String>,
    reason: impl Into<String>,
) -> Irrecoverable {
    Irrecoverable {
        key: key.into(),
        what: what.into(),
        reason: reason.into(),
    }
}

/// What the preview says when the destination already holds `others` items (`what`) of its
/// own: a copy adds beside them, whatever the tracker.
fn others_note(others: usize, what: &str) -> Option<String> {
    (others > 0).then(|| {
        format!(
            "the destination already holds {others} {what} of its own; the copies are added beside them and none of them is changed"
        )
    })
}

fn label_set(names: &[String]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_lowercase()).collect()
}

/// The plan that copies `source` (a snapshot of `from`) into the GitHub repository whose
/// current state is `live`. `snapshot` names the snapshot in the attribution lines.
pub(crate) fn plan_github(
    source: &RecordSet,
    from: &Scope,
    live: &RecordSet,
    snapshot: &str,
) -> Planned {
    let mut out = Planned::default();
    let mut losses = Vec::new();

    // Definitions, by name: reused where the destination has one, created where not.
    let live_labels: HashMap<String, &crate::record::Label> = live
        .labels
        .values()
        .map(|l| (l.name.to_lowercase(), l))
        .collect();
    let mut labels: Vec<_> = source.labels.values().collect();
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    for label in labels {
        match live_labels.get(&label.name.to_lowercase()) {
            None => out.push(Operation::CreateLabel {
                name: label.name.clone(),
                color: label.color.clone(),
                description: label.description.clone(),
            }),
            Some(existing)
                if !existing.color.eq_ignore_ascii_case(&label.color)
                    || existing.description.as_deref().unwrap_or("")
                        != label.description.as_deref().unwrap_or("") =>
            {
                losses.push(loss(
                    format!("label:{}", label.id),
                    format!("label {:?}", label.name),
                    "the destination has a label of this name with another colour or description; it is reused as it is",
                ));
            }
            Some(_) => {}
        }
    }
    let live_milestones: HashMap<&str, &crate::record::Milestone> = live
        .milestones
        .values()
        .map(|m| (m.title.as_str(), m))
        .collect();
    for m in source.milestones.values() {
        match live_milestones.get(m.title.as_str()) {
            None => out.push(Operation::CreateMilestone {
                title: m.title.clone(),
                state: m.state,
                description: m.description.clone(),
                due_on: m.due_on,
            }),
            Some(existing)
                if existing.state != m.state
                    || existing.description.as_deref().unwrap_or("")
                        != m.description.as_deref().unwrap_or("")
                    || existing.due_on.map(|d| d.date_naive())
                        != m.due_on.map(|d| d.date_naive()) =>
            {
                losses.push(loss(
                    format!("milestone:{}", m.number),
                    format!("milestone {:?}", m.title),
                    "the destination has a milestone of this title with another state, description or due date; it is reused as it is",
                ));
            }
            Some(_) => {}
        }
    }

    // What the destination already holds: copies (by marker) and everything else.
    let copies: HashMap<&str, &Issue> = live
        .issues
        .values()
        .filter_map(|i| migrated_from(i.body.as_deref()?).map(|o| (o, i)))
        .collect();
    let copied_comments: HashMap<&str, &Comment> = live
        .comments
        .values()
        .filter_map(|c| migrated_from(&c.body).map(|o| (o, c)))
        .collect();
    let others = live.issues.len() - copies.len();
    if let Some(note) = others_note(others, "issue(s) or pull request(s)") {
        out.notes.push(note);
    }

    let mut comments_of: BTreeMap<u64, Vec<&Comment>> = BTreeMap::new();
    for c in source.comments.values() {
        comments_of.entry(c.issue_number).or_default().push(c);
    }
    for list in comments_of.values_mut() {
        list.sort_by_key(|c| (c.created_at, c.id));
    }

    let issues: Vec<&Issue> = source.issues.values().filter(|i| !i.pull_request).collect();
    let (mut creates, mut updates, mut comments, mut closes, mut links) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for pr in source.issues.values().filter(|i| i.pull_request) {
        losses.push(loss(
            format!("issue:{}", pr.number),
            format!("pull request #{} {:?}", pr.number, pr.title),
            format!(
                "a pull request cannot be recreated (its branches and commits are not in the snapshot); it and its {} comment(s) are not copied",
                comments_of.get(&pr.number).map_or(0, Vec::len)
            ),
        ));
    }
    let copyable: BTreeSet<u64> = issues.iter().map(|i| i.number).collect();
    for issue in &issues {
        let origin = issue_origin(from, issue.number);
        let body = copied_issue_body(issue, from, snapshot);
        let milestone = issue.milestone.as_ref().map(|m| m.title.clone());
        let reason = match issue.state {
            State::Closed => issue.state_reason.clone(),
            State::Open => None,
        };
        match copies.get(origin.as_str()) {
            None => {
                creates.push(Operation::CopyIssue {
                    origin: origin.clone(),
                    source: issue.number,
                    title: issue.title.clone(),
                    body,
                    labels: issue.labels.clone(),
                    milestone,
                });
                if issue.state == State::Closed {
                    closes.push(Operation::CloseCopy {
                        issue_origin: origin.clone(),
                        source: issue.number,
                        title: issue.title.clone(),
                        state_reason: reason,
                    });
                }
            }
            Some(copy) => {
                let mut changes = Vec::new();
                if copy.title != issue.title {
                    changes.push(Change::Title {
                        from: copy.title.clone(),
                        to: issue.title.clone(),
                    });
                }
                if copy.body.as_deref() != Some(body.as_str()) {
                    changes.push(Change::Body {
                        from: copy.body.clone(),
                        to: Some(body),
                    });
                }
                if label_set(&copy.labels) != label_set(&issue.labels) {
                    changes.push(Change::Labels {
                        from: copy.labels.clone(),
                        to: issue.labels.clone(),
                    });
                }
                let live_milestone = copy.milestone.as_ref().map(|m| m.title.clone());
                if live_milestone != milestone {
                    changes.push(Change::Milestone {
                        from: live_milestone,
                        to: milestone,
                    });
                }
                let reason_differs =
                    issue.state == State::Closed && reason.is_some() && copy.state_reason != reason;
                if copy.state != issue.state || reason_differs {
                    changes.push(Change::State {
                        from: copy.state,
                        from_reason: copy.state_reason.clone(),
                        to: issue.state,
                        to_reason: reason,
                    });
                }
                if !changes.is_empty() {
                    updates.push(Operation::UpdateIssue {
                        number: copy.number,
                        title: issue.title.clone(),
                        changes,
                    });
                }
            }
        }
        for c in comments_of.get(&issue.number).into_iter().flatten() {
            let c_origin = comment_origin(from, issue.number, c.id);
            let body = copied_comment_body(c, from);
            match (
                copied_comments.get(c_origin.as_str()),
                copies.get(origin.as_str()),
            ) {
                (Some(copy), Some(issue_copy)) if copy.issue_number == issue_copy.number => {
                    if copy.body != body {
                        comments.push(Operation::EditComment {
                            id: copy.id,
                            issue: copy.issue_number,
                            from: copy.body.clone(),
                            to: body,
                        });
                    }
                }
                _ => comments.push(Operation::CopyComment {
                    issue_origin: origin.clone(),
                    source_issue: issue.number,
                    origin: c_origin,
                    body,
                }),
            }
        }
        if let Some(parent) = issue.model.parent.filter(|p| copyable.contains(p)) {
            let parent_origin = issue_origin(from, parent);
            let linked = match (
                copies.get(origin.as_str()),
                copies.get(parent_origin.as_str()),
            ) {
                (Some(child), Some(p)) => child.model.parent == Some(p.number),
                _ => false,
            };
            if !linked {
                links.push(Operation::LinkCopies {
                    parent_origin,
                    child_origin: origin.clone(),
                    parent,
                    child: issue.number,
                });
            }
        } else if let Some(parent) = issue.model.parent {
            losses.push(loss(
                format!("issue:{}", issue.number),
                format!("#{} {:?}: parent #{parent}", issue.number, issue.title),
                "the parent is not an issue of the snapshot, so the copy has no parent",
            ));
        }
        issue_losses(issue, &mut losses);
    }
    // Issues first, in the original order, so the copies are numbered in that order; then
    // what refers to them.
    for op in creates
        .into_iter()
        .chain(updates)
        .chain(comments)
        .chain(closes)
        .chain(links)
    {
        out.push(op);
    }

    if !issues.is_empty() {
        let n = issues.len();
        let c: usize = issues
            .iter()
            .map(|i| comments_of.get(&i.number).map_or(0, Vec::len))
            .sum();
        losses.insert(
            0,
            loss(
                "numbers",
                format!("the numbers of {n} issue(s)"),
                "copies get the destination's next free numbers; the old → new mapping is printed after execution, and each copy names its original",
            ),
        );
        losses.insert(
            1,
            loss(
                "authors",
                format!("the authors of {n} issue(s) and {c} comment(s)"),
                "every copy is written by the token's user; the original author is named in its attribution line",
            ),
        );
        losses.insert(
            2,
            loss(
                "dates",
                "creation, update and close dates",
                "copies are dated when they are written; the original dates are in the attribution lines",
            ),
        );
    }
    out.irrecoverable.extend(losses);
    out
}

/// What one issue's copy loses besides numbers, authors and dates.
fn issue_losses(issue: &Issue, losses: &mut Vec<Irrecoverable>) {
    let key = format!("issue:{}", issue.number);
    let what = |w: &str| format!("#{} {}", issue.number, w);
    if !issue.assignees.is_empty() {
        losses.push(loss(
            key.clone(),
            what(&format!("assignees {}", issue.assignees.join(", "))),
            "assignees are not copied (they may have no access to the destination)",
        ));
    }
    let reactions: u64 = issue.model.reactions.values().sum();
    if reactions > 0 {
        losses.push(loss(
            key.clone(),
            what(&format!("{reactions} reaction(s)")),
            "reactions belong to the people who gave them and cannot be written for them",
        ));
    }
    if issue.locked {
        losses.push(loss(
            key.clone(),
            what("locked conversation"),
            "the copy is not locked",
        ));
    }
    if let Some(t) = &issue.model.issue_type {
        losses.push(loss(
            key.clone(),
            what(&format!("issue type {t}")),
            "issue types are the destination organisation's own; the copy has none",
        ));
    }
    if issue.model.pinned_comment.is_some() {
        losses.push(loss(
            key,
            what("pinned comment"),
            "the copied comment is not pinned",
        ));
    }
}

/// Old → new: the copies `live` holds of `from`'s issues, by original number.
pub fn mapping(from: &Scope, live: &RecordSet) -> BTreeMap<u64, u64> {
    let prefix = format!("{from}#");
    live.issues
        .values()
        .filter_map(|i| {
            let origin = migrated_from(i.body.as_deref()?)?;
            let n = origin.strip_prefix(&prefix)?.parse().ok()?;
            Some((n, i.number))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::testkit::{milestone_ref, names, Builder};

    fn from() -> Scope {
        "github:acme/widgets".parse().unwrap()
    }

    fn source() -> RecordSet {
        let mut b = Builder::new();
        b.label(1, "bug", "d73a4a");
        b.milestone(1, "v1.0");
        let i = b.issue(1, "Login crash");
        i.body = Some("Steps".into());
        i.labels = names(&["bug"]);
        i.milestone = milestone_ref(1, "v1.0");
        let i = b.issue(2, "Docs typo");
        i.state = State::Closed;
        i.state_reason = Some("completed".into());
        i.model.parent = Some(1);
        b.comment(10, 1, "amy", "first");
        b.build()
    }

    fn kinds(p: &Planned) -> Vec<&'static str> {
        p.ops
            .iter()
            .map(|o| match o.op {
                Operation::CreateLabel { .. } => "label",
                Operation::CreateMilestone { .. } => "milestone",
                Operation::CopyIssue { .. } => "issue",
                Operation::CopyComment { .. } => "comment",
                Operation::CloseCopy { .. } => "close",
                Operation::LinkCopies { .. } => "link",
                _ => "other",
            })
            .collect()
    }

    /// An empty destination gets everything, definitions first and closes after the copies.
    #[test]
    fn an_empty_destination_gets_every_record_in_order() {
        let p = plan_github(&source(), &from(), &RecordSet::default(), "s1");
        assert_eq!(
            kinds(&p),
            [
                "label",
                "milestone",
                "issue",
                "issue",
                "comment",
                "close",
                "link"
            ]
        );
        let Operation::CopyIssue { body, .. } = &p.ops[2].op else {
            panic!()
        };
        assert!(body.starts_with("> _Migrated by backtrack from github:acme/widgets#1 "));
        assert!(body.contains("\n\nSteps\n\n"));
        assert_eq!(migrated_from(body), Some("github:acme/widgets#1"));
        assert_eq!(p.irrecoverable[0].key, "numbers");
        assert!(p.notes.is_empty());
    }

    /// A destination holding the copies (as the restore left it) plans nothing: a re-run
    /// or a verification creates nothing twice. Its own issues are named, not touched.
    #[test]
    fn copies_already_made_are_not_made_again() {
        let src = source();
        let mut b = Builder::new();
        b.label(7, "BUG", "d73a4a");
        b.milestone(3, "v1.0");
        let own = b.issue(1, "their own");
        own.body = None;
        for (n, i) in [(2u64, &src.issues[&1]), (3, &src.issues[&2])] {
            let c = b.issue(n, &i.title);
            c.body = Some(copied_issue_body(i, &from(), "s1"));
            c.labels = i.labels.clone();
            c.milestone = i.milestone.as_ref().map(|m| crate::record::MilestoneRef {
                number: 3,
                title: m.title.clone(),
            });
            c.state = i.state;
            c.state_reason = i.state_reason.clone();
            // The copy of #2 is the sub-issue of the copy of #1, as the originals are.
            c.model.parent = (n == 3).then_some(2);
        }
        let c = b.comment(50, 2, "bot", "x");
        c.body = copied_comment_body(&src.comments[&10], &from());
        let live = b.build();
        let p = plan_github(&src, &from(), &live, "s1");
        assert!(p.ops.is_empty(), "{:#?}", p.ops);
        assert_eq!(p.notes.len(), 1);
        assert_eq!(mapping(&from(), &live), BTreeMap::from([(1, 2), (2, 3)]));
    }

    /// A copy someone edited since is put back in place, not copied again.
    #[test]
    fn an_edited_copy_is_corrected_in_place() {
        let src = source();
        let mut b = Builder::new();
        let c = b.issue(9, "changed");
        c.body = Some(copied_issue_body(&src.issues[&1], &from(), "s1"));
        let live = b.build();
        let p = plan_github(&src, &from(), &live, "s1");
        let update = p
            .ops
            .iter()
            .find_map(|o| match &o.op {
                Operation::UpdateIssue {
                    number, changes, ..
                } => Some((*number, changes.len())),
                _ => None,
            })
            .unwrap();
        assert_eq!(update, (9, 3), "title, labels and milestone");
        assert_eq!(
            p.ops
                .iter()
                .filter(|o| matches!(o.op, Operation::CopyIssue { .. }))
                .count(),
            1
        );
    }

    #[test]
    fn destinations_are_checked() {
        let gh: Scope = "github:acme/other".parse().unwrap();
        let jira: Scope = "jira:PROJ".parse().unwrap();
        assert!(check_destination(&from(), &gh).is_ok());
        let e = check_destination(&from(), &jira).unwrap_err();
        assert!(e.message.contains("same tracker kind"), "{e}");
        assert!(check_destination(&from(), &from()).is_err());
        let epic: Scope = "jira:PROJ-1".parse().unwrap();
        assert!(check_destination(&jira, &epic).is_err());
        assert!(check_destination(&jira, &"jira:OTHER".parse().unwrap()).is_ok());
        let e = check_destination(&jira, &gh).unwrap_err();
        assert!(e.message.contains("--into jira:PROJECT"), "{e}");
    }
}
