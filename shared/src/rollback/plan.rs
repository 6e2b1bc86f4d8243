//! Planning: the minimal ordered operations that turn the live state into a snapshot's
//! state, and the list of differences no operation can undo.
//!
//! The planner is a pure function of (target, live, options). Verification re-runs it after
//! execution: a successful rollback plans zero operations.
//!
//! **Definitions first, then issues against what the definitions will be.** Labels and
//! milestones are matched as GitHub identifies them (label id, milestone number), so a label
//! renamed after the snapshot is renamed back with one write, and the issues that carry it
//! need none: they refer to the label, not to its name. Issue changes are computed against
//! the names the definition writes will leave, never against today's names. A target
//! definition takes another live definition instead of its own only where names force it: a
//! name can be held by one definition at a time, and definitions created after the snapshot
//! are never renamed or deleted, so one that already holds a target name *is* that target's
//! definition. Renames are ordered so that no name is taken before it is freed; a cycle
//! (two labels that swapped names) goes through a temporary name.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::live::LiveView;
use super::target::TargetView;
use super::{Field, PlannedOp, RollbackOptions};
use crate::record::{Comment, Issue, Label, Milestone, Record, State};
use crate::tracker::operation::{Change, Operation};

pub use crate::tracker::operation::{is_report, restored_from, restored_marker, MARKER_PREFIX};

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
    /// What the preview should say besides the writes and the losses (a restore into a
    /// destination that holds issues of its own).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Under `--by`/`--since`: changes left alone because no event says who made them, or
    /// because others made them too (see `narrow`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_alone: Vec<Irrecoverable>,
}

fn body_eq(a: &Option<String>, b: &Option<String>) -> bool {
    // GitHub stores an emptied body as null; both mean "no description".
    a.as_deref().unwrap_or("") == b.as_deref().unwrap_or("")
}

fn date_eq(a: &Option<DateTime<Utc>>, b: &Option<DateTime<Utc>>) -> bool {
    // Due dates are days; GitHub shifts the time of day by time zone on write.
    a.map(|d| d.date_naive()) == b.map(|d| d.date_naive())
}

/// Label names compare case-insensitively on GitHub (one repository cannot hold `bug` and
/// `Bug`); milestone titles compare exactly.
fn label_key(name: &str) -> String {
    name.to_lowercase()
}

/// One kind of definition (labels or milestones) as the matcher sees it.
#[derive(Debug, Clone)]
struct Def {
    /// The tracker's identity: label id, milestone number.
    key: u64,
    /// Its name as the tracker compares names (labels: lower case).
    name: String,
}

/// Which live definition each target definition becomes: `Some(live key)` (updated in place
/// if it differs) or `None` (created).
type Matching = BTreeMap<u64, Option<u64>>;

/// Matches target definitions to live ones: by identity first; then, while a live
/// definition that no target claims holds a target's name, that target takes it (it cannot
/// be renamed away, so it is the target's definition now). Each such step makes a match by
/// name, which is final, so the loop ends after at most one step per target.
fn match_defs(targets: &[Def], live: &[Def]) -> Matching {
    let live_keys: BTreeSet<u64> = live.iter().map(|d| d.key).collect();
    let mut matched: Matching = targets
        .iter()
        .map(|t| (t.key, live_keys.contains(&t.key).then_some(t.key)))
        .collect();
    loop {
        let claimed: BTreeSet<u64> = matched.values().flatten().copied().collect();
        let step = targets.iter().find_map(|t| {
            live.iter()
                .find(|l| l.name == t.name && !claimed.contains(&l.key))
                .map(|l| (t.key, l.key))
        });
        match step {
            Some((t, l)) => {
                matched.insert(t, Some(l));
            }
            None => return matched,
        }
    }
}

/// One name change of a live definition, as the rename order emits it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rename {
    live: u64,
    /// Its name when this step runs (a temporary name for the second step of a cycle).
    from: String,
    to: String,
    /// A step to a temporary name, breaking a cycle; the definition's final step follows.
    temporary: bool,
}

/// Orders renames so that no name is taken while another definition still holds it.
/// `renames` maps a live key to (current name, final name), names as compared by the
/// tracker; `display` gives each final name as written. A definition waits for the one
/// holding its final name; as names are unique on both sides, the waits form chains and
/// cycles. A cycle is broken by renaming one member to a temporary name first.
fn order_renames(
    renames: &BTreeMap<u64, (String, String)>,
    taken: &BTreeSet<String>,
    temporary_name: impl Fn(u64, &BTreeSet<String>) -> String,
) -> Vec<Rename> {
    let holder: HashMap<&str, u64> = renames
        .iter()
        .map(|(k, (from, _))| (from.as_str(), *k))
        .collect();
    let waits_for = |k: u64| -> Option<u64> {
        let to = &renames[&k].1;
        holder.get(to.as_str()).copied().filter(|w| *w != k)
    };
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum At {
        Start,
        Temporary,
        Done,
    }
    let mut at: BTreeMap<u64, At> = renames.keys().map(|k| (*k, At::Start)).collect();
    let mut temporary: BTreeMap<u64, String> = BTreeMap::new();
    let mut taken = taken.clone();
    let mut out = Vec::new();
    while at.values().any(|a| *a != At::Done) {
        let ready = at.iter().find_map(|(k, a)| {
            (*a != At::Done && waits_for(*k).is_none_or(|w| at[&w] != At::Start)).then_some(*k)
        });
        match ready {
            Some(k) => {
                let from = temporary
                    .get(&k)
                    .cloned()
                    .unwrap_or_else(|| renames[&k].0.clone());
                out.push(Rename {
                    live: k,
                    from,
                    to: renames[&k].1.clone(),
                    temporary: false,
                });
                at.insert(k, At::Done);
            }
            None => {
                // Only cycles are left: move the first member out of the way.
                let Some(k) = at.iter().find_map(|(k, a)| (*a == At::Start).then_some(*k)) else {
                    break;
                };
                let name = temporary_name(k, &taken);
                taken.insert(name.clone());
                out.push(Rename {
                    live: k,
                    from: renames[&k].0.clone(),
                    to: name.clone(),
                    temporary: true,
                });
                temporary.insert(k, name);
                at.insert(k, At::Temporary);
            }
        }
    }
    out
}

/// A name no definition holds or will hold, for the middle step of a cycle. Short: GitHub
/// caps label names at 50 characters.
fn temporary_name(key: u64, taken: &BTreeSet<String>, compare: fn(&str) -> String) -> String {
    (0u32..)
        .map(|n| match n {
            0 => format!("backtrack-tmp-{key}"),
            n => format!("backtrack-tmp-{key}-{n}"),
        })
        .find(|name| !taken.contains(&compare(name)))
        .unwrap_or_default()
}

/// What the definition writes will leave: each live definition's final name (by live key)
/// and each target definition's final name (by target key), as written.
#[derive(Debug, Default)]
struct Outcome {
    live: HashMap<u64, String>,
    target: HashMap<u64, String>,
}

/// A label or a milestone, as the definition planner handles both.
trait Definition {
    /// The tracker's identity: label id, milestone number.
    fn key(&self) -> u64;
    fn name(&self) -> &str;
    /// A name as the tracker compares names.
    fn compared(name: &str) -> String;
    /// Whether `self` must be written to look like `target` (name included).
    fn differs(&self, target: &Self) -> bool;
    /// The write that gives `self`, now called `current_name`, the name `name` and the
    /// other fields of `to`.
    fn update(&self, current_name: &str, name: &str, to: &Self) -> Operation;
    /// The write that creates `self`, and what it cannot restore.
    fn create(&self, out: &mut Planned);
}

impl Definition for Label {
    fn key(&self) -> u64 {
        self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn compared(name: &str) -> String {
        label_key(name)
    }
    fn differs(&self, target: &Self) -> bool {
        self.name != target.name
            || !self.color.eq_ignore_ascii_case(&target.color)
            || !body_eq(&self.description, &target.description)
    }
    fn update(&self, current_name: &str, name: &str, to: &Self) -> Operation {
        Operation::UpdateLabel {
            current_name: current_name.to_string(),
            name: name.to_string(),
            color: to.color.clone(),
            description: to.description.clone(),
        }
    }
    fn create(&self, out: &mut Planned) {
        out.push(Operation::CreateLabel {
            name: self.name.clone(),
            color: self.color.clone(),
            description: self.description.clone(),
        });
    }
}

impl Definition for Milestone {
    fn key(&self) -> u64 {
        self.number
    }
    fn name(&self) -> &str {
        &self.title
    }
    fn compared(name: &str) -> String {
        name.to_string()
    }
    fn differs(&self, target: &Self) -> bool {
        self.title != target.title
            || self.state != target.state
            || !body_eq(&self.description, &target.description)
            || !date_eq(&self.due_on, &target.due_on)
    }
    fn update(&self, _current_name: &str, name: &str, to: &Self) -> Operation {
        Operation::UpdateMilestone {
            number: self.number,
            title: name.to_string(),
            state: to.state,
            description: to.description.clone(),
            due_on: to.due_on,
        }
    }
    fn create(&self, out: &mut Planned) {
        out.push(Operation::CreateMilestone {
            title: self.title.clone(),
            state: self.state,
            description: self.description.clone(),
            due_on: self.due_on,
        });
        out.irrecoverable.push(Irrecoverable {
            key: format!("milestone:{}", self.number),
            what: format!("milestone {:?} keeps a new number", self.title),
            reason: "a deleted milestone is recreated under a new number; links to the old number do not follow".into(),
        });
    }
}

/// Plans one kind of definition (the `selected` target keys, or all) and returns what the
/// names will be: renames in dependency order, then changes that keep the name, then
/// creations (whose names are free by then).
fn plan_definitions<D: Definition>(
    target: &BTreeMap<u64, D>,
    live: &BTreeMap<u64, D>,
    selected: Option<&BTreeSet<u64>>,
    out: &mut Planned,
) -> Outcome {
    let targets: Vec<&D> = target
        .values()
        .filter(|d| selected.is_none_or(|s| s.contains(&d.key())))
        .collect();
    let defs = |ds: &mut dyn Iterator<Item = &D>| -> Vec<Def> {
        ds.map(|d| Def {
            key: d.key(),
            name: D::compared(d.name()),
        })
        .collect()
    };
    let t_defs = defs(&mut targets.iter().copied());
    let l_defs = defs(&mut live.values());
    let matching = match_defs(&t_defs, &l_defs);

    let mut outcome = Outcome::default();
    let mut current_name: HashMap<u64, String> = HashMap::new();
    for d in live.values() {
        outcome.live.insert(d.key(), d.name().to_string());
        current_name.insert(d.key(), d.name().to_string());
    }
    let mut by_live: BTreeMap<u64, &D> = BTreeMap::new();
    let mut renames = BTreeMap::new();
    for t in &targets {
        outcome.target.insert(t.key(), t.name().to_string());
        if let Some(Some(u)) = matching.get(&t.key()) {
            outcome.live.insert(*u, t.name().to_string());
            by_live.insert(*u, *t);
            let (from, to) = (D::compared(live[u].name()), D::compared(t.name()));
            if from != to {
                renames.insert(*u, (from, to));
            }
        }
    }
    let taken: BTreeSet<String> = l_defs
        .iter()
        .chain(&t_defs)
        .map(|d| d.name.clone())
        .collect();
    let order = order_renames(&renames, &taken, |k, taken| {
        temporary_name(k, taken, D::compared)
    });
    for step in &order {
        let current = &live[&step.live];
        let (name, to) = if step.temporary {
            (step.to.clone(), current)
        } else {
            let t = by_live[&step.live];
            (t.name().to_string(), t)
        };
        out.push(current.update(&current_name[&step.live], &name, to));
        current_name.insert(step.live, name);
    }
    let renamed: BTreeSet<u64> = order.iter().map(|r| r.live).collect();
    for (u, t) in &by_live {
        let current = &live[u];
        if !renamed.contains(u) && current.differs(t) {
            out.push(current.update(current.name(), t.name(), t));
        }
    }
    for t in &targets {
        if matching.get(&t.key()) == Some(&None) {
            t.create(out);
        }
    }
    outcome
}

/// A record as the planner holds it: its fields, and of its raw JSON only what the planner
/// reads ([`label_ids`]: an issue's label ids; the irrecoverable checks: whether a pull
/// request was merged, a comment's reaction count when it has any). A plan compares a whole
/// snapshot with the whole live state: with every record's raw JSON kept, a 10,000-issue /
/// 50,000-comment repository's preview peaked at 1.4 GB; and a JSON object costs a map node
/// (~600 bytes) even for one key, so an issue that only has labels keeps the bare array of
/// their ids, and an object is kept only for a merged pull request.
pub fn planning_view(record: Record) -> Record {
    match record {
        Record::Issue(mut issue) => {
            let ids: Option<Vec<Value>> = raw_labels(&issue.raw).map(|ls| {
                ls.iter()
                    .map(|l| l.get("id").unwrap_or(l).clone())
                    .collect()
            });
            let merged = issue
                .raw
                .pointer("/pull_request/merged_at")
                .filter(|m| !m.is_null())
                .cloned();
            issue.raw = match (ids, merged) {
                // No labels: the names (none) say as much.
                (None, None) => Value::Null,
                (Some(ids), None) if ids.is_empty() => Value::Null,
                (Some(ids), None) => Value::Array(ids),
                (ids, Some(merged)) => {
                    let mut kept = serde_json::Map::new();
                    if let Some(ids) = ids {
                        kept.insert("labels".into(), Value::Array(ids));
                    }
                    kept.insert("pull_request".into(), json!({"merged_at": merged}));
                    Value::Object(kept)
                }
            };
            Record::Issue(issue)
        }
        Record::Comment(mut comment) => {
            comment.raw = match reaction_count(&comment) {
                0 => Value::Null,
                n => json!({"reactions": {"total_count": n}}),
            };
            Record::Comment(comment)
        }
        other => other.without_raw(),
    }
}

/// An issue's labels in its raw JSON: the tracker's label objects, or a planning view's ids
/// (under `labels`, or the whole raw value).
fn raw_labels(raw: &Value) -> Option<&Vec<Value>> {
    raw.get("labels").unwrap_or(raw).as_array()
}

/// How many reactions a comment had (0 when its raw JSON does not say).
fn reaction_count(comment: &Comment) -> u64 {
    comment
        .raw
        .pointer("/reactions/total_count")
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

/// An issue's labels by identity: the label ids in the tracker's raw JSON when it was kept
/// (an incremental snapshot may hold an issue whose copy of a renamed label's name is
/// stale; its id is not), else the ids of the definitions with those names in `set`.
/// `Err(name)` for a name no definition in `set` has.
fn label_ids(issue: &Issue, labels: &BTreeMap<u64, Label>) -> Vec<Result<u64, String>> {
    let from_raw: Option<Vec<u64>> = raw_labels(&issue.raw).and_then(|ls| {
        // The tracker's label objects, or a planning view's bare ids.
        ls.iter()
            .map(|l| l.get("id").unwrap_or(l).as_u64())
            .collect()
    });
    if let Some(ids) = from_raw.filter(|ids| ids.iter().all(|id| labels.contains_key(id))) {
        return ids.into_iter().map(Ok).collect();
    }
    issue
        .labels
        .iter()
        .map(|name| {
            let key = label_key(name);
            labels
                .values()
                .find(|l| label_key(&l.name) == key)
                .map(|l| l.id)
                .ok_or_else(|| name.clone())
        })
        .collect()
}

/// The names an issue's labels have once the definition writes are done.
fn final_label_names(
    issue: &Issue,
    labels: &BTreeMap<u64, Label>,
    names: &HashMap<u64, String>,
) -> Vec<String> {
    let mut out: Vec<String> = label_ids(issue, labels)
        .into_iter()
        .map(|id| match id {
            Ok(id) => names
                .get(&id)
                .cloned()
                .or_else(|| labels.get(&id).map(|l| l.name.clone()))
                .unwrap_or_default(),
            Err(name) => name,
        })
        .collect();
    out.sort_by_key(|n| label_key(n));
    out.dedup_by_key(|n| label_key(n));
    out
}

/// The title an issue's milestone has once the definition writes are done.
fn final_milestone_title(
    issue: &Issue,
    milestones: &BTreeMap<u64, Milestone>,
    titles: &HashMap<u64, String>,
) -> Option<String> {
    let m = issue.milestone.as_ref()?;
    Some(
        titles
            .get(&m.number)
            .cloned()
            .or_else(|| milestones.get(&m.number).map(|d| d.title.clone()))
            .unwrap_or_else(|| m.title.clone()),
    )
}

/// Computes the plan. `snapshot` names the target in recreated comments' attribution.
/// `live`: a whole [`RecordSet`], or a [`super::live::Live`]'s view, which holds only what
/// differs from `target`.
pub fn plan<'a, 't>(
    target: impl Into<TargetView<'t>>,
    live: impl Into<LiveView<'a>>,
    opts: &RollbackOptions,
    snapshot: &str,
) -> Planned {
    let target: TargetView<'_> = target.into();
    let live: LiveView<'_> = live.into();
    let mut out = Planned::default();
    let wants = |f: Field| opts.wants(f);
    let in_scope = |n: u64| opts.covers(n);

    // With `--only`, definitions unrelated to the selected issues are left alone.
    let selected: Vec<&Issue> = target
        .issues
        .values()
        .filter(|i| in_scope(i.number))
        .collect();
    let needed_labels: Option<BTreeSet<u64>> = opts.only().map(|_| {
        selected
            .iter()
            .flat_map(|i| label_ids(i, target.labels))
            .filter_map(Result::ok)
            .collect()
    });
    let needed_milestones: Option<BTreeSet<u64>> = opts.only().map(|_| {
        selected
            .iter()
            .filter_map(|i| i.milestone.as_ref().map(|m| m.number))
            .collect()
    });

    // 1 and 2. Definitions, and what their names will be afterwards.
    let labels = if wants(Field::Labels) {
        plan_definitions(
            target.labels,
            live.labels(),
            needed_labels.as_ref(),
            &mut out,
        )
    } else {
        Outcome::default()
    };
    let milestones = if wants(Field::Milestone) {
        plan_definitions(
            target.milestones,
            live.milestones(),
            needed_milestones.as_ref(),
            &mut out,
        )
    } else {
        Outcome::default()
    };
    let after = After {
        target,
        live,
        labels: &labels,
        milestones: &milestones,
    };

    // 3. One PATCH per changed issue, carrying every changed field.
    for issue in &selected {
        let Some(current) = live.issue(issue.number) else {
            out.irrecoverable.push(Irrecoverable {
                key: format!("issue:{}", issue.number),
                what: format!("#{} {:?} was deleted", issue.number, issue.title),
                reason: "GitHub cannot restore a deleted issue; its content, comments and history remain in the snapshot".into(),
            });
            continue;
        };
        let patch = issue_patch(issue, current, &after, &wants, &mut out.irrecoverable);
        if !patch.is_empty() {
            out.push(Operation::UpdateIssue {
                number: issue.number,
                title: issue.title.clone(),
                changes: patch,
            });
        }
        model_losses(issue, current, &mut out.irrecoverable);
        if current.locked != issue.locked && wants(Field::Lock) {
            out.push(Operation::SetLock {
                number: issue.number,
                title: issue.title.clone(),
                locked: issue.locked,
                reason: issue.model.lock_reason.clone(),
            });
        }
    }

    // 3b. Sub-issue parents, then each parent's order, then dependencies.
    plan_links(target, &live, &wants, &in_scope, &mut out);

    // 4 and 5. Comment edits, then re-creation of deleted comments.
    if wants(Field::Comments) {
        plan_comments(target, &live, opts, snapshot, &in_scope, &mut out);
    }

    // 6. Opt-in clean-up of what was created after the snapshot.
    if opts.close_new_issues() && wants(Field::State) {
        for current in live.issues() {
            if !target.issues.contains_key(&current.number)
                && in_scope(current.number)
                && current.state == State::Open
                && current.created_at > opts.snapshot_time()
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

/// Both states with the names the definition writes will leave.
struct After<'a> {
    target: TargetView<'a>,
    live: LiveView<'a>,
    labels: &'a Outcome,
    milestones: &'a Outcome,
}

/// The changed restorable fields of one issue, as `Change`s, compared after the definition
/// writes.
fn issue_patch(
    target: &Issue,
    current: &Issue,
    after: &After<'_>,
    wants: &dyn Fn(Field) -> bool,
    irrecoverable: &mut Vec<Irrecoverable>,
) -> Vec<Change> {
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
    if wants(Field::Labels) {
        let wanted = final_label_names(target, after.target.labels, &after.labels.target);
        let will_have = final_label_names(current, after.live.labels(), &after.labels.live);
        let keys = |v: &[String]| -> Vec<String> { v.iter().map(|n| label_key(n)).collect() };
        if keys(&wanted) != keys(&will_have) {
            changes.push(Change::Labels {
                from: current.labels.clone(),
                to: wanted,
            });
        }
    }
    if wants(Field::Assignees) && current.assignees != target.assignees {
        changes.push(Change::Assignees {
            from: current.assignees.clone(),
            to: target.assignees.clone(),
        });
    }
    if wants(Field::Milestone) {
        let wanted =
            final_milestone_title(target, after.target.milestones, &after.milestones.target);
        let will_have =
            final_milestone_title(current, after.live.milestones(), &after.milestones.live);
        if wanted != will_have {
            changes.push(Change::Milestone {
                from: current.milestone.as_ref().map(|m| m.title.clone()),
                to: wanted,
            });
        }
    }
    if wants(Field::Type) && current.model.issue_type != target.model.issue_type {
        changes.push(Change::IssueType {
            from: current.model.issue_type.clone(),
            to: target.model.issue_type.clone(),
        });
    }
    changes
}

/// What the issue model holds that a rollback does not write back, each named with why.
fn model_losses(target: &Issue, current: &Issue, out: &mut Vec<Irrecoverable>) {
    let (t, c) = (&target.model, &current.model);
    let n = target.number;
    let mut lose = |what: String, reason: &str| {
        out.push(Irrecoverable {
            key: format!("issue:{n}"),
            what,
            reason: reason.into(),
        })
    };
    if t.lock_reason != c.lock_reason && current.locked == target.locked {
        lose(
            format!(
                "#{n} is locked as {} (was {})",
                c.lock_reason.as_deref().unwrap_or("no reason"),
                t.lock_reason.as_deref().unwrap_or("no reason")
            ),
            "a lock reason is not restored; unlock and lock it again on GitHub",
        );
    }
    if t.pinned_comment != c.pinned_comment {
        lose(
            format!("#{n} has another pinned comment"),
            "GitHub's REST API has no call to pin a comment; pin it again on GitHub",
        );
    }
    if t.reactions != c.reactions {
        lose(
            format!("#{n} has other reactions"),
            "a reaction belongs to the person who left it, and a token can only add or \
             remove its own",
        );
    }
}

/// Sub-issue links, order and dependencies, one write per changed link: a child whose
/// parent differs is moved (`replace_parent`) or detached; each parent's order is then
/// mended with the fewest moves (the children already in the right relative order stay, and
/// of equally short plans the one moving the children this plan just attached, which
/// GitHub puts last); each blocker added or removed since is removed or added again.
fn plan_links(
    target: TargetView<'_>,
    live: &LiveView<'_>,
    wants: &dyn Fn(Field) -> bool,
    in_scope: &dyn Fn(u64) -> bool,
    out: &mut Planned,
) {
    let restorable = |t: &Issue| in_scope(t.number) && live.has_issue(t.number);
    if wants(Field::Parent) {
        // Each parent's order as the moves below will leave it.
        let mut orders: BTreeMap<u64, Vec<u64>> = live
            .issues()
            .filter(|i| !i.model.sub_issues.is_empty())
            .map(|i| (i.number, i.model.sub_issues.clone()))
            .collect();
        let mut joined: BTreeSet<(u64, u64)> = BTreeSet::new();
        for t in target.issues.values().filter(|t| restorable(t)) {
            let Some(current) = live.issue(t.number) else {
                continue;
            };
            if t.model.parent == current.model.parent {
                continue;
            }
            if let Some(p) = t.model.parent.filter(|p| !live.has_issue(*p)) {
                out.irrecoverable.push(Irrecoverable {
                    key: format!("issue:{}", t.number),
                    what: format!("#{} was a sub-issue of #{p}, which was deleted", t.number),
                    reason: "GitHub cannot restore a deleted issue".into(),
                });
                continue;
            }
            out.push(Operation::SetParent {
                number: t.number,
                id: current.id,
                title: t.title.clone(),
                from: current.model.parent,
                to: t.model.parent,
            });
            if let Some(from) = current.model.parent {
                if let Some(o) = orders.get_mut(&from) {
                    o.retain(|c| *c != t.number);
                }
            }
            if let Some(to) = t.model.parent {
                orders.entry(to).or_default().push(t.number);
                joined.insert((to, t.number));
            }
        }
        for t in target
            .issues
            .values()
            .filter(|t| !t.model.sub_issues.is_empty() && restorable(t))
        {
            let current = orders.get(&t.number).cloned().unwrap_or_default();
            let want: Vec<u64> = t
                .model
                .sub_issues
                .iter()
                .filter(|c| current.contains(c))
                .copied()
                .collect();
            let have: Vec<u64> = current.into_iter().filter(|c| want.contains(c)).collect();
            let id = |n: u64| live.issue(n).map_or(0, |i| i.id);
            for (child, anchor, after) in
                reorder_moves(&have, &want, |c| joined.contains(&(t.number, c)))
            {
                out.push(Operation::ReorderSubIssue {
                    number: t.number,
                    child,
                    child_id: id(child),
                    anchor,
                    anchor_id: id(anchor),
                    after,
                });
            }
        }
    }
    if wants(Field::Dependencies) {
        for t in target.issues.values().filter(|t| restorable(t)) {
            let Some(current) = live.issue(t.number) else {
                continue;
            };
            let (was, is) = (&t.model.blocked_by, &current.model.blocked_by);
            for &b in was.iter().filter(|b| !is.contains(b)) {
                match live.issue(b) {
                    Some(blocker) => out.push(Operation::SetBlockedBy {
                        number: t.number,
                        blocker: b,
                        blocker_id: blocker.id,
                        blocked: true,
                    }),
                    None => out.irrecoverable.push(Irrecoverable {
                        key: format!("issue:{}", t.number),
                        what: format!("#{} was blocked by #{b}, which was deleted", t.number),
                        reason: "GitHub cannot restore a deleted issue".into(),
                    }),
                }
            }
            for &b in is.iter().filter(|b| !was.contains(b)) {
                out.push(Operation::SetBlockedBy {
                    number: t.number,
                    blocker: b,
                    blocker_id: live.issue(b).map_or(0, |i| i.id),
                    blocked: false,
                });
            }
        }
    }
}

/// The fewest single moves (`child`, `anchor`, after?) that turn `have` into `want` (the
/// same children): those on a longest common subsequence stay, each other child goes right
/// after its predecessor in `want` (the first one right before the first child that stays).
/// Of equally long subsequences, the one keeping fewest `fresh` children is taken.
fn reorder_moves(have: &[u64], want: &[u64], fresh: impl Fn(u64) -> bool) -> Vec<(u64, u64, bool)> {
    let (n, m) = (have.len(), want.len());
    // Length first (each child weighs more than all the tie-breaks together), then old ones.
    let weight = |c: u64| 1_000u64 + u64::from(!fresh(c));
    let mut best = vec![vec![0u64; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            best[i][j] = if have[i] == want[j] {
                weight(have[i]) + best[i + 1][j + 1]
            } else {
                best[i + 1][j].max(best[i][j + 1])
            };
        }
    }
    let mut stay = BTreeSet::new();
    let (mut i, mut j) = (0, 0);
    while i < n && j < m {
        if have[i] == want[j] {
            stay.insert(have[i]);
            i += 1;
            j += 1;
        } else if best[i + 1][j] >= best[i][j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    let first_staying = want.iter().copied().find(|c| stay.contains(c));
    let mut moves = Vec::new();
    for (k, &c) in want.iter().enumerate() {
        if stay.contains(&c) {
            continue;
        }
        match (k, first_staying) {
            (0, Some(s)) => moves.push((c, s, false)),
            (0, None) => {}
            (k, _) => moves.push((c, want[k - 1], true)),
        }
    }
    moves
}

fn plan_comments(
    target: TargetView<'_>,
    live: &LiveView<'_>,
    opts: &RollbackOptions,
    snapshot: &str,
    in_scope: &dyn Fn(u64) -> bool,
    out: &mut Planned,
) {
    // Live comments that are restored copies of a target comment, by original id.
    let restored: HashMap<u64, &Comment> = live
        .comments()
        .filter_map(|c| restored_from(&c.body).map(|orig| (orig, c)))
        .collect();
    let mut recreate = Vec::new();
    for comment in target.comments.values() {
        if !in_scope(comment.issue_number) {
            continue;
        }
        if !live.has_issue(comment.issue_number) {
            continue; // reported with its deleted issue
        }
        match live.comment(comment.id) {
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
                let reactions = reaction_count(comment);
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
    if opts.delete_new_comments() {
        for current in live.comments() {
            // A restored copy of a target comment is that comment, not a new one; a copy
            // of a comment the target does not hold (undoing a rollback) is new content.
            let copy_of_target = restored_from(&current.body)
                .is_some_and(|orig| target.comments.contains_key(&orig) && !live.has_comment(orig));
            if !target.comments.contains_key(&current.id)
                && !copy_of_target
                // The Action's sticky diff comment is backtrack's own, not content.
                && !is_report(&current.body)
                && in_scope(current.issue_number)
                && current.created_at > opts.snapshot_time()
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
    pub(crate) fn push(&mut self, op: Operation) {
        let index = self.ops.len() as u64;
        self.ops.push(PlannedOp { index, op });
    }
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::testkit::{at, milestone_ref, names, Builder};
    use crate::record::RecordSet;
    use crate::rollback::Change;

    fn opts() -> RollbackOptions {
        RollbackOptions::everything(at(5))
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

    /// Applies moves the way GitHub's reprioritize does.
    fn apply_moves(mut order: Vec<u64>, moves: &[(u64, u64, bool)]) -> Vec<u64> {
        for &(c, anchor, after) in moves {
            order.retain(|x| *x != c);
            let at = order.iter().position(|x| *x == anchor).unwrap();
            order.insert(if after { at + 1 } else { at }, c);
        }
        order
    }

    #[test]
    fn sub_issue_order_is_mended_with_the_fewest_moves() {
        let cases: [(&[u64], &[u64], usize); 6] = [
            (&[1, 2, 3], &[1, 2, 3], 0),
            (&[3, 2, 1], &[1, 2, 3], 2),
            (&[2, 3, 4, 1], &[1, 2, 3, 4], 1),
            (&[1, 2, 3, 4, 5], &[5, 1, 2, 3, 4], 1),
            (&[4, 1, 2, 3], &[1, 2, 4, 3], 1),
            (&[5, 4, 3, 2, 1], &[1, 2, 3, 4, 5], 4),
        ];
        for (have, want, count) in cases {
            let moves = reorder_moves(have, want, |_| false);
            assert_eq!(moves.len(), count, "{have:?} → {want:?}: {moves:?}");
            assert_eq!(apply_moves(have.to_vec(), &moves), want);
        }
        // A child just attached (put last) is the one moved, not an old one.
        let moves = reorder_moves(&[1, 9], &[9, 1], |c| c == 9);
        assert_eq!(moves, [(9, 1, false)]);
    }

    #[test]
    fn links_are_restored_one_write_each_and_order_after_moves() {
        let mut b = base();
        for n in 2..=6 {
            b.issue(n, &format!("Issue {n}"));
        }
        let set = |b: &mut Builder, n: u64, f: &dyn Fn(&mut Issue)| {
            f(b.set.issues.get_mut(&n).unwrap());
        };
        set(&mut b, 1, &|i| i.model.sub_issues = vec![2, 3, 4]);
        for c in [2, 3, 4] {
            set(&mut b, c, &|i| i.model.parent = Some(1));
        }
        set(&mut b, 6, &|i| i.model.blocked_by = vec![5]);
        let target = b.set.clone();
        // Damage: #2 moved under #5, order of #1 reversed, #6's blocker removed, #5 blocked by #4.
        set(&mut b, 1, &|i| i.model.sub_issues = vec![4, 3]);
        set(&mut b, 2, &|i| i.model.parent = Some(5));
        set(&mut b, 5, &|i| {
            i.model.sub_issues = vec![2];
            i.model.blocked_by = vec![4];
        });
        set(&mut b, 6, &|i| i.model.blocked_by = vec![]);
        let live = b.set.clone();
        let p = plan(&target, &live, &opts(), "s");
        let ops: Vec<&Operation> = p.ops.iter().map(|o| &o.op).collect();
        assert!(
            matches!(
                ops[0],
                Operation::SetParent {
                    number: 2,
                    from: Some(5),
                    to: Some(1),
                    ..
                }
            ),
            "{ops:?}"
        );
        // Live #1 after the move: [4, 3, 2]; wanted [2, 3, 4]: two moves.
        let reorders: Vec<(u64, u64, bool)> = ops
            .iter()
            .filter_map(|o| match o {
                Operation::ReorderSubIssue {
                    number: 1,
                    child,
                    anchor,
                    after,
                    ..
                } => Some((*child, *anchor, *after)),
                _ => None,
            })
            .collect();
        assert_eq!(reorders.len(), 2, "{ops:?}");
        assert_eq!(apply_moves(vec![4, 3, 2], &reorders), [2, 3, 4]);
        let deps: Vec<(u64, u64, bool)> = ops
            .iter()
            .filter_map(|o| match o {
                Operation::SetBlockedBy {
                    number,
                    blocker,
                    blocked,
                    ..
                } => Some((*number, *blocker, *blocked)),
                _ => None,
            })
            .collect();
        assert_eq!(deps, [(5, 4, false), (6, 5, true)]);
        assert_eq!(p.ops.len(), 5);
        assert!(p.irrecoverable.iter().all(|l| !l.what.contains("parent")));
        // Applied, nothing is left to plan.
        assert!(plan(&target, &target, &opts(), "s").ops.is_empty());
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
                Change::IssueType { .. } => "type",
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
        // Issue 1 carries the label, and restoring the definition fixes it: one write.
        assert_eq!(p.ops.len(), 1, "{p:?}");
    }

    fn kinds(p: &Planned) -> Vec<String> {
        p.ops
            .iter()
            .map(|o| match &o.op {
                Operation::UpdateLabel {
                    current_name, name, ..
                } => format!("label {current_name}->{name}"),
                Operation::CreateLabel { name, .. } => format!("create label {name}"),
                Operation::UpdateMilestone { number, title, .. } => {
                    format!("milestone {number}->{title}")
                }
                Operation::CreateMilestone { title, .. } => format!("create milestone {title}"),
                Operation::UpdateIssue { number, .. } => format!("issue {number}"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_retitled_milestone_costs_one_write_whatever_carries_it() {
        let mut b = base();
        for n in 3..=40 {
            b.issue(n, "more").milestone = milestone_ref(1, "v1.0");
        }
        let target = b.build();
        let mut live = target.clone();
        live.milestones.get_mut(&1).unwrap().title = "Someday".into();
        for i in live.issues.values_mut() {
            if let Some(m) = i.milestone.as_mut() {
                m.title = "Someday".into();
            }
        }
        let p = plan(&target, &live, &opts(), "snap");
        assert_eq!(kinds(&p), ["milestone 1->v1.0"]);
    }

    #[test]
    fn swapped_label_names_go_through_a_temporary_name() {
        let target = base().build();
        let mut live = target.clone();
        live.labels.get_mut(&1).unwrap().name = "p1".into();
        live.labels.get_mut(&2).unwrap().name = "bug".into();
        // Issue 1 carries both labels; it needs no write after the swap back.
        let p = plan(&target, &live, &opts(), "snap");
        assert_eq!(
            kinds(&p),
            [
                "label p1->backtrack-tmp-1",
                "label bug->p1",
                "label backtrack-tmp-1->bug"
            ]
        );
    }

    #[test]
    fn a_new_label_holding_a_restored_name_becomes_that_label() {
        // "bug" (id 1) was renamed to "defect", then a new label took the name "bug". The new
        // one cannot be renamed away (rollback never touches what was created after the
        // snapshot), so it is the target's "bug"; issues that carry "defect" move to it.
        let target = base().build();
        let mut live = target.clone();
        live.labels.get_mut(&1).unwrap().name = "defect".into();
        let mut b = Builder::new();
        b.label(9, "bug", "d73a4a").description = Some("Something is broken".into());
        live.labels.extend(b.set.labels);
        live.issues.get_mut(&1).unwrap().labels = names(&["defect", "p1"]);
        let p = plan(&target, &live, &opts(), "snap");
        assert_eq!(kinds(&p), ["issue 1"]);
        let Operation::UpdateIssue { changes, .. } = &p.ops[0].op else {
            unreachable!()
        };
        assert!(matches!(&changes[0], Change::Labels { to, .. } if *to == names(&["bug", "p1"])));
    }

    #[test]
    fn a_deleted_then_recreated_label_is_found_by_name_and_issues_re_linked() {
        let target = base().build();
        let mut live = target.clone();
        live.labels.remove(&1);
        let mut b = Builder::new();
        b.label(50, "Bug", "000000");
        live.labels.extend(b.set.labels);
        // Deleting "bug" took it off issue 1; the recreated "Bug" is a different label.
        live.issues.get_mut(&1).unwrap().labels = names(&["p1"]);
        let p = plan(&target, &live, &opts(), "snap");
        assert_eq!(kinds(&p), ["label Bug->bug", "issue 1"]);
    }

    #[test]
    fn issue_labels_are_identified_by_id_when_the_raw_json_has_them() {
        // An incremental snapshot may hold an issue whose copy of a renamed label's name is
        // stale ("old-bug"); the id in its raw JSON is not.
        let mut target = base().build();
        target.issues.get_mut(&1).unwrap().labels = names(&["old-bug", "p1"]);
        target.issues.get_mut(&1).unwrap().raw =
            serde_json::json!({"labels": [{"id": 1, "name": "old-bug"}, {"id": 2, "name": "p1"}]});
        let live = base().build();
        assert!(plan(&target, &live, &opts(), "snap").ops.is_empty());
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
    fn deleted_issues_are_irrecoverable_and_locks_are_undone() {
        let target = base().build();
        let mut live = target.clone();
        live.issues.remove(&2);
        live.issues.get_mut(&1).unwrap().locked = true;
        let p = plan(&target, &live, &opts(), "snap");
        assert!(
            matches!(
                p.ops.as_slice(),
                [PlannedOp {
                    op: Operation::SetLock {
                        number: 1,
                        locked: false,
                        ..
                    },
                    ..
                }]
            ),
            "{p:?}"
        );
        let keys: Vec<&str> = p.irrecoverable.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["issue:2"]);
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
    fn a_plan_from_planning_views_equals_the_plan_from_whole_records() {
        // What the planner reads of raw JSON survives the view: label ids (a label renamed
        // since, which the live issue names by its new name), a merged pull request, a
        // deleted comment's reactions. The rest of the raw JSON is dropped.
        let mut target = base().build();
        target.issues.get_mut(&1).unwrap().raw = serde_json::json!({
            "title": "Login crash", "user": {"login": "amy"},
            "labels": [{"id": 1, "name": "bug", "color": "d73a4a"}, {"id": 2, "name": "p1"}]
        });
        target.comments.get_mut(&10).unwrap().raw = serde_json::json!({"body": "I can reproduce", "reactions": {"total_count": 3, "+1": 3}});
        target.comments.get_mut(&11).unwrap().raw =
            serde_json::json!({"body": "Fixed in #3", "reactions": {"total_count": 0}});
        let t2 = target.issues.get_mut(&2).unwrap();
        t2.pull_request = true;
        t2.state = State::Open;
        t2.state_reason = None;
        let mut live = target.clone();
        live.labels.get_mut(&1).unwrap().name = "defect".into();
        let i = live.issues.get_mut(&1).unwrap();
        i.labels = names(&["defect", "p1"]);
        i.title = "Login crash!".into();
        i.raw["labels"][0]["name"] = serde_json::json!("defect");
        let pr = live.issues.get_mut(&2).unwrap();
        pr.state = State::Closed;
        pr.raw = serde_json::json!({"pull_request": {"merged_at": "2025-01-01T00:00:00Z"}});
        live.comments.remove(&10);

        let whole = plan(&target, &live, &opts(), "snap");
        let view =
            |s: &RecordSet| -> RecordSet { s.clone().into_records().map(planning_view).collect() };
        let slim = plan(&view(&target), &view(&live), &opts(), "snap");
        assert_eq!(format!("{:?}", whole.ops), format!("{:?}", slim.ops));
        assert_eq!(
            format!("{:?}", whole.irrecoverable),
            format!("{:?}", slim.irrecoverable)
        );
        assert!(
            whole
                .irrecoverable
                .iter()
                .any(|i| i.reason.contains("merged")),
            "{whole:?}"
        );
        assert!(
            whole
                .irrecoverable
                .iter()
                .any(|i| i.what.contains("3 reactions")),
            "{whole:?}"
        );
        assert!(
            kinds(&whole).iter().any(|k| k.starts_with("label")),
            "{whole:?}"
        );
        let v = view(&target);
        assert_eq!(v.issues[&1].raw, serde_json::json!([1, 2]));
        assert_eq!(
            view(&live).issues[&2].raw,
            serde_json::json!({"pull_request": {"merged_at": "2025-01-01T00:00:00Z"}})
        );
        assert_eq!(
            v.comments[&10].raw,
            serde_json::json!({"reactions": {"total_count": 3}})
        );
        assert_eq!(v.labels[&1].raw, Value::Null);
        // No reactions, no labels, an open pull request: nothing of the raw JSON is read.
        assert_eq!(v.comments[&11].raw, Value::Null);
        assert_eq!(v.issues[&2].raw, Value::Null);
    }
}
