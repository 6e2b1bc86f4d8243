//! Computing a [`Diff`]: matching records across the two sides and comparing their fields.
//!
//! Cost model: one pass over each side's issues and comments with map lookups, so the work is
//! proportional to the number of records, and line diffs run only for bodies that differ.
//! Unchanged records cost a handful of field comparisons and allocate nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{json, Value};

use super::{lines, Change, ChangeKind, Diff, DiffOptions, Field, IssueEntry, Op, Summary};
use crate::record::{Comment, Issue, Label, Milestone, RecordSet, State};

/// Compares two record sets field by field.
///
/// `from` is the earlier (or reference) side, `to` the later one: a record only in `to` is
/// `added`, one only in `from` is `removed`. The returned diff has blank [`Side`](super::Side)s;
/// set them with [`Diff::with_sides`].
pub fn diff(from: &RecordSet, to: &RecordSet, opts: &DiffOptions) -> Diff {
    let mut labels = label_defs(from, to);
    let mut milestones = milestone_defs(from, to);
    let mut issues: BTreeMap<u64, IssueAcc> = BTreeMap::new();

    let skip = |i: &Issue| !opts.include_prs && i.pull_request;
    for (number, a) in &from.issues {
        if skip(a) {
            continue;
        }
        match to.issues.get(number) {
            None => {
                let change =
                    issue_change(a, Field::Record, Op::Removed, issue_value(a), Value::Null);
                IssueAcc::get(&mut issues, a, Op::Removed)
                    .fields
                    .push(change);
            }
            Some(b) => {
                let fields = compare_issue(a, b, opts, &mut labels, &mut milestones);
                if !fields.is_empty() {
                    IssueAcc::get(&mut issues, b, Op::Changed).fields = fields;
                }
            }
        }
    }
    for (number, b) in &to.issues {
        if !skip(b) && !from.issues.contains_key(number) {
            let change = issue_change(b, Field::Record, Op::Added, Value::Null, issue_value(b));
            IssueAcc::get(&mut issues, b, Op::Added).fields.push(change);
        }
    }

    compare_comments(from, to, opts, &mut issues);
    assemble(labels, milestones, issues)
}

/// The changes of one issue while they are collected.
struct IssueAcc {
    entry: IssueEntry,
    fields: Vec<Change>,
    /// Keyed by comment id so they can be put in id order at the end (deletions and edits are
    /// found walking `from`, additions walking `to`).
    comments: Vec<(u64, Change)>,
}

impl IssueAcc {
    fn get<'a>(map: &'a mut BTreeMap<u64, IssueAcc>, issue: &Issue, op: Op) -> &'a mut IssueAcc {
        map.entry(issue.number).or_insert_with(|| IssueAcc {
            entry: IssueEntry {
                number: issue.number,
                title: issue.title.clone(),
                url: issue.html_url.clone(),
                pull_request: issue.pull_request,
                op,
            },
            fields: Vec::new(),
            comments: Vec::new(),
        })
    }
}

/// Definition changes of one kind (labels or milestones), with what issue changes fold into.
#[derive(Default)]
struct Defs {
    changes: Vec<Change>,
    /// Name (or title) on the `from` side of a removed definition → index of its removal.
    removed: HashMap<String, usize>,
    /// Old name → (new name, index of the rename change).
    renamed: HashMap<String, (String, usize)>,
}

impl Defs {
    fn push(&mut self, change: Change) -> usize {
        self.changes.push(change);
        self.changes.len() - 1
    }
}

fn def_change(
    kind: ChangeKind,
    key: &str,
    field: Field,
    op: Op,
    before: Value,
    after: Value,
) -> Change {
    Change {
        kind,
        key: key.to_string(),
        field,
        op,
        before,
        after,
        issue: None,
        issues: Vec::new(),
        hunks: Vec::new(),
        pull_request: false,
    }
}

/// Matches definitions by their tracker key, then the leftovers by case-insensitive name:
/// a label or milestone deleted and recreated gets a new id but is the same thing to people.
/// Returns (pairs, only in `from`, only in `to`), each in key order.
#[allow(clippy::type_complexity)]
fn pair<'a, T>(
    from: &'a BTreeMap<u64, T>,
    to: &'a BTreeMap<u64, T>,
    name: impl Fn(&T) -> &str,
) -> (Vec<(&'a T, &'a T)>, Vec<&'a T>, Vec<&'a T>) {
    let mut pairs = Vec::new();
    let mut unmatched = Vec::new();
    for (key, a) in from {
        match to.get(key) {
            Some(b) => pairs.push((a, b)),
            None => unmatched.push(a),
        }
    }
    let mut left: BTreeMap<u64, &T> = to
        .iter()
        .filter(|(key, _)| !from.contains_key(key))
        .map(|(key, b)| (*key, b))
        .collect();
    let mut by_name: HashMap<String, Vec<u64>> = HashMap::new();
    for (key, b) in &left {
        by_name
            .entry(name(b).to_lowercase())
            .or_default()
            .push(*key);
    }
    let mut removed = Vec::new();
    for a in unmatched {
        let found = by_name
            .get_mut(&name(a).to_lowercase())
            .and_then(|keys| (!keys.is_empty()).then(|| keys.remove(0)))
            .and_then(|key| left.remove(&key));
        match found {
            Some(b) => pairs.push((a, b)),
            None => removed.push(a),
        }
    }
    (pairs, removed, left.into_values().collect())
}

fn text_eq(a: Option<&str>, b: Option<&str>) -> bool {
    // GitHub reports a cleared text as either null or "": not a difference anyone made.
    a.unwrap_or("") == b.unwrap_or("")
}

fn opt_str(s: Option<&str>) -> Value {
    s.map_or(Value::Null, |s| Value::String(s.to_string()))
}

fn label_value(l: &Label) -> Value {
    json!({ "name": l.name, "color": l.color, "description": l.description })
}

fn label_defs(from: &RecordSet, to: &RecordSet) -> Defs {
    let (pairs, removed, added) = pair(&from.labels, &to.labels, |l: &Label| &l.name);
    let mut defs = Defs::default();
    let k = ChangeKind::Label;
    for (a, b) in pairs {
        if a.name != b.name {
            let at = defs.push(def_change(
                k,
                &a.name,
                Field::Name,
                Op::Changed,
                json!(a.name),
                json!(b.name),
            ));
            defs.renamed.insert(a.name.clone(), (b.name.clone(), at));
        }
        if !a.color.eq_ignore_ascii_case(&b.color) {
            defs.push(def_change(
                k,
                &a.name,
                Field::Color,
                Op::Changed,
                json!(a.color),
                json!(b.color),
            ));
        }
        if !text_eq(a.description.as_deref(), b.description.as_deref()) {
            let (before, after) = (
                opt_str(a.description.as_deref()),
                opt_str(b.description.as_deref()),
            );
            defs.push(def_change(
                k,
                &a.name,
                Field::Description,
                Op::Changed,
                before,
                after,
            ));
        }
    }
    for a in removed {
        let at = defs.push(def_change(
            k,
            &a.name,
            Field::Record,
            Op::Removed,
            label_value(a),
            Value::Null,
        ));
        defs.removed.insert(a.name.clone(), at);
    }
    for b in added {
        defs.push(def_change(
            k,
            &b.name,
            Field::Record,
            Op::Added,
            Value::Null,
            label_value(b),
        ));
    }
    defs
}

fn due_date(m: &Milestone) -> Value {
    // Compared as a date: GitHub stores due dates at a time of day that shifts with the
    // time zone of whoever set them, which is not a change anyone sees in the UI.
    m.due_on
        .map_or(Value::Null, |d| Value::String(d.date_naive().to_string()))
}

fn milestone_value(m: &Milestone) -> Value {
    json!({
        "number": m.number,
        "title": m.title,
        "state": m.state.as_str(),
        "description": m.description,
        "due_on": due_date(m),
    })
}

fn milestone_defs(from: &RecordSet, to: &RecordSet) -> Defs {
    let (pairs, removed, added) = pair(&from.milestones, &to.milestones, |m: &Milestone| &m.title);
    let mut defs = Defs::default();
    let k = ChangeKind::Milestone;
    for (a, b) in pairs {
        let key = a.title.as_str();
        if a.title != b.title {
            let at = defs.push(def_change(
                k,
                key,
                Field::Title,
                Op::Changed,
                json!(a.title),
                json!(b.title),
            ));
            defs.renamed.insert(a.title.clone(), (b.title.clone(), at));
        }
        if a.state != b.state {
            defs.push(def_change(
                k,
                key,
                Field::State,
                Op::Changed,
                json!(a.state.as_str()),
                json!(b.state.as_str()),
            ));
        }
        let (da, db) = (due_date(a), due_date(b));
        if da != db {
            defs.push(def_change(k, key, Field::DueOn, Op::Changed, da, db));
        }
        if !text_eq(a.description.as_deref(), b.description.as_deref()) {
            let (before, after) = (
                opt_str(a.description.as_deref()),
                opt_str(b.description.as_deref()),
            );
            defs.push(def_change(
                k,
                key,
                Field::Description,
                Op::Changed,
                before,
                after,
            ));
        }
    }
    for a in removed {
        let at = defs.push(def_change(
            k,
            &a.title,
            Field::Record,
            Op::Removed,
            milestone_value(a),
            Value::Null,
        ));
        defs.removed.insert(a.title.clone(), at);
    }
    for b in added {
        defs.push(def_change(
            k,
            &b.title,
            Field::Record,
            Op::Added,
            Value::Null,
            milestone_value(b),
        ));
    }
    defs
}

fn issue_change(issue: &Issue, field: Field, op: Op, before: Value, after: Value) -> Change {
    Change {
        kind: ChangeKind::Issue,
        key: issue.number.to_string(),
        field,
        op,
        before,
        after,
        issue: Some(issue.number),
        issues: Vec::new(),
        hunks: Vec::new(),
        pull_request: issue.pull_request,
    }
}

fn issue_value(i: &Issue) -> Value {
    json!({
        "number": i.number,
        "title": i.title,
        "state": i.state.as_str(),
        "state_reason": i.state_reason,
        "body": i.body,
        "labels": i.labels,
        "assignees": i.assignees,
        "milestone": i.milestone.as_ref().map(|m| &m.title),
        "locked": i.locked,
        "pull_request": i.pull_request,
        "author": i.author,
    })
}

/// The state reason as far as people can tell: GitHub marks a reopened issue `reopened`, but an
/// open issue with no reason looks and behaves the same, and rollback cannot set `reopened`.
fn effective_reason(i: &Issue) -> Option<&str> {
    match (i.state, i.state_reason.as_deref()) {
        (State::Open, Some("reopened")) => None,
        (_, reason) => reason,
    }
}

/// Elements only in `a` and only in `b`, by name, sorted.
fn set_diff<'a>(a: &'a [String], b: &'a [String]) -> (BTreeSet<&'a str>, BTreeSet<&'a str>) {
    let a: BTreeSet<&str> = a.iter().map(String::as_str).collect();
    let b: BTreeSet<&str> = b.iter().map(String::as_str).collect();
    let lost = a.difference(&b).copied().collect();
    let gained = b.difference(&a).copied().collect();
    (lost, gained)
}

fn compare_issue(
    a: &Issue,
    b: &Issue,
    opts: &DiffOptions,
    labels: &mut Defs,
    milestones: &mut Defs,
) -> Vec<Change> {
    let mut out = Vec::new();
    let n = a.number;
    if a.title != b.title {
        out.push(issue_change(
            b,
            Field::Title,
            Op::Changed,
            json!(a.title),
            json!(b.title),
        ));
    }
    if a.state != b.state {
        let (before, after) = (json!(a.state.as_str()), json!(b.state.as_str()));
        out.push(issue_change(b, Field::State, Op::Changed, before, after));
    }
    if effective_reason(a) != effective_reason(b) {
        let (before, after) = (
            opt_str(a.state_reason.as_deref()),
            opt_str(b.state_reason.as_deref()),
        );
        out.push(issue_change(
            b,
            Field::StateReason,
            Op::Changed,
            before,
            after,
        ));
    }
    let (body_a, body_b) = (a.body.as_deref(), b.body.as_deref());
    if !text_eq(body_a, body_b) {
        let mut change = issue_change(
            b,
            Field::Body,
            Op::Changed,
            opt_str(body_a),
            opt_str(body_b),
        );
        change.hunks = lines::hunks(
            body_a.unwrap_or(""),
            body_b.unwrap_or(""),
            opts.context_lines,
        );
        out.push(change);
    }
    if a.labels != b.labels {
        let (lost, mut gained) = set_diff(&a.labels, &b.labels);
        for name in lost {
            // A deleted label leaves every issue that had it, a renamed one changes name on
            // all of them: fold those into the definition change instead of repeating them.
            if let Some(&at) = labels.removed.get(name) {
                labels.changes[at].issues.push(n);
                continue;
            }
            if let Some((new, at)) = labels.renamed.get(name) {
                if gained.remove(new.as_str()) {
                    labels.changes[*at].issues.push(n);
                    continue;
                }
            }
            out.push(issue_change(
                b,
                Field::Labels,
                Op::Removed,
                json!(name),
                Value::Null,
            ));
        }
        for name in gained {
            out.push(issue_change(
                b,
                Field::Labels,
                Op::Added,
                Value::Null,
                json!(name),
            ));
        }
    }
    if a.assignees != b.assignees {
        let (lost, gained) = set_diff(&a.assignees, &b.assignees);
        for login in lost {
            out.push(issue_change(
                b,
                Field::Assignees,
                Op::Removed,
                json!(login),
                Value::Null,
            ));
        }
        for login in gained {
            out.push(issue_change(
                b,
                Field::Assignees,
                Op::Added,
                Value::Null,
                json!(login),
            ));
        }
    }
    let ma = a.milestone.as_ref().map(|m| m.title.as_str());
    let mb = b.milestone.as_ref().map(|m| m.title.as_str());
    if ma != mb {
        let folded = match (ma, mb) {
            (Some(old), None) => milestones.removed.get(old).copied(),
            (Some(old), Some(new)) => milestones
                .renamed
                .get(old)
                .filter(|(renamed_to, _)| renamed_to == new)
                .map(|(_, at)| *at),
            _ => None,
        };
        match folded {
            Some(at) => milestones.changes[at].issues.push(n),
            None => out.push(issue_change(
                b,
                Field::Milestone,
                Op::Changed,
                opt_str(ma),
                opt_str(mb),
            )),
        }
    }
    if a.locked != b.locked {
        out.push(issue_change(
            b,
            Field::Locked,
            Op::Changed,
            json!(a.locked),
            json!(b.locked),
        ));
    }
    out
}

fn comment_change(
    c: &Comment,
    field: Field,
    op: Op,
    before: Value,
    after: Value,
    pr: bool,
) -> Change {
    Change {
        kind: ChangeKind::Comment,
        key: c.id.to_string(),
        field,
        op,
        before,
        after,
        issue: Some(c.issue_number),
        issues: Vec::new(),
        hunks: Vec::new(),
        pull_request: pr,
    }
}

fn comment_value(c: &Comment) -> Value {
    json!({ "id": c.id, "issue": c.issue_number, "body": c.body, "author": c.author })
}

fn compare_comments(
    from: &RecordSet,
    to: &RecordSet,
    opts: &DiffOptions,
    issues: &mut BTreeMap<u64, IssueAcc>,
) {
    let issue_of = |n: u64| to.issues.get(&n).or_else(|| from.issues.get(&n));
    let is_pr = |n: u64| issue_of(n).is_some_and(|i| i.pull_request);
    let mut push = |c: &Comment, change: Change| {
        let n = c.issue_number;
        let acc = match issue_of(n) {
            Some(issue) => IssueAcc::get(issues, issue, Op::Changed),
            // A comment whose issue neither side holds (an incomplete capture): still report
            // it, under its issue number.
            None => issues.entry(n).or_insert_with(|| IssueAcc {
                entry: IssueEntry {
                    number: n,
                    title: String::new(),
                    url: None,
                    pull_request: false,
                    op: Op::Changed,
                },
                fields: Vec::new(),
                comments: Vec::new(),
            }),
        };
        acc.comments.push((c.id, change));
    };
    for (id, c) in &from.comments {
        let pr = is_pr(c.issue_number);
        if pr && !opts.include_prs {
            continue;
        }
        match to.comments.get(id) {
            None => push(
                c,
                comment_change(
                    c,
                    Field::Record,
                    Op::Removed,
                    comment_value(c),
                    Value::Null,
                    pr,
                ),
            ),
            Some(d) if c.body != d.body => {
                let mut change = comment_change(
                    d,
                    Field::Body,
                    Op::Changed,
                    json!(c.body),
                    json!(d.body),
                    pr,
                );
                change.hunks = lines::hunks(&c.body, &d.body, opts.context_lines);
                push(d, change);
            }
            Some(_) => {}
        }
    }
    for (id, d) in &to.comments {
        let pr = is_pr(d.issue_number);
        if (pr && !opts.include_prs) || from.comments.contains_key(id) {
            continue;
        }
        push(
            d,
            comment_change(
                d,
                Field::Record,
                Op::Added,
                Value::Null,
                comment_value(d),
                pr,
            ),
        );
    }
}

/// Puts the changes in their documented order and counts them.
fn assemble(labels: Defs, milestones: Defs, issues: BTreeMap<u64, IssueAcc>) -> Diff {
    let mut changes = Vec::new();
    for defs in [labels, milestones] {
        let mut run = defs.changes;
        // Stable: the fields of one definition keep the order they were compared in.
        run.sort_by(|a, b| (a.key.to_lowercase(), &a.key).cmp(&(b.key.to_lowercase(), &b.key)));
        changes.extend(run);
    }
    let mut entries = Vec::with_capacity(issues.len());
    for (_, mut acc) in issues {
        entries.push(acc.entry);
        changes.append(&mut acc.fields);
        acc.comments.sort_by_key(|(id, _)| *id);
        changes.extend(acc.comments.into_iter().map(|(_, c)| c));
    }
    let summary = summarize(&changes, &entries);
    Diff {
        schema_version: super::SCHEMA_VERSION,
        from: Default::default(),
        to: Default::default(),
        summary,
        changes,
        issues: entries,
    }
}

fn summarize(changes: &[Change], entries: &[IssueEntry]) -> Summary {
    let mut s = Summary {
        total: changes.len(),
        ..Summary::default()
    };
    for e in entries {
        match e.op {
            Op::Changed => s.issues_changed += 1,
            Op::Added => s.issues_added += 1,
            Op::Removed => s.issues_removed += 1,
        }
    }
    // Definitions count once each, however many of their fields changed; their changes are
    // contiguous per key, so counting key transitions among `changed` ops is enough.
    let mut last_changed: Option<(ChangeKind, &str)> = None;
    for c in changes {
        match (c.kind, c.op) {
            (ChangeKind::Comment, Op::Added) => s.comments_added += 1,
            (ChangeKind::Comment, Op::Changed) => s.comments_edited += 1,
            (ChangeKind::Comment, Op::Removed) => s.comments_deleted += 1,
            (ChangeKind::Label, Op::Added) => s.labels_added += 1,
            (ChangeKind::Label, Op::Removed) => s.labels_removed += 1,
            (ChangeKind::Milestone, Op::Added) => s.milestones_added += 1,
            (ChangeKind::Milestone, Op::Removed) => s.milestones_removed += 1,
            (kind @ (ChangeKind::Label | ChangeKind::Milestone), Op::Changed) => {
                if last_changed != Some((kind, c.key.as_str())) {
                    last_changed = Some((kind, c.key.as_str()));
                    match kind {
                        ChangeKind::Label => s.labels_changed += 1,
                        _ => s.milestones_changed += 1,
                    }
                }
            }
            (ChangeKind::Issue, _) => {}
        }
    }
    s
}
