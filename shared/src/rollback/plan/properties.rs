//! The planner's properties over random histories, checked against an in-memory model of a
//! GitHub repository that writes the way GitHub does (label names unique regardless of case,
//! milestone titles unique, a renamed label renamed on every issue that carries it, a
//! deleted one taken off them, labels and milestones set on an issue by name and title).
//!
//! For a random target state and a random sequence of renames, deletions, re-creations and
//! edits of labels, milestones, issues and comments (and interrupted rollbacks, which leave
//! recreated comments and temporary names behind), the plan from the damaged state:
//! - applies without a refused write, and the result holds every restorable field of the
//!   target (checked field by field here, not by the planner itself), so a new plan is empty;
//! - is minimal: without any one of its operations, a write is refused or a field is wrong.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test, with its location.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::{plan, restored_body, restored_from, Planned};
use crate::diff::testkit::at;
use crate::record::{Comment, Issue, Label, Milestone, MilestoneRef, RecordSet, State};
use crate::rollback::live::Live;
use crate::rollback::target::Target;
use crate::rollback::{Change, Operation, RollbackOptions};

const SNAPSHOT: &str = "snap";
/// Names that collide when case is ignored ("bug"/"Bug"), and a temporary-looking one.
const LABEL_NAMES: [&str; 8] = [
    "bug",
    "Bug",
    "p1",
    "defect",
    "docs",
    "wontfix",
    "help wanted",
    "backtrack-tmp-3",
];
const MILESTONE_TITLES: [&str; 6] = ["v1", "v2", "V1", "later", "someday", "backtrack-tmp-2"];
const COLORS: [&str; 3] = ["d73a4a", "0075ca", "000000"];
const TEXTS: [&str; 4] = ["alpha", "beta", "gamma", ""];
const REASONS: [Option<&str>; 3] = [None, Some("completed"), Some("not_planned")];
const USERS: [&str; 3] = ["amy", "bob", "eve"];

/// An issue in the model: labels by id and milestone by number, as GitHub stores them.
#[derive(Debug, Clone)]
struct ModelIssue {
    issue: Issue,
    labels: BTreeSet<u64>,
    milestone: Option<u64>,
}

/// A repository that accepts and refuses writes the way GitHub does.
#[derive(Debug, Clone, Default)]
struct Model {
    labels: BTreeMap<u64, Label>,
    milestones: BTreeMap<u64, Milestone>,
    issues: BTreeMap<u64, ModelIssue>,
    comments: BTreeMap<u64, Comment>,
    next_id: u64,
    /// Days since the epoch of `at`, for creation times.
    day: i64,
}

type Refused = String;

impl Model {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn label_named(&self, name: &str) -> Option<u64> {
        let key = name.to_lowercase();
        self.labels
            .values()
            .find(|l| l.name.to_lowercase() == key)
            .map(|l| l.id)
    }

    fn milestone_titled(&self, title: &str) -> Option<u64> {
        self.milestones
            .values()
            .find(|m| m.title == title)
            .map(|m| m.number)
    }

    fn create_label(
        &mut self,
        name: &str,
        color: &str,
        description: Option<String>,
    ) -> Result<u64, Refused> {
        if self.label_named(name).is_some() {
            return Err(format!("label {name:?} already exists"));
        }
        let id = self.id();
        self.labels.insert(
            id,
            Label {
                id,
                name: name.into(),
                color: color.into(),
                description,
                raw: serde_json::Value::Null,
            },
        );
        Ok(id)
    }

    fn update_label(
        &mut self,
        current: &str,
        name: &str,
        color: &str,
        description: Option<String>,
    ) -> Result<(), Refused> {
        let id = self
            .label_named(current)
            .ok_or_else(|| format!("no label {current:?}"))?;
        if self.label_named(name).is_some_and(|other| other != id) {
            return Err(format!("label {name:?} already exists"));
        }
        let l = self.labels.get_mut(&id).unwrap();
        l.name = name.into();
        l.color = color.into();
        l.description = description;
        Ok(())
    }

    fn delete_label(&mut self, id: u64) {
        self.labels.remove(&id);
        for i in self.issues.values_mut() {
            i.labels.remove(&id);
        }
    }

    fn create_milestone(&mut self, m: Milestone) -> Result<u64, Refused> {
        if self.milestone_titled(&m.title).is_some() {
            return Err(format!("milestone {:?} already exists", m.title));
        }
        let number = self.id();
        self.milestones.insert(number, Milestone { number, ..m });
        Ok(number)
    }

    fn update_milestone(&mut self, m: Milestone) -> Result<(), Refused> {
        if !self.milestones.contains_key(&m.number) {
            return Err(format!("no milestone {}", m.number));
        }
        if self
            .milestone_titled(&m.title)
            .is_some_and(|other| other != m.number)
        {
            return Err(format!("milestone {:?} already exists", m.title));
        }
        self.milestones.insert(m.number, m);
        Ok(())
    }

    fn delete_milestone(&mut self, number: u64) {
        self.milestones.remove(&number);
        for i in self.issues.values_mut() {
            if i.milestone == Some(number) {
                i.milestone = None;
            }
        }
    }

    fn create_comment(&mut self, issue: u64, body: &str) -> Result<u64, Refused> {
        if !self.issues.contains_key(&issue) {
            return Err(format!("no issue {issue}"));
        }
        let id = self.id();
        self.comments.insert(
            id,
            Comment {
                id,
                issue_number: issue,
                body: body.into(),
                author: Some("backtrack".into()),
                created_at: at(self.day),
                updated_at: at(self.day),
                html_url: None,
                raw: serde_json::Value::Null,
            },
        );
        Ok(id)
    }

    fn issue_mut(&mut self, number: u64) -> Result<&mut ModelIssue, Refused> {
        self.issues
            .get_mut(&number)
            .ok_or_else(|| format!("no issue {number}"))
    }

    /// A rollback operation, as GitHub would take it.
    fn apply(&mut self, op: &Operation) -> Result<(), Refused> {
        match op {
            Operation::CreateLabel {
                name,
                color,
                description,
            } => self
                .create_label(name, color, description.clone())
                .map(drop),
            Operation::UpdateLabel {
                current_name,
                name,
                color,
                description,
            } => self.update_label(current_name, name, color, description.clone()),
            Operation::CreateMilestone {
                title,
                state,
                description,
                due_on,
            } => self
                .create_milestone(milestone(0, title, *state, description.clone(), *due_on))
                .map(drop),
            Operation::UpdateMilestone {
                number,
                title,
                state,
                description,
                due_on,
            } => self.update_milestone(milestone(
                *number,
                title,
                *state,
                description.clone(),
                *due_on,
            )),
            Operation::UpdateIssue {
                number, changes, ..
            } => {
                // Names and titles resolve against the repository as it is now.
                let mut labels = None;
                let mut ms = None;
                for c in changes {
                    match c {
                        Change::Labels { to, .. } => {
                            let ids = to
                                .iter()
                                .map(|n| {
                                    self.label_named(n).ok_or_else(|| format!("no label {n:?}"))
                                })
                                .collect::<Result<BTreeSet<u64>, _>>()?;
                            labels = Some(ids);
                        }
                        Change::Milestone { to, .. } => {
                            ms = Some(match to {
                                Some(t) => Some(
                                    self.milestone_titled(t)
                                        .ok_or_else(|| format!("no milestone {t:?}"))?,
                                ),
                                None => None,
                            });
                        }
                        _ => {}
                    }
                }
                let i = self.issue_mut(*number)?;
                for c in changes {
                    match c {
                        Change::Title { to, .. } => i.issue.title = to.clone(),
                        Change::Body { to, .. } => i.issue.body = to.clone(),
                        Change::State { to, to_reason, .. } => {
                            i.issue.state = *to;
                            i.issue.state_reason = match to {
                                State::Open => None,
                                State::Closed => {
                                    Some(to_reason.clone().unwrap_or_else(|| "completed".into()))
                                }
                            };
                        }
                        Change::Assignees { to, .. } => i.issue.assignees = to.clone(),
                        Change::Labels { .. }
                        | Change::Milestone { .. }
                        | Change::IssueType { .. } => {}
                    }
                }
                if let Some(l) = labels {
                    i.labels = l;
                }
                if let Some(m) = ms {
                    i.milestone = m;
                }
                Ok(())
            }
            Operation::EditComment { id, to, .. } => {
                let c = self
                    .comments
                    .get_mut(id)
                    .ok_or_else(|| format!("no comment {id}"))?;
                c.body = to.clone();
                Ok(())
            }
            Operation::RecreateComment { issue, body, .. } => {
                self.create_comment(*issue, body).map(drop)
            }
            Operation::CloseIssue { number, .. } => {
                let i = self.issue_mut(*number)?;
                i.issue.state = State::Closed;
                i.issue.state_reason = Some("not_planned".into());
                Ok(())
            }
            Operation::SetLock { number, locked, .. } => {
                self.issue_mut(*number)?.issue.locked = *locked;
                Ok(())
            }
            Operation::DeleteComment { id, .. } => self
                .comments
                .remove(id)
                .map(drop)
                .ok_or_else(|| format!("no comment {id}")),
            other => Err(format!(
                "a GitHub planner planned a Jira operation: {other:?}"
            )),
        }
    }

    /// What a capture of the repository would hold.
    fn records(&self) -> RecordSet {
        let mut set = RecordSet {
            labels: self.labels.clone(),
            milestones: self.milestones.clone(),
            comments: self.comments.clone(),
            ..RecordSet::default()
        };
        for (n, i) in &self.issues {
            let mut issue = i.issue.clone();
            issue.labels = i
                .labels
                .iter()
                .map(|id| self.labels[id].name.clone())
                .collect();
            issue.labels.sort();
            issue.milestone = i.milestone.map(|m| MilestoneRef {
                number: m,
                title: self.milestones[&m].title.clone(),
            });
            set.issues.insert(*n, issue);
        }
        set
    }
}

fn milestone(
    number: u64,
    title: &str,
    state: State,
    description: Option<String>,
    due_on: Option<chrono::DateTime<chrono::Utc>>,
) -> Milestone {
    Milestone {
        number,
        id: number,
        title: title.into(),
        state,
        description,
        due_on,
        created_at: None,
        updated_at: None,
        closed_at: None,
        raw: serde_json::Value::Null,
    }
}

fn new_issue(number: u64, title: &str, day: i64) -> Issue {
    Issue {
        number,
        id: number,
        title: title.into(),
        body: None,
        state: State::Open,
        state_reason: None,
        labels: Vec::new(),
        assignees: Vec::new(),
        milestone: None,
        author: Some("amy".into()),
        locked: false,
        pull_request: false,
        comments: 0,
        created_at: at(day),
        updated_at: at(day),
        closed_at: None,
        html_url: None,
        model: Default::default(),
        raw: serde_json::Value::Null,
    }
}

/// Picks the `n`th item of a collection modulo its size.
fn nth<K: Copy>(keys: impl IntoIterator<Item = K>, n: usize) -> Option<K> {
    let keys: Vec<K> = keys.into_iter().collect();
    (!keys.is_empty()).then(|| keys[n % keys.len()])
}

/// Picks a subset of `keys` by the bits of `mask`.
fn subset(keys: impl IntoIterator<Item = u64>, mask: u8) -> BTreeSet<u64> {
    keys.into_iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << (i % 8)) != 0)
        .map(|(_, k)| k)
        .collect()
}

/// One thing that happens to the repository after the snapshot (or before it, building it).
#[derive(Debug, Clone)]
enum Event {
    CreateLabel(usize, usize),
    RenameLabel(usize, usize),
    RecolorLabel(usize, usize, usize),
    DeleteLabel(usize),
    CreateMilestone(usize, bool),
    RetitleMilestone(usize, usize),
    EditMilestone(usize, bool, usize, i64),
    DeleteMilestone(usize),
    CreateIssue(usize, u8),
    EditIssue(usize, usize, usize),
    SetState(usize, bool, usize),
    SetLabels(usize, u8),
    SetAssignees(usize, u8),
    SetMilestone(usize, Option<usize>),
    DeleteIssue(usize),
    CreateComment(usize, usize),
    EditComment(usize, usize),
    DeleteComment(usize),
    /// A rollback to the target that stopped after this many of its operations.
    Interrupted(usize),
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (0..8usize, 0..3usize).prop_map(|(n, c)| Event::CreateLabel(n, c)),
        (0..8usize, 0..8usize).prop_map(|(i, n)| Event::RenameLabel(i, n)),
        (0..8usize, 0..3usize, 0..4usize).prop_map(|(i, c, d)| Event::RecolorLabel(i, c, d)),
        (0..8usize).prop_map(Event::DeleteLabel),
        (0..6usize, any::<bool>()).prop_map(|(t, o)| Event::CreateMilestone(t, o)),
        (0..8usize, 0..6usize).prop_map(|(i, t)| Event::RetitleMilestone(i, t)),
        (0..8usize, any::<bool>(), 0..4usize, 0..40i64)
            .prop_map(|(i, o, d, due)| Event::EditMilestone(i, o, d, due)),
        (0..8usize).prop_map(Event::DeleteMilestone),
        (0..4usize, any::<u8>()).prop_map(|(t, m)| Event::CreateIssue(t, m)),
        (0..8usize, 0..4usize, 0..4usize).prop_map(|(i, t, b)| Event::EditIssue(i, t, b)),
        (0..8usize, any::<bool>(), 0..3usize).prop_map(|(i, c, r)| Event::SetState(i, c, r)),
        (0..8usize, any::<u8>()).prop_map(|(i, m)| Event::SetLabels(i, m)),
        (0..8usize, any::<u8>()).prop_map(|(i, m)| Event::SetAssignees(i, m)),
        (0..8usize, proptest::option::of(0..8usize)).prop_map(|(i, m)| Event::SetMilestone(i, m)),
        (0..8usize).prop_map(Event::DeleteIssue),
        (0..8usize, 0..4usize).prop_map(|(i, b)| Event::CreateComment(i, b)),
        (0..12usize, 0..4usize).prop_map(|(i, b)| Event::EditComment(i, b)),
        (0..12usize).prop_map(Event::DeleteComment),
        (0..40usize).prop_map(Event::Interrupted),
    ]
}

impl Model {
    /// Lets `event` happen; an event GitHub would refuse (a name taken) changes nothing.
    fn happen(&mut self, event: &Event, target: Option<&(RecordSet, RollbackOptions)>) {
        let _ = self.try_happen(event, target);
    }

    fn try_happen(
        &mut self,
        event: &Event,
        target: Option<&(RecordSet, RollbackOptions)>,
    ) -> Result<(), Refused> {
        let label = |m: &Model, i: usize| nth(m.labels.keys().copied(), i).ok_or("no labels");
        let ms = |m: &Model, i: usize| nth(m.milestones.keys().copied(), i).ok_or("no milestones");
        let issue = |m: &Model, i: usize| nth(m.issues.keys().copied(), i).ok_or("no issues");
        match *event {
            Event::CreateLabel(n, c) => {
                self.create_label(LABEL_NAMES[n], COLORS[c], None)?;
            }
            Event::RenameLabel(i, n) => {
                let id = label(self, i)?;
                let l = self.labels[&id].clone();
                self.update_label(&l.name, LABEL_NAMES[n], &l.color, l.description)?;
            }
            Event::RecolorLabel(i, c, d) => {
                let id = label(self, i)?;
                let l = self.labels[&id].clone();
                let d = (!TEXTS[d].is_empty()).then(|| TEXTS[d].to_string());
                self.update_label(&l.name, &l.name, COLORS[c], d)?;
            }
            Event::DeleteLabel(i) => {
                let id = label(self, i)?;
                self.delete_label(id);
            }
            Event::CreateMilestone(t, open) => {
                let state = if open { State::Open } else { State::Closed };
                self.create_milestone(milestone(0, MILESTONE_TITLES[t], state, None, None))?;
            }
            Event::RetitleMilestone(i, t) => {
                let n = ms(self, i)?;
                let mut m = self.milestones[&n].clone();
                m.title = MILESTONE_TITLES[t].into();
                self.update_milestone(m)?;
            }
            Event::EditMilestone(i, open, d, due) => {
                let n = ms(self, i)?;
                let mut m = self.milestones[&n].clone();
                m.state = if open { State::Open } else { State::Closed };
                m.description = (!TEXTS[d].is_empty()).then(|| TEXTS[d].to_string());
                m.due_on = (due > 0).then(|| at(due));
                self.update_milestone(m)?;
            }
            Event::DeleteMilestone(i) => {
                let n = ms(self, i)?;
                self.delete_milestone(n);
            }
            Event::CreateIssue(t, mask) => {
                let number = self.issues.keys().next_back().map_or(1, |n| n + 1);
                let labels = subset(self.labels.keys().copied(), mask);
                let issue = new_issue(number, TEXTS[t], self.day);
                self.issues.insert(
                    number,
                    ModelIssue {
                        issue,
                        labels,
                        milestone: None,
                    },
                );
            }
            Event::EditIssue(i, t, b) => {
                let n = issue(self, i)?;
                let it = &mut self.issue_mut(n)?.issue;
                it.title = format!("title {}", TEXTS[t]);
                it.body = (!TEXTS[b].is_empty()).then(|| TEXTS[b].to_string());
            }
            Event::SetState(i, closed, r) => {
                let n = issue(self, i)?;
                let it = &mut self.issue_mut(n)?.issue;
                it.state = if closed { State::Closed } else { State::Open };
                it.state_reason = if closed {
                    REASONS[r].map(str::to_string)
                } else {
                    None
                };
            }
            Event::SetLabels(i, mask) => {
                let n = issue(self, i)?;
                let labels = subset(self.labels.keys().copied(), mask);
                self.issue_mut(n)?.labels = labels;
            }
            Event::SetAssignees(i, mask) => {
                let n = issue(self, i)?;
                let mut who: Vec<String> = USERS
                    .iter()
                    .enumerate()
                    .filter(|(k, _)| mask & (1 << k) != 0)
                    .map(|(_, u)| u.to_string())
                    .collect();
                who.sort();
                self.issue_mut(n)?.issue.assignees = who;
            }
            Event::SetMilestone(i, m) => {
                let n = issue(self, i)?;
                let m = match m {
                    Some(k) => Some(ms(self, k)?),
                    None => None,
                };
                self.issue_mut(n)?.milestone = m;
            }
            Event::DeleteIssue(i) => {
                let n = issue(self, i)?;
                self.issues.remove(&n);
                self.comments.retain(|_, c| c.issue_number != n);
            }
            Event::CreateComment(i, b) => {
                let n = issue(self, i)?;
                self.create_comment(n, &format!("comment {}", TEXTS[b]))?;
            }
            Event::EditComment(i, b) => {
                let id = nth(self.comments.keys().copied(), i).ok_or("no comments")?;
                self.comments.get_mut(&id).unwrap().body = format!("edited {}", TEXTS[b]);
            }
            Event::DeleteComment(i) => {
                let id = nth(self.comments.keys().copied(), i).ok_or("no comments")?;
                self.comments.remove(&id);
            }
            Event::Interrupted(k) => {
                let (target, opts) = target.ok_or("no target yet")?;
                let p = plan(target, &self.records(), opts, SNAPSHOT);
                for op in p.ops.iter().take(k % (p.ops.len() + 1)) {
                    self.apply(&op.op)?;
                }
            }
        }
        Ok(())
    }
}

fn body_eq(a: &Option<String>, b: &Option<String>) -> bool {
    a.as_deref().unwrap_or("") == b.as_deref().unwrap_or("")
}

/// Whether `after` holds every restorable field of `target` (and the clean-ups asked for),
/// field by field.
fn restores(target: &RecordSet, after: &RecordSet, opts: &RollbackOptions) -> Result<(), String> {
    for t in target.labels.values() {
        if !after.labels.values().any(|l| {
            l.name == t.name
                && l.color.eq_ignore_ascii_case(&t.color)
                && body_eq(&l.description, &t.description)
        }) {
            return Err(format!("label {:?} not restored", t.name));
        }
    }
    for t in target.milestones.values() {
        if !after.milestones.values().any(|m| {
            m.title == t.title
                && m.state == t.state
                && body_eq(&m.description, &t.description)
                && m.due_on.map(|d| d.date_naive()) == t.due_on.map(|d| d.date_naive())
        }) {
            return Err(format!("milestone {:?} not restored", t.title));
        }
    }
    for t in target.issues.values() {
        // A deleted issue cannot be restored (the plan names it instead).
        let Some(a) = after.issues.get(&t.number) else {
            continue;
        };
        let lower =
            |v: &[String]| -> BTreeSet<String> { v.iter().map(|s| s.to_lowercase()).collect() };
        let reason_ok = !(t.state == State::Closed && t.state_reason.is_some())
            || a.state_reason == t.state_reason;
        if a.title != t.title
            || !body_eq(&a.body, &t.body)
            || a.state != t.state
            || !reason_ok
            || lower(&a.labels) != lower(&t.labels)
            || a.assignees != t.assignees
            || a.milestone.as_ref().map(|m| &m.title) != t.milestone.as_ref().map(|m| &m.title)
        {
            return Err(format!("issue #{} not restored: {a:?} vs {t:?}", t.number));
        }
    }
    for t in target.comments.values() {
        if !after.issues.contains_key(&t.issue_number) {
            continue;
        }
        let ok = match after.comments.get(&t.id) {
            Some(c) => c.body == t.body,
            None => {
                let copies: Vec<&Comment> = after
                    .comments
                    .values()
                    .filter(|c| restored_from(&c.body) == Some(t.id))
                    .collect();
                copies.len() == 1
                    && copies[0].body == restored_body(t, SNAPSHOT)
                    && copies[0].issue_number == t.issue_number
            }
        };
        if !ok {
            return Err(format!("comment {} not restored", t.id));
        }
    }
    for a in after.issues.values() {
        if opts.close_new_issues
            && !target.issues.contains_key(&a.number)
            && a.created_at > opts.snapshot_time
            && a.state == State::Open
        {
            return Err(format!("new issue #{} left open", a.number));
        }
    }
    for a in after.comments.values() {
        let copy_of_target = restored_from(&a.body)
            .is_some_and(|o| target.comments.contains_key(&o) && !after.comments.contains_key(&o));
        if opts.delete_new_comments
            && !target.comments.contains_key(&a.id)
            && !copy_of_target
            && a.created_at > opts.snapshot_time
        {
            return Err(format!("new comment {} left", a.id));
        }
    }
    Ok(())
}

/// Applies `ops` to a copy of `live`, as far as GitHub lets them through.
fn applied(live: &Model, ops: impl IntoIterator<Item = Operation>) -> Result<Model, Refused> {
    let mut m = live.clone();
    for op in ops {
        m.apply(&op)?;
    }
    Ok(m)
}

/// A random snapshot-time repository and what happens to it afterwards.
#[derive(Debug, Clone)]
struct History {
    before: Vec<Event>,
    after: Vec<Event>,
    close_new_issues: bool,
    delete_new_comments: bool,
}

fn history() -> impl Strategy<Value = History> {
    // The repository is built from events too: a few labels, milestones and issues first.
    let seed = (
        proptest::collection::vec(
            (0..8usize, 0..3usize).prop_map(|(n, c)| Event::CreateLabel(n, c)),
            1..6,
        ),
        proptest::collection::vec(
            (0..6usize, any::<bool>()).prop_map(|(t, o)| Event::CreateMilestone(t, o)),
            0..4,
        ),
        proptest::collection::vec(
            (0..4usize, any::<u8>()).prop_map(|(t, m)| Event::CreateIssue(t, m)),
            1..6,
        ),
        proptest::collection::vec(event(), 0..16),
    )
        .prop_map(|(l, m, i, e)| [l, m, i, e].concat());
    (
        seed,
        proptest::collection::vec(event(), 1..24),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(before, after, close_new_issues, delete_new_comments)| History {
                before,
                after,
                close_new_issues,
                delete_new_comments,
            },
        )
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn plans_restore_the_target_exactly_and_minimally(h in history()) {
        let mut model = Model { day: 0, ..Model::default() };
        for e in &h.before {
            model.happen(e, None);
        }
        // Issues get a milestone and comments once there is something to refer to.
        let target = model.records();
        let mut opts = RollbackOptions::everything(at(5));
        opts.close_new_issues = h.close_new_issues;
        opts.delete_new_comments = h.delete_new_comments;
        let context = (target.clone(), opts.clone());

        let mut live = model.clone();
        live.day = 6;
        for e in &h.after {
            live.happen(e, Some(&context));
        }
        let whole = plan(&target, &live.records(), &opts, SNAPSHOT);
        // The live state held against the target (identical records as keys only) plans
        // exactly what the whole live state plans.
        // Its comments pending or not.
        for held_target in [
            Target::whole(target.clone()),
            Target::with_pending_comments(target.clone()),
        ] {
            let mut held = Live::new(Some(&held_target));
            for r in live.records().into_records() {
                held.take(r);
            }
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            runtime.block_on(held.read_target()).unwrap();
            let pruned = plan(held.target_view().unwrap(), held.view(), &opts, SNAPSHOT);
            prop_assert_eq!(format!("{whole:?}"), format!("{pruned:?}"));
        }
        let Planned { ops, .. } = whole;
        let ops: Vec<Operation> = ops.into_iter().map(|p| p.op).collect();

        let after = applied(&live, ops.clone());
        prop_assert!(after.is_ok(), "a write was refused: {:?}\nops: {ops:#?}", after.as_ref().err());
        let after = after.unwrap().records();
        let check = restores(&target, &after, &opts);
        prop_assert!(check.is_ok(), "{:?}\nops: {ops:#?}", check.err());
        let again = plan(&target, &after, &opts, SNAPSHOT);
        prop_assert!(again.ops.is_empty(), "not converged: {:#?}", again.ops);

        for skip in 0..ops.len() {
            let without = ops.iter().enumerate().filter(|(i, _)| *i != skip).map(|(_, o)| o.clone());
            let broken = match applied(&live, without) {
                Err(_) => true,
                Ok(m) => restores(&target, &m.records(), &opts).is_err(),
            };
            prop_assert!(broken, "operation {skip} is not needed: {:?}\nops: {ops:#?}", ops[skip]);
        }
    }
}
