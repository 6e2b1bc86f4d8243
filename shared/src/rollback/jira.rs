//! Planning a Jira rollback: the same [`Planned`] as GitHub's, from Jira's records.
//!
//! Order: definitions first (deleted components and versions recreated before the issues
//! that use them), then per issue one `PUT` carrying every changed editable field and one
//! walk through the workflow to the snapshot's status, then comments (edits, then deleted
//! ones recreated), then the clean-ups asked for (issues and subtasks created since).
//!
//! The planner stays a pure function: what the records do not say (which fields this user
//! may edit, the workflow) is read beforehand into a [`RollbackContext`], asked for by
//! [`context_request`] — the same for a preview and for the plan executed, so both plan
//! alike.

use std::collections::{BTreeMap, BTreeSet};

use super::plan::{Irrecoverable, Planned};
use super::{Field, RollbackOptions};
use crate::record::jira::{JiraComment, JiraIssue, JiraRef, JiraStatus, JiraText};
use crate::record::RecordSet;
use crate::tracker::jira::workflow::{ContextRequest, Route, StatusKey, WalkRequest};
use crate::tracker::jira::{attributed, RollbackContext};
use crate::tracker::operation::{JiraChange, Operation};

fn text_eq(a: &Option<JiraText>, b: &Option<JiraText>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x == y,
        (Some(x), None) | (None, Some(x)) => x.is_blank(),
        (None, None) => true,
    }
}

fn float_eq(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => (x - y).abs() < 1e-9,
        (None, None) => true,
        _ => false,
    }
}

/// How a definition an issue refers to will be named in the `PUT`: by its id when it is
/// still there, by the id of the live definition of the same name when it was recreated,
/// else by name (it is recreated by this plan before the issue is written).
fn resolve(r: &JiraRef, live: &BTreeMap<u64, String>) -> JiraRef {
    let id: Option<u64> = r.id.parse().ok();
    if let Some(name) = id.and_then(|id| live.get(&id)) {
        return JiraRef {
            id: r.id.clone(),
            name: name.clone(),
        };
    }
    match live.iter().find(|(_, n)| **n == r.name) {
        Some((id, n)) => JiraRef {
            id: id.to_string(),
            name: n.clone(),
        },
        None => JiraRef {
            id: String::new(),
            name: r.name.clone(),
        },
    }
}

fn ref_ids(refs: &[JiraRef]) -> BTreeSet<&str> {
    refs.iter().map(|r| r.id.as_str()).collect()
}

/// The changed fields of one issue (status and comments aside), against the live one.
pub(super) fn field_changes(
    target: &JiraIssue,
    current: &JiraIssue,
    live: &RecordSet,
    wants: &dyn Fn(Field) -> bool,
) -> Vec<JiraChange> {
    let components: BTreeMap<u64, String> = live
        .components
        .values()
        .map(|c| (c.id, c.name.clone()))
        .collect();
    let versions: BTreeMap<u64, String> = live
        .versions
        .values()
        .map(|v| (v.id, v.name.clone()))
        .collect();
    let mut out = Vec::new();
    if wants(Field::Title) && target.summary != current.summary {
        out.push(JiraChange::Summary {
            from: current.summary.clone(),
            to: target.summary.clone(),
        });
    }
    if wants(Field::Body) && !text_eq(&target.description, &current.description) {
        out.push(JiraChange::Description {
            from: current.description.clone(),
            to: target.description.clone(),
        });
    }
    if wants(Field::Labels) && target.labels != current.labels {
        out.push(JiraChange::Labels {
            from: current.labels.clone(),
            to: target.labels.clone(),
        });
    }
    for (field, t, c, defs) in [
        (
            Field::Components,
            &target.components,
            &current.components,
            &components,
        ),
        (
            Field::FixVersions,
            &target.fix_versions,
            &current.fix_versions,
            &versions,
        ),
    ] {
        if !wants(field) {
            continue;
        }
        let to: Vec<JiraRef> = t.iter().map(|r| resolve(r, defs)).collect();
        if ref_ids(&to) != ref_ids(c) || to.iter().any(|r| r.id.is_empty()) {
            let (from, to) = (c.clone(), to);
            out.push(match field {
                Field::Components => JiraChange::Components { from, to },
                _ => JiraChange::FixVersions { from, to },
            });
        }
    }
    if wants(Field::Priority)
        && target.priority.as_ref().map(|p| &p.id) != current.priority.as_ref().map(|p| &p.id)
        && target.priority.is_some()
    {
        out.push(JiraChange::Priority {
            from: current.priority.clone(),
            to: target.priority.clone(),
        });
    }
    if wants(Field::Assignees)
        && target.assignee.as_ref().map(|u| &u.id) != current.assignee.as_ref().map(|u| &u.id)
    {
        out.push(JiraChange::Assignee {
            from: current.assignee.clone(),
            to: target.assignee.clone(),
        });
    }
    if wants(Field::DueDate) && target.due_date != current.due_date {
        out.push(JiraChange::DueDate {
            from: current.due_date,
            to: target.due_date,
        });
    }
    if wants(Field::StoryPoints) && !float_eq(target.story_points, current.story_points) {
        out.push(JiraChange::StoryPoints {
            from: current.story_points,
            to: target.story_points,
        });
    }
    if wants(Field::Parent) {
        if target.parent != current.parent {
            out.push(JiraChange::Parent {
                from: current.parent.clone(),
                to: target.parent.clone(),
                recreated: None,
            });
        }
        if target.epic_link != current.epic_link {
            out.push(JiraChange::EpicLink {
                from: current.epic_link.clone(),
                to: target.epic_link.clone(),
                recreated: None,
            });
        }
    }
    out
}

/// Where an issue's workflow starts for the walk: its project, type and status.
fn status_key(i: &JiraIssue) -> StatusKey {
    (
        i.project.clone(),
        i.issue_type.id.clone(),
        i.status.id.clone(),
    )
}

/// The target's issues this rollback covers that still exist, with their live selves.
fn pairs<'a>(
    target: &'a RecordSet,
    live: &'a RecordSet,
    opts: &'a RollbackOptions,
) -> impl Iterator<Item = (&'a JiraIssue, &'a JiraIssue)> + 'a {
    target
        .jira_issues
        .values()
        .filter(|i| opts.covers(i.id))
        .filter_map(|i| live.jira_issues.get(&i.id).map(|c| (i, c)))
}

/// The target's issues this rollback covers that are gone from the site.
fn deleted<'a>(
    target: &'a RecordSet,
    live: &'a RecordSet,
    opts: &'a RollbackOptions,
) -> impl Iterator<Item = &'a JiraIssue> + 'a {
    target
        .jira_issues
        .values()
        .filter(|i| opts.covers(i.id) && !live.jira_issues.contains_key(&i.id))
}

/// The live issue that stands for a target issue: itself, or the issue an earlier rollback
/// recreated it as.
fn live_of<'a>(t: &JiraIssue, live: &'a RecordSet, cx: &RollbackContext) -> Option<&'a JiraIssue> {
    live.jira_issues.get(&t.id).or_else(|| {
        let r = cx.recreated.get(&t.id)?;
        live.jira_issues.values().find(|i| i.key == r.key)
    })
}

/// The status a new issue of `t`'s type most likely starts in (Jira tells a
/// non-administrator no workflow's initial status): the `new`-category status most issues
/// of that project and type sit in, else of any type. A forecast for the preview only: the
/// walk reads where the recreation really is.
fn initial_status(t: &JiraIssue, target: &RecordSet, live: &RecordSet) -> Option<JiraStatus> {
    let mut count: BTreeMap<(bool, &str), (usize, &JiraStatus)> = BTreeMap::new();
    for i in target.jira_issues.values().chain(live.jira_issues.values()) {
        if i.project != t.project || i.status.category.as_deref() != Some("new") {
            continue;
        }
        let same_type = i.issue_type.id == t.issue_type.id;
        let e = count
            .entry((same_type, i.status.id.as_str()))
            .or_insert((0, &i.status));
        e.0 += 1;
    }
    let best = |same: bool| {
        count
            .iter()
            .filter(|((s, _), _)| *s == same)
            .max_by_key(|(_, (n, _))| *n)
            .map(|(_, (_, st))| (*st).clone())
    };
    best(true).or_else(|| best(false))
}

/// What planning needs to read from the site (see the module docs).
pub(crate) fn context_request(
    target: &RecordSet,
    live: &RecordSet,
    opts: &RollbackOptions,
) -> ContextRequest {
    let wants = |f: Field| opts.wants(f);
    let mut ask = ContextRequest::default();
    for (t, c) in pairs(target, live, opts) {
        if !field_changes(t, c, live, &wants).is_empty() {
            ask.editmeta.push((c.id, c.key.clone()));
        }
        if wants(Field::State) && t.status.id != c.status.id {
            ask.walks.push(WalkRequest {
                from: status_key(c),
                to: t.status.id.clone(),
            });
        }
        if wants(Field::Comments)
            && target
                .jira_comments
                .values()
                .any(|m| m.issue_id == t.id && !live.jira_comments.contains_key(&m.id))
        {
            ask.restored.push(c.key.clone());
        }
    }
    // Issues recreated by earlier rollbacks are found by their issue property among the
    // issues created since the snapshot (a day early: JQL dates are in the user's zone).
    let gone: Vec<&JiraIssue> = deleted(target, live, opts).collect();
    let new_ones = live
        .jira_issues
        .keys()
        .any(|id| !target.jira_issues.contains_key(id));
    if !gone.is_empty() || new_ones {
        ask.recreated_since = Some((opts.snapshot_time() - chrono::Duration::days(1)).date_naive());
    }
    for t in &gone {
        if wants(Field::Comments) && target.jira_comments.values().any(|m| m.issue_id == t.id) {
            ask.recreated_comments.insert(t.id);
        }
        if opts.recreate_deleted() && wants(Field::State) {
            if let Some(first) = initial_status(t, target, live) {
                if first.id != t.status.id {
                    ask.walks.push(WalkRequest {
                        from: (t.project.clone(), t.issue_type.id.clone(), first.id),
                        to: t.status.id.clone(),
                    });
                }
            }
        }
    }
    if !ask.walks.is_empty() {
        for i in live.jira_issues.values() {
            ask.samples
                .entry(status_key(i))
                .or_insert_with(|| i.key.clone());
        }
    }
    ask
}

/// The attribution line of a recreated comment (authorship and time cannot be restored).
fn attribution(c: &JiraComment, snapshot: &str) -> String {
    format!(
        "Restored by backtrack from snapshot {snapshot}. Originally written by {} on {}.",
        c.author.as_ref().map_or("an unknown user", |a| a.shown()),
        c.created_at.format("%Y-%m-%d %H:%M UTC")
    )
}

/// Computes the plan (see the module docs). `snapshot` names the target in recreated
/// comments' and issues' attribution.
pub(crate) fn plan(
    target: &RecordSet,
    live: &RecordSet,
    opts: &RollbackOptions,
    snapshot: &str,
    cx: &RollbackContext,
) -> Planned {
    let mut out = Planned::default();
    let wants = |f: Field| opts.wants(f);
    let links = Links::new(target, live, opts, cx);

    // 1. Deleted components and versions the covered issues use, recreated first.
    let used = |f: &dyn Fn(&JiraIssue) -> &Vec<JiraRef>| -> BTreeSet<String> {
        pairs(target, live, opts)
            .map(|(t, _)| t)
            .chain(links.recreate.iter().copied())
            .flat_map(|t| f(t).iter().map(|r| r.id.clone()))
            .collect()
    };
    if wants(Field::Components) {
        let needed = used(&|i| &i.components);
        for c in target.components.values() {
            let gone = !live.components.contains_key(&c.id)
                && !live.components.values().any(|l| l.name == c.name);
            if gone && (opts.only().is_none() || needed.contains(&c.id.to_string())) {
                out.push(Operation::JiraCreateComponent {
                    original_id: c.id,
                    name: c.name.clone(),
                    description: c.description.clone(),
                    lead: c.lead.clone(),
                    assignee_type: c.assignee_type.clone(),
                });
                out.irrecoverable.push(Irrecoverable {
                    key: format!("component:{}", c.id),
                    what: format!("component {:?} gets a new id", c.name),
                    reason: "a deleted component is recreated under a new id; filters and links to the old id do not follow".into(),
                });
            }
        }
    }
    if wants(Field::FixVersions) {
        let needed = used(&|i| &i.fix_versions);
        for v in target.versions.values() {
            let gone = !live.versions.contains_key(&v.id)
                && !live.versions.values().any(|l| l.name == v.name);
            if gone && (opts.only().is_none() || needed.contains(&v.id.to_string())) {
                out.push(Operation::JiraCreateVersion {
                    original_id: v.id,
                    name: v.name.clone(),
                    description: v.description.clone(),
                    released: v.released,
                    archived: v.archived,
                    start_date: v.start_date,
                    release_date: v.release_date,
                });
                out.irrecoverable.push(Irrecoverable {
                    key: format!("version:{}", v.id),
                    what: format!("version {:?} gets a new id", v.name),
                    reason: "a deleted version is recreated under a new id; filters and links to the old id do not follow".into(),
                });
            }
        }
    }

    name_changed_definitions(target, live, opts, &mut out);
    if opts.wants(Field::Dependencies) {
        name_changed_links(target, live, opts, &mut out);
    }

    // 2. Deleted issues: recreated when asked (parents first, each followed by its walk),
    // else named.
    links.name_losses(&mut out);
    for t in &links.recreate {
        plan_recreation(t, target, live, opts, snapshot, cx, &links, &mut out);
    }

    // 3. Per issue (or its recreation by an earlier rollback): one PUT with every changed
    // editable field, then the walk.
    for t in target.jira_issues.values().filter(|i| opts.covers(i.id)) {
        let Some(c) = live_of(t, live, cx) else {
            continue; // deleted: handled above
        };
        let expected = links.expected(t, c, snapshot);
        let mut changes = links.mark(field_changes(&expected, c, live, &wants), &t.key, &mut out);
        if let Some(editable) = cx.editable.get(&c.id) {
            changes.retain(|ch| {
                let ok = editable.contains(ch.field());
                if !ok {
                    out.irrecoverable.push(Irrecoverable {
                        key: format!("issue:{}", t.key),
                        what: format!("{} {} differs", t.key, shown_field(ch.field())),
                        reason: "not restorable: the site does not let this user edit the field on this issue (it is not in the issue's editmeta: not on its edit screen, or not permitted)".into(),
                    });
                }
                ok
            });
        }
        if !changes.is_empty() {
            out.push(Operation::JiraEditIssue {
                id: c.id,
                key: c.key.clone(),
                summary: t.summary.clone(),
                changes,
            });
        }
        if wants(Field::State) {
            plan_status(t, c, cx, &mut out);
        }
    }

    // 4. Comments: edits, then deleted ones recreated.
    if wants(Field::Comments) {
        plan_comments(target, live, opts, snapshot, cx, &links, &mut out);
    }

    // 5. What was created after the snapshot: listed, deleted only when asked.
    plan_new_issues(target, live, opts, cx, &mut out);
    out
}

/// Components and versions still there under their id but renamed or redescribed since the
/// snapshot: a rollback writes issues back, not the project's definitions (the issues keep
/// pointing at the same id, so nothing else is wrong), and says so rather than letting a
/// renamed one pass for restored.
fn name_changed_definitions(
    target: &RecordSet,
    live: &RecordSet,
    opts: &RollbackOptions,
    out: &mut Planned,
) {
    let used = |f: &dyn Fn(&JiraIssue) -> &Vec<JiraRef>| -> BTreeSet<String> {
        target
            .jira_issues
            .values()
            .filter(|i| opts.covers(i.id))
            .flat_map(|i| f(i).iter().map(|r| r.id.clone()))
            .collect()
    };
    let text = |d: &Option<String>| d.clone().unwrap_or_default();
    let mut name = |kind: &str, id: u64, was: &str, now: &str| {
        let what = if was == now {
            format!("{kind} {was:?} was edited")
        } else {
            format!("{kind} {was:?} was renamed to {now:?}")
        };
        out.irrecoverable.push(Irrecoverable {
            key: format!("{kind}:{id}"),
            what,
            reason: format!(
                "a rollback restores issues, not the project's {kind}s: the issues keep the same {kind}; edit it back in the project settings"
            ),
        });
    };
    if opts.wants(Field::Components) {
        let needed = used(&|i| &i.components);
        for c in target.components.values() {
            let Some(l) = live.components.get(&c.id) else {
                continue;
            };
            let changed = l.name != c.name || text(&l.description) != text(&c.description);
            if changed && (opts.only().is_none() || needed.contains(&c.id.to_string())) {
                name("component", c.id, &c.name, &l.name);
            }
        }
    }
    if opts.wants(Field::FixVersions) {
        let needed = used(&|i| &i.fix_versions);
        for v in target.versions.values() {
            let Some(l) = live.versions.get(&v.id) else {
                continue;
            };
            let changed = l.name != v.name
                || text(&l.description) != text(&v.description)
                || (l.released, l.archived, l.start_date, l.release_date)
                    != (v.released, v.archived, v.start_date, v.release_date);
            if changed && (opts.only().is_none() || needed.contains(&v.id.to_string())) {
                name("version", v.id, &v.name, &l.name);
            }
        }
    }
}

/// Issue links added to or removed from the snapshot's issues that are still there: a
/// rollback in place does not write links, so each is named (once, though it may show on
/// both of its issues), also when it went because the issue at its other end was deleted.
fn name_changed_links(
    target: &RecordSet,
    live: &RecordSet,
    opts: &RollbackOptions,
    out: &mut Planned,
) {
    let mut named = BTreeSet::new();
    for (t, c) in pairs(target, live, opts) {
        let was: BTreeSet<&str> = t.links.iter().map(|l| l.id.as_str()).collect();
        let is: BTreeSet<&str> = c.links.iter().map(|l| l.id.as_str()).collect();
        for l in &t.links {
            if !is.contains(l.id.as_str()) && named.insert(l.id.clone()) {
                out.irrecoverable.push(Irrecoverable {
                    key: format!("link:{}", l.id),
                    what: format!("{} {} was unlinked", t.key, l.label()),
                    reason: "a rollback in place does not write issue links: link the issues again by hand".into(),
                });
            }
        }
        for l in &c.links {
            if !was.contains(l.id.as_str()) && named.insert(l.id.clone()) {
                out.irrecoverable.push(Irrecoverable {
                    key: format!("link:{}", l.id),
                    what: format!("{} {} was linked after the snapshot", c.key, l.label()),
                    reason: "a rollback in place does not write issue links: remove the link by hand if it is unwanted".into(),
                });
            }
        }
    }
}

/// How issues refer to each other across deletions: which deleted issues this plan
/// recreates (parents before children), and how a target's parent or epic key reads on
/// the site now.
struct Links<'a> {
    /// Deleted issues this plan recreates, parents first.
    recreate: Vec<&'a JiraIssue>,
    /// Deleted issues left deleted, with why.
    left: Vec<(&'a JiraIssue, String)>,
    /// Original key → original id, for the issues this plan recreates.
    pending: BTreeMap<String, u64>,
    /// Original key → live key, for issues recreated by an earlier rollback.
    renamed: BTreeMap<String, String>,
    /// Original keys of deleted issues that stay deleted.
    gone: BTreeSet<String>,
    /// Rich text on this site is ADF (Cloud) rather than wiki markup.
    adf: bool,
}

impl<'a> Links<'a> {
    fn new(
        target: &'a RecordSet,
        live: &'a RecordSet,
        opts: &'a RollbackOptions,
        cx: &RollbackContext,
    ) -> Links<'a> {
        let renamed: BTreeMap<String, String> = cx
            .recreated
            .values()
            .filter(|r| live.jira_issues.values().any(|i| i.key == r.key))
            .map(|r| (r.original_key.clone(), r.key.clone()))
            .collect();
        let gone_now: Vec<&JiraIssue> = target
            .jira_issues
            .values()
            .filter(|t| !live.jira_issues.contains_key(&t.id) && !renamed.contains_key(&t.key))
            .collect();
        let mut left = Vec::new();
        let mut candidates: Vec<&JiraIssue> = Vec::new();
        for t in gone_now.iter().copied().filter(|t| opts.covers(t.id)) {
            if opts.recreate_deleted() {
                candidates.push(t);
            } else {
                left.push((t, "pass --recreate-deleted to recreate it as a new issue (Jira cannot restore it under its key); its fields and comments remain in the snapshot".to_string()));
            }
        }
        // A subtask comes back only under a parent that is there or comes back too.
        let exists = |key: &str, pending: &BTreeSet<&str>| {
            pending.contains(key)
                || renamed.contains_key(key)
                || live.jira_issues.values().any(|i| i.key == key)
        };
        loop {
            let pending: BTreeSet<&str> = candidates.iter().map(|t| t.key.as_str()).collect();
            let orphan = candidates.iter().position(|t| {
                t.subtask && !t.parent.as_deref().is_some_and(|p| exists(p, &pending))
            });
            let Some(n) = orphan else { break };
            let t = candidates.remove(n);
            let why = match &t.parent {
                Some(p) => format!("not recreated: its parent {p} was deleted too and is not recreated (add it to --only)"),
                None => "not recreated: a subtask needs a parent, and the snapshot names none".into(),
            };
            left.push((t, why));
        }
        // Parents (and epics) before the issues under them.
        let mut recreate: Vec<&JiraIssue> = Vec::new();
        let keys: BTreeSet<&str> = candidates.iter().map(|t| t.key.as_str()).collect();
        while !candidates.is_empty() {
            let placed: BTreeSet<&str> = recreate.iter().map(|t| t.key.as_str()).collect();
            let ready = candidates.iter().position(|t| {
                [&t.parent, &t.epic_link].iter().all(|l| {
                    l.as_deref()
                        .is_none_or(|k| !keys.contains(k) || placed.contains(k))
                })
            });
            // A cycle cannot happen in Jira's hierarchy; should data claim one, go on anyway.
            recreate.push(candidates.remove(ready.unwrap_or(0)));
        }
        let pending = recreate.iter().map(|t| (t.key.clone(), t.id)).collect();
        let gone = gone_now
            .iter()
            .filter(|t| !recreate.iter().any(|r| r.id == t.id))
            .map(|t| t.key.clone())
            .collect();
        let adf = target
            .jira_issues
            .values()
            .filter_map(|i| i.description.as_ref())
            .chain(target.jira_comments.values().map(|c| &c.body))
            .next()
            .is_some_and(|t| matches!(t, JiraText::Adf(_)));
        Links {
            recreate,
            left,
            pending,
            renamed,
            gone,
            adf,
        }
    }

    /// Names the deleted issues that stay deleted.
    fn name_losses(&self, out: &mut Planned) {
        for (t, why) in &self.left {
            out.irrecoverable.push(Irrecoverable {
                key: format!("issue:{}", t.key),
                what: format!("{} {:?} was deleted", t.key, t.summary),
                reason: why.clone(),
            });
        }
    }

    /// What `t` should look like on the site, as `c` stands for it: links to issues an
    /// earlier rollback recreated go to the recreation, and a recreation's description
    /// keeps its attribution line.
    fn expected(&self, t: &JiraIssue, c: &JiraIssue, snapshot: &str) -> JiraIssue {
        let mut e = t.clone();
        for l in [&mut e.parent, &mut e.epic_link] {
            if let Some(k) = l.as_ref().and_then(|k| self.renamed.get(k)) {
                *l = Some(k.clone());
            }
        }
        if c.id != t.id {
            e.description = Some(self.attributed(&t.description, &issue_attribution(t, snapshot)));
        }
        e
    }

    fn attributed(&self, text: &Option<JiraText>, line: &str) -> JiraText {
        attributed_description(self.adf, text, line)
    }

    /// Marks parent and epic links to issues this plan recreates; drops (and names) links
    /// to issues that stay deleted, which Jira would refuse.
    fn mark(&self, changes: Vec<JiraChange>, key: &str, out: &mut Planned) -> Vec<JiraChange> {
        changes
            .into_iter()
            .filter_map(|ch| match ch {
                JiraChange::Parent { from, to, .. } => {
                    self.link(key, "parent", to, out)
                        .map(|(to, recreated)| JiraChange::Parent {
                            from,
                            to,
                            recreated,
                        })
                }
                JiraChange::EpicLink { from, to, .. } => {
                    self.link(key, "Epic Link", to, out).map(|(to, recreated)| {
                        JiraChange::EpicLink {
                            from,
                            to,
                            recreated,
                        }
                    })
                }
                other => Some(other),
            })
            .collect()
    }

    #[allow(clippy::type_complexity)]
    fn link(
        &self,
        key: &str,
        what: &str,
        to: Option<String>,
        out: &mut Planned,
    ) -> Option<(Option<String>, Option<u64>)> {
        let Some(k) = to else {
            return Some((None, None));
        };
        if let Some(id) = self.pending.get(&k) {
            return Some((Some(k), Some(*id)));
        }
        if self.gone.contains(&k) {
            out.irrecoverable.push(Irrecoverable {
                key: format!("issue:{key}"),
                what: format!("{key} {what} {k} was deleted"),
                reason: format!(
                    "not restorable: {k} is gone and not recreated (pass --recreate-deleted)"
                ),
            });
            return None;
        }
        Some((Some(k), None))
    }
}

/// A description with an attribution line in front; an absent one becomes the line alone,
/// in the site's form (`adf`: Cloud).
pub(super) fn attributed_description(adf: bool, text: &Option<JiraText>, line: &str) -> JiraText {
    let empty = if adf {
        JiraText::Adf(serde_json::json!({"type": "doc", "version": 1, "content": []}))
    } else {
        JiraText::Wiki(String::new())
    };
    match text {
        Some(t) => attributed(t, line),
        None => match attributed(&empty, line) {
            // No trailing blank line under the attribution of an empty description.
            JiraText::Wiki(s) => JiraText::Wiki(s.trim_end().to_string()),
            adf => adf,
        },
    }
}

/// The attribution line of a recreated issue (key, creator and creation time cannot be
/// restored).
fn issue_attribution(t: &JiraIssue, snapshot: &str) -> String {
    format!(
        "Restored by backtrack from snapshot {snapshot}. Originally {}, created by {} on {}.",
        t.key,
        t.reporter.as_ref().map_or("an unknown user", |a| a.shown()),
        t.created_at.format("%Y-%m-%d %H:%M UTC")
    )
}

/// Recreates one deleted issue: its fields in one create, then its walk to the snapshot's
/// status. Its comments come with the others.
#[allow(clippy::too_many_arguments)]
fn plan_recreation(
    t: &JiraIssue,
    target: &RecordSet,
    live: &RecordSet,
    opts: &RollbackOptions,
    snapshot: &str,
    cx: &RollbackContext,
    links: &Links<'_>,
    out: &mut Planned,
) {
    // Parent links are part of what a subtask is: always set.
    let wants = |f: Field| opts.wants(f) || (t.subtask && f == Field::Parent);
    let mut blank = t.clone();
    blank.summary = String::new();
    blank.description = None;
    blank.labels = vec![];
    blank.components = vec![];
    blank.fix_versions = vec![];
    blank.priority = None;
    blank.assignee = None;
    blank.due_date = None;
    blank.story_points = None;
    blank.parent = None;
    blank.epic_link = None;
    let mut expected = links.expected(t, &blank, snapshot);
    expected.description = Some(links.attributed(&t.description, &issue_attribution(t, snapshot)));
    let fields: Vec<JiraChange> = links
        .mark(field_changes(&expected, &blank, live, &wants), &t.key, out)
        .into_iter()
        .filter(|c| !matches!(c, JiraChange::Summary { .. }))
        .collect();
    out.push(Operation::JiraRecreateIssue {
        original_id: t.id,
        original_key: t.key.clone(),
        summary: t.summary.clone(),
        issue_type: t.issue_type.clone(),
        subtask: t.subtask,
        fields,
        copy_of: None,
        epic_name: t.epic_name.clone(),
    });
    out.irrecoverable.push(Irrecoverable {
        key: format!("issue:{}", t.key),
        what: format!(
            "{} {:?} was deleted: recreated as a new {} (new key on execute)",
            t.key, t.summary, t.issue_type.name
        ),
        reason: format!(
            "Jira gives a created issue a new key: links, filters and mentions of {} do not follow; its creator ({}) and created date ({}) cannot be restored, so the recreation names them in an attribution line and carries the old key in its {} issue property",
            t.key,
            t.reporter.as_ref().map_or("unknown", |a| a.shown()),
            t.created_at.format("%Y-%m-%d"),
            crate::tracker::operation::RECREATED_PROPERTY,
        ),
    });
    if !opts.wants(Field::State) {
        return;
    }
    let Some(first) = initial_status(t, target, live) else {
        out.push(recreated_walk(t, "its first status", vec![]));
        return;
    };
    if first.id == t.status.id {
        return;
    }
    let from = (t.project.clone(), t.issue_type.id.clone(), first.id.clone());
    match cx.workflows.route(&from, &t.status.id) {
        Route::Here => {}
        Route::Path(edges) => out.push(recreated_walk(
            t,
            &first.name,
            edges.iter().map(|e| e.hop()).collect(),
        )),
        Route::Unknown => out.push(recreated_walk(t, &first.name, vec![])),
        Route::Unreachable => out.irrecoverable.push(Irrecoverable {
            key: format!("issue:{}", t.key),
            what: format!(
                "{}'s recreation: status {} → {} is unreachable",
                t.key, first.name, t.status.name
            ),
            reason: format!(
                "no transition path leads from {:?} (where a new {} starts) to {:?}; not attempted",
                first.name, t.issue_type.name, t.status.name
            ),
        }),
    }
}

fn recreated_walk(
    t: &JiraIssue,
    from: &str,
    path: Vec<crate::tracker::operation::Hop>,
) -> Operation {
    Operation::JiraTransition {
        id: t.id,
        key: t.key.clone(),
        from: from.to_string(),
        to: t.status.clone(),
        resolution: t.resolution.clone(),
        path,
        recreated: Some(t.id),
    }
}

fn shown_field(f: &str) -> &str {
    match f {
        "fixVersions" => "fix versions",
        "duedate" => "due date",
        "story_points" => "story points",
        "epic_link" => "Epic Link",
        other => other,
    }
}

fn plan_status(t: &JiraIssue, c: &JiraIssue, cx: &RollbackContext, out: &mut Planned) {
    if t.status.id == c.status.id {
        let resolution_differs = t.resolution.as_ref().map(|r| &r.id)
            != c.resolution.as_ref().map(|r| &r.id)
            && t.resolution.is_some();
        if resolution_differs {
            out.irrecoverable.push(Irrecoverable {
                key: format!("issue:{}", t.key),
                what: format!(
                    "{} resolution is {} (was {})",
                    t.key,
                    c.resolution.as_ref().map_or("none", |r| r.name.as_str()),
                    t.resolution.as_ref().map_or("none", |r| r.name.as_str())
                ),
                reason: "a resolution is set by a transition's screen; leave and re-enter the status by hand to change it".into(),
            });
        }
        return;
    }
    let route = cx.workflows.route(&status_key(c), &t.status.id);
    let path = match route {
        Route::Here => return,
        Route::Path(edges) => edges.iter().map(|e| e.hop()).collect(),
        Route::Unknown => Vec::new(),
        Route::Unreachable => {
            out.irrecoverable.push(Irrecoverable {
                key: format!("issue:{}", t.key),
                what: format!(
                    "{} status {} → {} is unreachable",
                    t.key, c.status.name, t.status.name
                ),
                reason: format!(
                    "no transition path leads from {:?} to {:?} in the workflow of {} {}s; not attempted",
                    c.status.name, t.status.name, c.project, c.issue_type.name
                ),
            });
            return;
        }
    };
    out.push(Operation::JiraTransition {
        id: c.id,
        key: c.key.clone(),
        from: c.status.name.clone(),
        to: t.status.clone(),
        resolution: t.resolution.clone(),
        path,
        recreated: None,
    });
}

fn plan_comments(
    target: &RecordSet,
    live: &RecordSet,
    opts: &RollbackOptions,
    snapshot: &str,
    cx: &RollbackContext,
    links: &Links<'_>,
    out: &mut Planned,
) {
    let mut recreate = Vec::new();
    for m in target.jira_comments.values() {
        if !opts.covers(m.issue_id) {
            continue;
        }
        let Some(t) = target.jira_issues.get(&m.issue_id) else {
            continue;
        };
        // On an issue that is there (or an earlier rollback's recreation of it), or on the
        // recreation this plan makes.
        let (issue_id, key, recreated) = match live_of(t, live, cx) {
            Some(issue) => (issue.id, issue.key.clone(), None),
            None if links.pending.contains_key(&t.key) => (t.id, t.key.clone(), Some(t.id)),
            None => continue, // reported with its deleted issue
        };
        match live.jira_comments.get(&m.id) {
            Some(current) => {
                if current.body != m.body || current.visibility != m.visibility {
                    out.push(Operation::JiraEditComment {
                        issue: issue_id,
                        key: key.clone(),
                        id: m.id,
                        from: current.body.to_text(),
                        to: m.body.clone(),
                        visibility: m.visibility.clone(),
                    });
                }
            }
            None => {
                if !cx.restored.contains_key(&m.id) {
                    recreate.push(Operation::JiraRecreateComment {
                        issue: issue_id,
                        key: key.clone(),
                        original_id: m.id,
                        body: attributed(&m.body, &attribution(m, snapshot)),
                        visibility: m.visibility.clone(),
                        recreated,
                    });
                }
                out.irrecoverable.push(Irrecoverable {
                    key: format!("comment:{}", m.id),
                    what: format!(
                        "comment {} on {} by {} ({})",
                        m.id,
                        t.key,
                        m.author.as_ref().map_or("an unknown user", |a| a.shown()),
                        m.created_at.format("%Y-%m-%d")
                    ),
                    reason: "recreated as the token's user with an attribution line: the original author and timestamps cannot be restored".into(),
                });
            }
        }
    }
    for op in recreate {
        out.push(op);
    }
}

fn plan_new_issues(
    target: &RecordSet,
    live: &RecordSet,
    opts: &RollbackOptions,
    cx: &RollbackContext,
    out: &mut Planned,
) {
    // Recreations by an earlier rollback: of an issue the target has, they stand for it;
    // of another, they are new here like any issue created since.
    let recreation_of: BTreeMap<&str, (u64, &str)> = cx
        .recreated
        .iter()
        .map(|(id, r)| (r.key.as_str(), (*id, r.original_key.as_str())))
        .collect();
    let new: Vec<&JiraIssue> = live
        .jira_issues
        .values()
        .filter(|i| !target.jira_issues.contains_key(&i.id))
        .filter(|i| {
            recreation_of
                .get(i.key.as_str())
                .is_none_or(|(original, _)| !target.jira_issues.contains_key(original))
        })
        .collect();
    let parent_id = |key: &str| {
        live.jira_issues
            .values()
            .find(|i| i.key == key)
            .map(|i| i.id)
    };
    let mut deleted: BTreeSet<&str> = BTreeSet::new();
    for i in &new {
        // With --only, a new subtask belongs to the issue it was added under.
        let covered = match opts.only() {
            None => true,
            Some(_) => {
                i.subtask
                    && i.parent
                        .as_deref()
                        .and_then(parent_id)
                        .is_some_and(|p| opts.covers(p))
            }
        };
        if !covered {
            continue;
        }
        let (asked, flag) = if i.subtask {
            (opts.delete_new_subtasks(), "--delete-new-subtasks")
        } else {
            (opts.delete_new_issues(), "--delete-new-issues")
        };
        let kind = if i.subtask { "subtask" } else { "issue" };
        if asked {
            // A subtask goes with its parent when that is deleted too (`deleteSubtasks`);
            // an epic's children (Cloud's `parent`) stay, and are deleted on their own.
            let parent_goes = i.subtask && i.parent.as_deref().is_some_and(|p| deleted.contains(p));
            deleted.insert(i.key.as_str());
            if !parent_goes {
                out.push(Operation::JiraDeleteIssue {
                    id: i.id,
                    key: i.key.clone(),
                    summary: i.summary.clone(),
                    subtask: i.subtask,
                });
            }
        } else {
            let what = match recreation_of.get(i.key.as_str()) {
                Some((_, original)) => format!(
                    "{} {:?} is a {kind} a rollback recreated (from {original}) after the snapshot",
                    i.key, i.summary
                ),
                None => format!(
                    "{} {:?} is a {kind} created after the snapshot",
                    i.key, i.summary
                ),
            };
            out.irrecoverable.push(Irrecoverable {
                key: format!("issue:{}", i.key),
                what,
                reason: format!("left alone; pass {flag} to delete it"),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::{json, Value};

    use super::*;
    use crate::diff::testkit::at;
    use crate::record::jira::{JiraStatus, JiraUser};
    use crate::tracker::jira::workflow::Edge;

    fn status(id: &str, name: &str) -> JiraStatus {
        JiraStatus {
            id: id.into(),
            name: name.into(),
            category: None,
        }
    }

    fn issue(id: u64, key: &str) -> JiraIssue {
        JiraIssue {
            id,
            key: key.into(),
            project: "PROJ".into(),
            summary: format!("issue {key}"),
            description: Some(JiraText::Wiki("text".into())),
            issue_type: JiraRef {
                id: "10001".into(),
                name: "Story".into(),
            },
            subtask: false,
            status: status("1", "To Do"),
            resolution: None,
            priority: None,
            assignee: None,
            reporter: None,
            labels: vec![],
            components: vec![],
            fix_versions: vec![],
            due_date: None,
            parent: None,
            epic_link: None,
            epic_name: None,
            subtasks: vec![],
            links: vec![],
            story_points: None,
            sprints: vec![],
            comments: 0,
            created_at: at(0),
            updated_at: at(0),
            url: None,
            raw: Value::Null,
        }
    }

    fn comment(id: u64, issue: u64, text: &str) -> JiraComment {
        JiraComment {
            id,
            issue_id: issue,
            body: JiraText::Wiki(text.into()),
            author: Some(JiraUser {
                id: "a".into(),
                display_name: Some("Alice".into()),
            }),
            created_at: at(0),
            updated_at: at(0),
            visibility: None,
            raw: Value::Null,
        }
    }

    fn set(issues: Vec<JiraIssue>, comments: Vec<JiraComment>) -> RecordSet {
        let mut s = RecordSet::default();
        for i in issues {
            s.jira_issues.insert(i.id, i);
        }
        for c in comments {
            s.jira_comments.insert(c.id, c);
        }
        s
    }

    fn edge(id: &str, to: &str) -> Edge {
        Edge {
            id: id.into(),
            name: format!("to {to}"),
            to: status(to, to),
            needs_resolution: false,
            resolution_on_screen: false,
            resolutions: vec![],
        }
    }

    fn opts() -> RollbackOptions {
        RollbackOptions::everything(at(1))
    }

    fn link(id: &str, other: &str) -> crate::record::jira::JiraLink {
        crate::record::jira::JiraLink {
            id: id.into(),
            kind: "Blocks".into(),
            phrase: "blocks".into(),
            outward: true,
            other: other.into(),
        }
    }

    #[test]
    fn links_added_or_removed_are_named_once_each_not_planned() {
        // Found by the Jira model test: link changes were neither restored nor named.
        let mut t1 = issue(1, "PROJ-1");
        t1.links = vec![link("100", "PROJ-2"), link("101", "PROJ-3")];
        let mut t2 = issue(2, "PROJ-2");
        t2.links = vec![link("100", "PROJ-1")];
        let mut t3 = issue(3, "PROJ-3");
        t3.links = vec![link("101", "PROJ-1")];
        let target = set(vec![t1, t2, t3.clone()], vec![]);
        // 100 removed (PROJ-1 and PROJ-2 both still there), 102 added to PROJ-2; PROJ-3
        // deleted, taking 101 with it.
        let mut l2 = issue(2, "PROJ-2");
        l2.links = vec![link("102", "PROJ-1")];
        let mut l1 = issue(1, "PROJ-1");
        l1.links = vec![link("102", "PROJ-2")];
        let live = set(vec![l1, l2], vec![]);
        let planned = plan(&target, &live, &opts(), "good", &RollbackContext::default());
        assert!(planned.ops.is_empty(), "{:?}", planned.ops);
        let mut keys: Vec<&str> = planned
            .irrecoverable
            .iter()
            .map(|i| i.key.as_str())
            .collect();
        keys.sort();
        assert_eq!(keys, ["issue:PROJ-3", "link:100", "link:101", "link:102"]);
        let what = |k: &str| {
            planned
                .irrecoverable
                .iter()
                .find(|i| i.key == k)
                .map(|i| i.what.clone())
                .unwrap()
        };
        assert_eq!(what("link:100"), "PROJ-1 blocks PROJ-2 was unlinked");
        assert!(what("link:102").contains("linked after the snapshot"));
        // Narrowed to other fields: not this rollback's business.
        let mut narrow = opts();
        narrow.fields = Some([Field::Title].into());
        let planned = plan(&target, &live, &narrow, "good", &RollbackContext::default());
        assert!(planned
            .irrecoverable
            .iter()
            .all(|i| !i.key.starts_with("link:")));
    }

    #[test]
    fn renamed_components_and_versions_are_named_and_their_issues_left_alone() {
        // Found by the Jira model test: a renamed definition passed for restored.
        use crate::record::jira::{Component, Version};
        let component = |name: &str| Component {
            id: 10,
            name: name.into(),
            description: None,
            lead: None,
            assignee_type: None,
            raw: Value::Null,
        };
        let version = |name: &str, released: bool| Version {
            id: 20,
            name: name.into(),
            description: Some(String::new()),
            released,
            archived: false,
            start_date: None,
            release_date: None,
            raw: Value::Null,
        };
        let mut t = issue(1, "PROJ-1");
        t.components = vec![JiraRef {
            id: "10".into(),
            name: "API".into(),
        }];
        let mut target = set(vec![t.clone()], vec![]);
        target.components.insert(10, component("API"));
        target.versions.insert(20, version("1.0", false));
        let mut now = t;
        now.components[0].name = "API (renamed)".into();
        let mut live = set(vec![now], vec![]);
        live.components.insert(10, component("API (renamed)"));
        live.versions.insert(20, version("1.0", true));
        let planned = plan(&target, &live, &opts(), "good", &RollbackContext::default());
        assert!(planned.ops.is_empty(), "{:?}", planned.ops);
        let named: Vec<(&str, &str)> = planned
            .irrecoverable
            .iter()
            .map(|i| (i.key.as_str(), i.what.as_str()))
            .collect();
        assert_eq!(
            named,
            [
                (
                    "component:10",
                    "component \"API\" was renamed to \"API (renamed)\""
                ),
                ("version:20", "version \"1.0\" was edited"),
            ]
        );
        // The same definitions, unchanged (a missing description reads as an empty one).
        live.components.insert(10, component("API"));
        live.versions.insert(20, version("1.0", false));
        target.versions.get_mut(&20).unwrap().description = None;
        let planned = plan(&target, &live, &opts(), "good", &RollbackContext::default());
        assert!(
            planned.irrecoverable.is_empty(),
            "{:?}",
            planned.irrecoverable
        );
    }

    #[test]
    fn fields_go_in_one_put_and_what_cannot_be_edited_is_named() {
        let target = set(vec![issue(1, "PROJ-1")], vec![]);
        let mut now = issue(1, "PROJ-1");
        now.summary = "wrecked".into();
        now.labels = vec!["x".into()];
        now.story_points = Some(8.0);
        let live = set(vec![now], vec![]);
        let ask = context_request(&target, &live, &opts());
        assert_eq!(ask.editmeta, [(1, "PROJ-1".to_string())]);
        let mut cx = RollbackContext::default();
        cx.editable
            .insert(1, ["summary".to_string(), "labels".to_string()].into());
        let planned = plan(&target, &live, &opts(), "good", &cx);
        assert_eq!(planned.ops.len(), 1);
        let Operation::JiraEditIssue { changes, .. } = &planned.ops[0].op else {
            panic!("{planned:?}")
        };
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert_eq!(planned.irrecoverable.len(), 1);
        assert!(planned.irrecoverable[0].what.contains("story points"));
    }

    #[test]
    fn statuses_walk_known_paths_and_unreachable_ones_are_named_not_planned() {
        let mut t1 = issue(1, "PROJ-1");
        t1.status = status("3", "Done");
        let mut t2 = issue(2, "PROJ-2");
        t2.status = status("9", "Archived");
        let target = set(vec![t1, t2], vec![]);
        let live = set(vec![issue(1, "PROJ-1"), issue(2, "PROJ-2")], vec![]);
        let ask = context_request(&target, &live, &opts());
        assert_eq!(ask.walks.len(), 2);
        assert_eq!(ask.samples.len(), 1);
        let mut cx = RollbackContext::default();
        let key = |s: &str| ("PROJ".to_string(), "10001".to_string(), s.to_string());
        cx.workflows.learn(key("1"), vec![edge("11", "2")]);
        cx.workflows
            .learn(key("2"), vec![edge("21", "1"), edge("31", "3")]);
        cx.workflows.learn(key("3"), vec![edge("41", "2")]);
        let planned = plan(&target, &live, &opts(), "good", &cx);
        assert_eq!(planned.ops.len(), 1, "{planned:?}");
        let Operation::JiraTransition { path, .. } = &planned.ops[0].op else {
            panic!()
        };
        assert_eq!(
            path.iter()
                .map(|h| h.transition.as_str())
                .collect::<Vec<_>>(),
            ["11", "31"]
        );
        assert_eq!(planned.irrecoverable.len(), 1);
        assert!(planned.irrecoverable[0].what.contains("unreachable"));
    }

    #[test]
    fn deleted_comments_are_recreated_once_and_new_subtasks_left_alone_unless_asked() {
        let target = set(
            vec![issue(1, "PROJ-1")],
            vec![comment(100, 1, "keep me"), comment(101, 1, "gone")],
        );
        let mut sub = issue(2, "PROJ-2");
        sub.subtask = true;
        sub.parent = Some("PROJ-1".into());
        let live = set(
            vec![issue(1, "PROJ-1"), sub],
            vec![comment(100, 1, "keep me")],
        );
        let ask = context_request(&target, &live, &opts());
        assert_eq!(ask.restored, ["PROJ-1"]);
        let planned = plan(&target, &live, &opts(), "good", &RollbackContext::default());
        assert_eq!(planned.ops.len(), 1);
        let Operation::JiraRecreateComment { body, .. } = &planned.ops[0].op else {
            panic!()
        };
        assert!(body.to_text().contains("Originally written by Alice"));
        assert!(body.to_text().ends_with("gone"));
        assert!(planned
            .irrecoverable
            .iter()
            .any(|i| i.key == "issue:PROJ-2" && i.reason.contains("--delete-new-subtasks")));
        // Found recreated (by its property): not planned again.
        let mut cx = RollbackContext::default();
        cx.restored.insert(101, 555);
        assert!(plan(&target, &live, &opts(), "good", &cx).ops.is_empty());
        let mut o = opts();
        o.delete_new_subtasks = true;
        let planned = plan(&target, &live, &o, "good", &cx);
        assert!(matches!(
            planned.ops[0].op,
            Operation::JiraDeleteIssue { ref key, .. } if key == "PROJ-2"
        ));
        let _ = json!(null);
    }

    #[test]
    fn deleted_issues_are_recreated_parents_first_and_found_again_by_their_property() {
        let mut story = issue(1, "PROJ-1");
        story.status = status("2", "In Progress");
        story.reporter = Some(JiraUser {
            id: "b".into(),
            display_name: Some("Bob".into()),
        });
        let mut sub = issue(2, "PROJ-2");
        sub.subtask = true;
        sub.parent = Some("PROJ-1".into());
        let mut todo = issue(3, "PROJ-3");
        todo.status.category = Some("new".into());
        let target = set(
            vec![sub.clone(), story.clone(), todo.clone()],
            vec![
                comment(100, 1, "on the story"),
                comment(101, 2, "on the subtask"),
            ],
        );
        let live = set(vec![todo.clone()], vec![]);
        let mut o = opts();
        // Without the flag: both named, nothing planned.
        let planned = plan(&target, &live, &o, "good", &RollbackContext::default());
        assert!(planned.ops.is_empty(), "{planned:?}");
        assert!(planned
            .irrecoverable
            .iter()
            .any(|i| i.key == "issue:PROJ-2" && i.reason.contains("--recreate-deleted")));

        o.recreate_deleted = true;
        let ask = context_request(&target, &live, &o);
        assert!(ask.recreated_since.is_some());
        assert_eq!(ask.recreated_comments, [1, 2].into());
        assert_eq!(ask.walks.len(), 1, "the story's walk from To Do: {ask:?}");
        let mut cx = RollbackContext::default();
        let key = |s: &str| ("PROJ".to_string(), "10001".to_string(), s.to_string());
        cx.workflows.learn(key("1"), vec![edge("11", "2")]);
        let planned = plan(&target, &live, &o, "good", &cx);
        let kinds: Vec<String> = planned
            .ops
            .iter()
            .map(|p| match &p.op {
                Operation::JiraRecreateIssue { original_key, .. } => {
                    format!("create {original_key}")
                }
                Operation::JiraTransition { key, recreated, .. } => {
                    format!("walk {key} {}", recreated.is_some())
                }
                Operation::JiraRecreateComment { key, recreated, .. } => {
                    format!("comment {key} {}", recreated.is_some())
                }
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "create PROJ-1",
                "walk PROJ-1 true",
                "create PROJ-2",
                "comment PROJ-1 true",
                "comment PROJ-2 true"
            ]
        );
        let Operation::JiraRecreateIssue { fields, .. } = &planned.ops[2].op else {
            panic!()
        };
        assert!(fields.iter().any(|f| matches!(
            f,
            JiraChange::Parent { to: Some(p), recreated: Some(1), .. } if p == "PROJ-1"
        )));
        let Operation::JiraRecreateIssue { fields, .. } = &planned.ops[0].op else {
            panic!()
        };
        let description = fields
            .iter()
            .find_map(|f| match f {
                JiraChange::Description { to: Some(t), .. } => Some(t.to_text()),
                _ => None,
            })
            .unwrap();
        assert!(
            description.contains("Originally PROJ-1, created by Bob")
                && description.ends_with("text"),
            "{description}"
        );
        let lost = planned
            .irrecoverable
            .iter()
            .find(|i| i.key == "issue:PROJ-1")
            .unwrap();
        assert!(lost.what.contains("new key on execute") && lost.reason.contains("created date"));

        // Recreated (as PROJ-7 and PROJ-8): the pairs match, and nothing is planned, nor
        // are the recreations listed as new.
        let mut story_again = story.clone();
        story_again.id = 7;
        story_again.key = "PROJ-7".into();
        story_again.description = Some(JiraText::Wiki(format!(
            "_{}_\n\ntext",
            issue_attribution(&story, "good")
        )));
        let mut sub_again = sub.clone();
        sub_again.id = 8;
        sub_again.key = "PROJ-8".into();
        sub_again.parent = Some("PROJ-7".into());
        sub_again.description = Some(JiraText::Wiki(format!(
            "_{}_\n\ntext",
            issue_attribution(&sub, "good")
        )));
        let live = set(vec![todo, story_again, sub_again], vec![]);
        let mut cx = RollbackContext::default();
        for (id, key, original) in [(1, "PROJ-7", "PROJ-1"), (2, "PROJ-8", "PROJ-2")] {
            cx.recreated.insert(
                id,
                crate::tracker::jira::workflow::Recreation {
                    key: key.into(),
                    original_key: original.into(),
                },
            );
        }
        cx.restored.insert(100, 900);
        cx.restored.insert(101, 901);
        let planned = plan(&target, &live, &o, "good", &cx);
        assert!(planned.ops.is_empty(), "{:?}", planned.ops);
        assert!(!planned
            .irrecoverable
            .iter()
            .any(|i| i.key == "issue:PROJ-7"));
    }
}
