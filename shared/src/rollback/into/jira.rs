//! Restore a Jira snapshot into another project (`restore REF --into jira:OTHER`).
//!
//! The copy is `rollback --recreate-deleted` pointed at another project: each issue of the
//! snapshot becomes a [`Operation::JiraRecreateIssue`] in the destination, carrying the
//! `backtrack.restored` issue property (`{original, key}`) in the same request, so a lost
//! answer, a resumed run and every later plan find the copy instead of creating it again.
//! Its status is walked ([`Operation::JiraTransition`]), its comments posted with their
//! comment property ([`Operation::JiraRecreateComment`]), its links recreated between the
//! copies ([`Operation::JiraLinkCopies`]); the tracker applies all of them with the code
//! the in-place recreation uses.
//!
//! The planner is a pure function of (snapshot, destination, what the destination's
//! create screens accept): values are mapped by name onto the destination (issue types,
//! priorities, components, versions, statuses, link types; people by account id on Cloud
//! and user name on Data Center), and whatever it lacks is named in the preview and left
//! out, never found missing mid-run. Components and versions it lacks are created, as a
//! GitHub copy creates labels and milestones. A copy that exists is compared with what it
//! should be and corrected in place, so a finished copy plans zero operations.

use std::collections::{BTreeMap, BTreeSet};

use super::super::jira::{attributed_description, field_changes};
use super::super::plan::{Irrecoverable, Planned};
use super::super::{Field, RollbackOptions};
use super::{loss, others_note, when};
use crate::record::jira::{JiraComment, JiraIssue, JiraRef, JiraStatus, JiraText, JiraVisibility};
use crate::record::RecordSet;
use crate::scope::Scope;
use crate::tracker::jira::attributed;
use crate::tracker::jira::workflow::{
    ContextRequest, CreateMeta, CreateType, RollbackContext, Route,
};
use crate::tracker::operation::{JiraChange, Operation, RECREATED_PROPERTY};

/// What planning a copy into `into` reads from the destination site.
pub(crate) fn context_request(
    source: &RecordSet,
    opts: &RollbackOptions,
    into: &Scope,
) -> ContextRequest {
    let mut ask = ContextRequest {
        create_meta: into.jira_project_key(),
        // Copies are made after the snapshot; a day early, as JQL dates are in the user's
        // time zone.
        recreated_since: Some((opts.snapshot_time() - chrono::Duration::days(1)).date_naive()),
        ..ContextRequest::default()
    };
    ask.recreated_comments = source.jira_comments.values().map(|c| c.issue_id).collect();
    ask.users = source
        .jira_issues
        .values()
        .filter_map(|i| i.assignee.as_ref())
        .chain(source.components.values().filter_map(|c| c.lead.as_ref()))
        .map(|u| u.id.clone())
        .collect();
    ask.groups = source
        .jira_comments
        .values()
        .filter_map(|c| c.visibility.as_ref())
        .filter(|v| v.kind == "group")
        .map(|v| v.value.clone())
        .collect();
    ask
}

/// The destination's resolution of `r`'s name, or `None` (named in `losses`).
fn resolution(
    r: &Option<JiraRef>,
    t: &JiraIssue,
    meta: &CreateMeta,
    losses: &mut Vec<Irrecoverable>,
) -> Option<JiraRef> {
    let r = r.as_ref()?;
    let found = meta
        .resolutions
        .iter()
        .find(|d| d.name.eq_ignore_ascii_case(&r.name));
    if found.is_none() {
        losses.push(loss(
            format!("issue:{}", t.key),
            format!("{} resolution {}", t.key, r.name),
            "the destination site has no resolution of this name; the copy gets the first its Done screen offers",
        ));
    }
    found.cloned()
}

/// Who may read a comment's copy: the destination's role or group of the same name. A
/// restriction the destination cannot express is `Err` (named in `losses`): the comment is
/// not copied rather than shown to everyone.
fn visibility(
    m: &JiraComment,
    t: &JiraIssue,
    meta: &CreateMeta,
    losses: &mut Vec<Irrecoverable>,
) -> Result<Option<JiraVisibility>, ()> {
    let Some(v) = &m.visibility else {
        return Ok(None);
    };
    let found = match v.kind.as_str() {
        "role" => meta
            .roles
            .iter()
            .find(|r| r.eq_ignore_ascii_case(&v.value))
            .cloned(),
        "group" => meta.groups.get(&v.value).cloned(),
        _ => None,
    };
    match found {
        Some(value) => Ok(Some(JiraVisibility {
            kind: v.kind.clone(),
            value,
        })),
        None => {
            losses.push(loss(
                format!("issue:{}", t.key),
                format!(
                    "{} comment {} (restricted to the {} {:?})",
                    t.key, m.id, v.kind, v.value
                ),
                format!(
                    "the destination has no such {}; the comment is not copied, rather than shown to everyone who can see the issue",
                    if v.kind == "role" { "project role" } else { "group" }
                ),
            ));
            Err(())
        }
    }
}

/// `text` in the destination's form: wiki markup and ADF are told apart by flavour, and a
/// copy between flavours keeps the words, not the formatting (named as a loss).
fn in_form(text: &JiraText, adf: bool) -> JiraText {
    match (text, adf) {
        (JiraText::Adf(_), true) | (JiraText::Wiki(_), false) => text.clone(),
        (JiraText::Adf(_), false) => JiraText::Wiki(text.to_text()),
        (JiraText::Wiki(s), true) => JiraText::Adf(serde_json::json!({
            "type": "doc",
            "version": 1,
            "content": s
                .split("\n\n")
                .filter(|p| !p.trim().is_empty())
                .map(|p| serde_json::json!({
                    "type": "paragraph",
                    "content": [{"type": "text", "text": p}],
                }))
                .collect::<Vec<_>>(),
        })),
    }
}

/// The attribution line of an issue's copy: where it came from, who created it and when.
pub fn issue_line(t: &JiraIssue, from: &Scope, snapshot: &str) -> String {
    format!(
        "Copied by backtrack from {from} (snapshot {snapshot}). Originally {}, created by {} on {}.",
        t.key,
        t.reporter.as_ref().map_or("an unknown user", |a| a.shown()),
        when(&t.created_at)
    )
}

/// The attribution line of a comment's copy.
pub fn comment_line(c: &JiraComment, t: &JiraIssue) -> String {
    format!(
        "Copied by backtrack from {} (comment {}). Originally written by {} on {}.",
        t.key,
        c.id,
        c.author.as_ref().map_or("an unknown user", |a| a.shown()),
        when(&c.created_at)
    )
}

/// Issues parents first: epics and other top-level issues, then the issues under an epic,
/// then subtasks; by id within each rank (the originals' creation order).
fn ordered(source: &RecordSet) -> Vec<&JiraIssue> {
    let keys: BTreeSet<&str> = source
        .jira_issues
        .values()
        .map(|i| i.key.as_str())
        .collect();
    let under = |l: &Option<String>| l.as_deref().is_some_and(|k| keys.contains(k));
    let mut all: Vec<&JiraIssue> = source.jira_issues.values().collect();
    all.sort_by_key(|i| {
        let rank = if i.subtask {
            2
        } else if under(&i.parent) || under(&i.epic_link) {
            1
        } else {
            0
        };
        (rank, i.id)
    });
    all
}

/// The copy of `t` as it should stand in the destination (parent and epic by the
/// original's key until mapped), with what the mapping loses.
struct Mapped {
    expected: JiraIssue,
    losses: Vec<Irrecoverable>,
}

/// Maps one issue's values onto the destination, by name.
#[allow(clippy::too_many_arguments)]
fn map_issue(
    t: &JiraIssue,
    ty: &CreateType,
    meta: &CreateMeta,
    live: &RecordSet,
    copies: &BTreeMap<u64, &JiraIssue>,
    by_key: &BTreeMap<&str, &JiraIssue>,
    from: &Scope,
    snapshot: &str,
) -> Mapped {
    let key = format!("issue:{}", t.key);
    let mut losses = Vec::new();
    let mut e = t.clone();
    e.project = meta.project.clone();
    e.issue_type = JiraRef {
        id: ty.id.clone(),
        name: ty.name.clone(),
    };
    e.description = Some(attributed_description(
        meta.adf,
        &t.description.as_ref().map(|d| in_form(d, meta.adf)),
        &issue_line(t, from, snapshot),
    ));
    e.priority = match &t.priority {
        None => None,
        Some(p) => match meta
            .priorities
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(&p.name))
        {
            Some(d) => Some(d.clone()),
            None => {
                losses.push(loss(
                    key.clone(),
                    format!("{} priority {}", t.key, p.name),
                    "the destination site has no priority of this name; the copy gets its default",
                ));
                None
            }
        },
    };
    let by_name = |refs: &[JiraRef], defs: Vec<(u64, &str)>| -> Vec<JiraRef> {
        refs.iter()
            .map(|r| match defs.iter().find(|(_, n)| *n == r.name) {
                Some((id, n)) => JiraRef {
                    id: id.to_string(),
                    name: n.to_string(),
                },
                // Created by this plan first: named by name.
                None => JiraRef {
                    id: String::new(),
                    name: r.name.clone(),
                },
            })
            .collect()
    };
    e.components = by_name(
        &t.components,
        live.components
            .values()
            .map(|c| (c.id, c.name.as_str()))
            .collect(),
    );
    e.fix_versions = by_name(
        &t.fix_versions,
        live.versions
            .values()
            .map(|v| (v.id, v.name.as_str()))
            .collect(),
    );
    if let Some(u) = &t.assignee {
        if !meta.users.contains(&u.id) {
            losses.push(loss(
                key.clone(),
                format!("{} assignee {}", t.key, u.shown()),
                "the destination site knows no such user; the copy is unassigned",
            ));
            e.assignee = None;
        }
    }
    // Parent and epic: to the copy when it exists, else the original's key (resolved to
    // the copy made earlier in the plan when applied). Between a site that records epics
    // in `parent` and one that uses the Epic Link field, the link moves to the other.
    let link = |l: &Option<String>, losses: &mut Vec<Irrecoverable>, what: &str| {
        let k = l.as_deref()?;
        match by_key.get(k) {
            Some(p) => Some(copies.get(&p.id).map_or(k.to_string(), |c| c.key.clone())),
            None => {
                losses.push(loss(
                    key.clone(),
                    format!("{} {what} {k}", t.key),
                    "not an issue of the snapshot, so the copy has none",
                ));
                None
            }
        }
    };
    e.parent = link(&t.parent, &mut losses, "parent");
    e.epic_link = link(&t.epic_link, &mut losses, "Epic Link");
    if !t.subtask {
        let (p, el) = (
            ty.fields.contains("parent"),
            ty.fields.contains("epic_link"),
        );
        if e.parent.is_some() && !p && el {
            e.epic_link = e.parent.take();
        } else if e.epic_link.is_some() && !el && p {
            e.parent = e.epic_link.take();
        }
    }
    if !t.sprints.is_empty() {
        losses.push(loss(
            key.clone(),
            format!("{} sprints {}", t.key, t.sprints.join(", ")),
            "sprints belong to the source project's boards; the copy is in none",
        ));
    }
    Mapped {
        expected: e,
        losses,
    }
}

/// Parent and epic links to originals not copied yet: resolved to their copies when
/// applied (the original's id, as for a recreated parent).
fn mark(changes: Vec<JiraChange>, by_key: &BTreeMap<&str, &JiraIssue>) -> Vec<JiraChange> {
    let pending = |to: &Option<String>| to.as_deref().and_then(|k| by_key.get(k)).map(|p| p.id);
    changes
        .into_iter()
        .map(|ch| match ch {
            JiraChange::Parent { from, to, .. } => JiraChange::Parent {
                recreated: pending(&to),
                from,
                to,
            },
            JiraChange::EpicLink { from, to, .. } => JiraChange::EpicLink {
                recreated: pending(&to),
                from,
                to,
            },
            other => other,
        })
        .collect()
}

/// Keeps the changes the type's create screen accepts; names the others.
fn on_screen(
    changes: Vec<JiraChange>,
    t: &JiraIssue,
    ty: &CreateType,
    losses: &mut Vec<Irrecoverable>,
) -> Vec<JiraChange> {
    changes
        .into_iter()
        .filter(|ch| {
            let ok = matches!(ch, JiraChange::Summary { .. }) || ty.fields.contains(ch.field());
            if !ok {
                losses.push(loss(
                    format!("issue:{}", t.key),
                    format!("{} {}", t.key, ch.field()),
                    format!(
                        "not on the create screen of the destination's {} type; left out",
                        ty.name
                    ),
                ));
            }
            ok
        })
        .collect()
}

/// The Epic Name a copy is created with, where the destination type's create screen has
/// the field: the snapshot's, else (when the screen requires one, as Data Center's epic
/// screen does) the summary. One the screen lacks is named in `losses`.
fn epic_name(t: &JiraIssue, ty: &CreateType, losses: &mut Vec<Irrecoverable>) -> Option<String> {
    let key = format!("issue:{}", t.key);
    if !ty.fields.contains("epic_name") {
        if let Some(n) = &t.epic_name {
            losses.push(loss(
                key,
                format!("{} Epic Name {n:?}", t.key),
                format!(
                    "not on the create screen of the destination's {} type; left out (the summary names the epic)",
                    ty.name
                ),
            ));
        }
        return None;
    }
    match &t.epic_name {
        Some(n) => Some(n.clone()),
        None if ty.required.contains("epic_name") => {
            losses.push(loss(
                key,
                format!("{} Epic Name", t.key),
                "the snapshot has none (its site keeps no Epic Name) and the destination requires one; the copy's is its summary",
            ));
            Some(t.summary.clone())
        }
        None => None,
    }
}

/// The status a new issue of `ty` starts in, as far as the site tells: the first of its
/// workflow's statuses in the "new" category, else its first.
fn first_status(ty: &CreateType) -> Option<&JiraStatus> {
    ty.statuses
        .iter()
        .find(|s| s.category.as_deref() == Some("new"))
        .or(ty.statuses.first())
}

/// The plan that copies `source` (a snapshot of `from`) into the project whose current
/// state is `live`, with what the destination told in `cx` (see the module docs).
pub(crate) fn plan(
    source: &RecordSet,
    from: &Scope,
    live: &RecordSet,
    snapshot: &str,
    cx: &RollbackContext,
) -> Planned {
    let mut out = Planned::default();
    let Some(meta) = &cx.create_meta else {
        out.notes
            .push("the destination's create metadata could not be read; nothing is planned".into());
        return out;
    };
    let mut losses: Vec<Irrecoverable> = Vec::new();
    let all = |_: Field| true;

    // Components and versions: reused by name, created where the destination lacks them.
    let mut components: Vec<_> = source.components.values().collect();
    components.sort_by(|a, b| a.name.cmp(&b.name));
    for c in components {
        if live.components.values().any(|l| l.name == c.name) {
            continue;
        }
        let lead = c.lead.clone().filter(|u| meta.users.contains(&u.id));
        if let (Some(u), None) = (&c.lead, &lead) {
            losses.push(loss(
                format!("component:{}", c.id),
                format!("component {:?} lead {}", c.name, u.shown()),
                "the destination site knows no such user; the component has no lead",
            ));
        }
        out.push(Operation::JiraCreateComponent {
            original_id: c.id,
            name: c.name.clone(),
            description: c.description.clone(),
            lead,
            assignee_type: c.assignee_type.clone(),
        });
    }
    let mut versions: Vec<_> = source.versions.values().collect();
    versions.sort_by(|a, b| a.name.cmp(&b.name));
    for v in versions {
        if live.versions.values().any(|l| l.name == v.name) {
            continue;
        }
        out.push(Operation::JiraCreateVersion {
            original_id: v.id,
            name: v.name.clone(),
            description: v.description.clone(),
            released: v.released,
            archived: v.archived,
            start_date: v.start_date,
            release_date: v.release_date,
        });
    }

    // Copies already made (by their issue property), and the destination's own issues.
    let by_key: BTreeMap<&str, &JiraIssue> = source
        .jira_issues
        .values()
        .map(|i| (i.key.as_str(), i))
        .collect();
    let copies: BTreeMap<u64, &JiraIssue> = cx
        .recreated
        .iter()
        .filter(|(id, r)| {
            source
                .jira_issues
                .get(id)
                .is_some_and(|t| t.key == r.original_key)
        })
        .filter_map(|(id, r)| {
            live.jira_issues
                .values()
                .find(|i| i.key == r.key)
                .map(|c| (*id, c))
        })
        .collect();
    let copy_ids: BTreeSet<u64> = copies.values().map(|c| c.id).collect();
    let others = live
        .jira_issues
        .keys()
        .filter(|id| !copy_ids.contains(id))
        .count();
    if let Some(note) = others_note(others, "issue(s)") {
        out.notes.push(note);
    }

    let mut comments_of: BTreeMap<u64, Vec<&JiraComment>> = BTreeMap::new();
    for c in source.jira_comments.values() {
        comments_of.entry(c.issue_id).or_default().push(c);
    }
    for list in comments_of.values_mut() {
        list.sort_by_key(|c| (c.created_at, c.id));
    }

    let (mut creates, mut updates, mut comments, mut links) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Issues that cannot be copied (no type to copy them as, or under one that is not).
    let mut skipped: BTreeSet<&str> = BTreeSet::new();
    let mut n_copied = 0usize;
    let mut n_comments = 0usize;
    for t in ordered(source) {
        let key = format!("issue:{}", t.key);
        let parent_skipped = t.parent.as_deref().is_some_and(|p| skipped.contains(p));
        let ty = meta.issue_type(&t.issue_type.name, t.subtask).or_else(|| {
            // A standard type the destination lacks: its first standard type that is not
            // an epic; a subtask type: its first subtask type.
            meta.types.iter().find(|ty| {
                ty.subtask == t.subtask && (t.subtask || !ty.name.eq_ignore_ascii_case("epic"))
            })
        });
        let Some(ty) = ty.filter(|_| !parent_skipped) else {
            skipped.insert(t.key.as_str());
            losses.push(loss(
                key,
                format!("{} {:?} is not copied", t.key, t.summary),
                if parent_skipped {
                    "its parent is not copied, and a subtask needs one".to_string()
                } else {
                    format!(
                        "the destination project has no {} issue type to create it as",
                        if t.subtask { "subtask" } else { "standard" }
                    )
                },
            ));
            continue;
        };
        if t.subtask && t.parent.as_deref().is_none_or(|p| !by_key.contains_key(p)) {
            skipped.insert(t.key.as_str());
            losses.push(loss(
                key,
                format!("{} {:?} is not copied", t.key, t.summary),
                "a subtask needs a parent, and its parent is not in the snapshot",
            ));
            continue;
        }
        n_copied += 1;
        if !ty.name.eq_ignore_ascii_case(&t.issue_type.name) {
            losses.push(loss(
                key.clone(),
                format!("{} issue type {}", t.key, t.issue_type.name),
                format!(
                    "the destination project has no such type; the copy is a {}",
                    ty.name
                ),
            ));
        }
        let mapped = map_issue(t, ty, meta, live, &copies, &by_key, from, snapshot);
        losses.extend(mapped.losses);
        let e = mapped.expected;
        let resolved = resolution(&t.resolution, t, meta, &mut losses);
        let target = ty
            .statuses
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(&t.status.name))
            .cloned();
        if target.is_none() {
            losses.push(loss(
                key.clone(),
                format!("{} status {}", t.key, t.status.name),
                format!(
                    "the workflow of the destination's {} type has no such status; the copy stays where it starts",
                    ty.name
                ),
            ));
        }
        match copies.get(&t.id) {
            None => {
                let mut blank = e.clone();
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
                let fields = mark(field_changes(&e, &blank, live, &all), &by_key);
                let fields = on_screen(fields, t, ty, &mut losses)
                    .into_iter()
                    .filter(|c| !matches!(c, JiraChange::Summary { .. }))
                    .collect();
                creates.push(Operation::JiraRecreateIssue {
                    original_id: t.id,
                    original_key: t.key.clone(),
                    summary: t.summary.clone(),
                    issue_type: e.issue_type.clone(),
                    subtask: t.subtask,
                    fields,
                    copy_of: Some(from.to_string()),
                    epic_name: epic_name(t, ty, &mut losses),
                });
                let first = first_status(ty);
                if let (Some(to), Some(first)) = (&target, first) {
                    if to.id != first.id {
                        let start = (meta.project.clone(), ty.id.clone(), first.id.clone());
                        let path = match cx.workflows.route(&start, &to.id) {
                            Route::Path(edges) => edges.iter().map(|e| e.hop()).collect(),
                            _ => Vec::new(),
                        };
                        creates.push(Operation::JiraTransition {
                            id: t.id,
                            key: t.key.clone(),
                            from: first.name.clone(),
                            to: to.clone(),
                            resolution: resolved.clone(),
                            path,
                            recreated: Some(t.id),
                        });
                    }
                }
            }
            Some(c) => {
                let changes = mark(field_changes(&e, c, live, &all), &by_key);
                let changes = on_screen(changes, t, ty, &mut losses);
                if !changes.is_empty() {
                    updates.push(Operation::JiraEditIssue {
                        id: c.id,
                        key: c.key.clone(),
                        summary: t.summary.clone(),
                        changes,
                    });
                }
                if let Some(to) = target.as_ref().filter(|to| to.id != c.status.id) {
                    let start = (
                        c.project.clone(),
                        c.issue_type.id.clone(),
                        c.status.id.clone(),
                    );
                    let path = match cx.workflows.route(&start, &to.id) {
                        Route::Path(edges) => edges.iter().map(|e| e.hop()).collect(),
                        _ => Vec::new(),
                    };
                    updates.push(Operation::JiraTransition {
                        id: c.id,
                        key: c.key.clone(),
                        from: c.status.name.clone(),
                        to: to.clone(),
                        resolution: resolved.clone(),
                        path,
                        recreated: None,
                    });
                }
            }
        }

        // Comments, in their original order, each with its attribution line.
        for m in comments_of.get(&t.id).into_iter().flatten() {
            let Ok(seen_by) = visibility(m, t, meta, &mut losses) else {
                continue;
            };
            n_comments += 1;
            let body = attributed(&in_form(&m.body, meta.adf), &comment_line(m, t));
            let posted = cx
                .restored
                .get(&m.id)
                .and_then(|id| live.jira_comments.get(id))
                .filter(|l| copies.get(&t.id).is_some_and(|c| c.id == l.issue_id));
            match (posted, copies.get(&t.id)) {
                (Some(l), Some(c)) => {
                    // By text: a site may store a document in its own normal form.
                    if l.body.to_text() != body.to_text() || l.visibility != seen_by {
                        comments.push(Operation::JiraEditComment {
                            issue: c.id,
                            key: c.key.clone(),
                            id: l.id,
                            from: l.body.to_text(),
                            to: body,
                            visibility: seen_by,
                        });
                    }
                }
                _ => comments.push(Operation::JiraRecreateComment {
                    issue: t.id,
                    key: t.key.clone(),
                    original_id: m.id,
                    body,
                    visibility: seen_by,
                    recreated: Some(t.id),
                }),
            }
        }

        // Links, from the side that reads the outward phrase, between copied issues.
        for l in t.links.iter().filter(|l| l.outward) {
            let Some(other) = by_key.get(l.other.as_str()) else {
                losses.push(loss(
                    key.clone(),
                    format!("{} link {}", t.key, l.label()),
                    "the other issue is not in the snapshot, so the copy has no such link",
                ));
                continue;
            };
            if !meta.link_types.contains(&l.kind) {
                losses.push(loss(
                    key.clone(),
                    format!("{} link {}", t.key, l.label()),
                    format!("the destination site has no {:?} link type", l.kind),
                ));
                continue;
            }
            let linked = match (copies.get(&t.id), copies.get(&other.id)) {
                (Some(a), Some(b)) => a
                    .links
                    .iter()
                    .any(|x| x.outward && x.kind == l.kind && x.other == b.key),
                _ => false,
            };
            if !linked {
                links.push((
                    t.key.clone(),
                    l.other.clone(),
                    Operation::JiraLinkCopies {
                        kind: l.kind.clone(),
                        phrase: l.phrase.clone(),
                        outward: (t.id, t.key.clone()),
                        inward: (other.id, other.key.clone()),
                    },
                ));
            }
        }
    }
    // A link whose other end is skipped cannot be made either.
    for (a, b, op) in links {
        if skipped.contains(a.as_str()) || skipped.contains(b.as_str()) {
            continue;
        }
        comments.push(op);
    }
    for op in creates.into_iter().chain(updates).chain(comments) {
        out.push(op);
    }

    if n_copied > 0 {
        let head = [
            loss(
                "keys",
                format!("the keys of {n_copied} issue(s)"),
                format!(
                    "copies get {}'s next free keys; the old → new keys are printed after execution, and each copy names its original in its attribution line and its {RECREATED_PROPERTY} issue property",
                    meta.project
                ),
            ),
            loss(
                "authors",
                format!("the reporters of {n_copied} issue(s) and the authors of {n_comments} comment(s)"),
                "every copy is created by the token's user; the original creator or author is named in its attribution line",
            ),
            loss(
                "dates",
                "created, updated and resolved dates",
                "copies are dated when they are written; the original created dates are in the attribution lines",
            ),
        ];
        losses.splice(0..0, head);
    }
    let adf_source = source
        .jira_issues
        .values()
        .filter_map(|i| i.description.as_ref())
        .chain(source.jira_comments.values().map(|c| &c.body))
        .next()
        .map(|t| matches!(t, JiraText::Adf(_)));
    if adf_source.is_some_and(|a| a != meta.adf) {
        losses.push(loss(
            "formatting",
            "rich-text formatting of descriptions and comments",
            "the snapshot and the destination site use different text formats (ADF and wiki markup); the copies keep the words, paragraph by paragraph",
        ));
    }
    out.irrecoverable.extend(losses);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::Value;

    use super::*;
    use crate::diff::testkit::at;
    use crate::record::jira::{JiraLink, JiraUser};
    use crate::tracker::jira::workflow::Recreation;

    fn status(id: &str, name: &str, cat: &str) -> JiraStatus {
        JiraStatus {
            id: id.into(),
            name: name.into(),
            category: Some(cat.into()),
        }
    }

    fn issue(id: u64, key: &str, ty: &str) -> JiraIssue {
        JiraIssue {
            id,
            key: key.into(),
            project: "PROJ".into(),
            summary: format!("issue {key}"),
            description: Some(JiraText::Wiki("text".into())),
            issue_type: JiraRef {
                id: "1".into(),
                name: ty.into(),
            },
            subtask: ty == "Sub-task",
            status: status("1", "To Do", "new"),
            resolution: None,
            priority: Some(JiraRef {
                id: "3".into(),
                name: "Medium".into(),
            }),
            assignee: Some(JiraUser {
                id: "amy".into(),
                display_name: Some("Amy".into()),
            }),
            reporter: Some(JiraUser {
                id: "bob".into(),
                display_name: Some("Bob".into()),
            }),
            labels: vec!["x".into()],
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

    fn meta() -> CreateMeta {
        let flow = vec![
            status("10", "To Do", "new"),
            status("11", "In Progress", "indeterminate"),
            status("12", "Done", "done"),
        ];
        let ty = |id: &str, name: &str, subtask: bool, parent: bool| CreateType {
            id: id.into(),
            name: name.into(),
            subtask,
            fields: ["summary", "description", "labels", "priority", "assignee"]
                .into_iter()
                .chain(parent.then_some("parent"))
                .chain((name == "Epic").then_some("epic_name"))
                .map(String::from)
                .collect(),
            required: (name == "Epic")
                .then(|| "epic_name".to_string())
                .into_iter()
                .collect(),
            statuses: flow.clone(),
        };
        CreateMeta {
            project: "DEST".into(),
            adf: false,
            types: vec![
                ty("100", "Epic", false, false),
                ty("101", "Story", false, true),
                ty("102", "Sub-task", true, true),
            ],
            priorities: vec![JiraRef {
                id: "30".into(),
                name: "Medium".into(),
            }],
            link_types: ["Blocks".to_string()].into(),
            users: ["amy".to_string()].into(),
            resolutions: vec![JiraRef {
                id: "2".into(),
                name: "Won't Do".into(),
            }],
            roles: ["Developers".to_string()].into(),
            groups: BTreeSet::new(),
        }
    }

    fn source() -> RecordSet {
        let mut s = RecordSet::default();
        let epic = issue(1, "PROJ-1", "Epic");
        let mut story = issue(2, "PROJ-2", "Story");
        story.parent = Some("PROJ-1".into());
        story.status = status("3", "Done", "done");
        story.links = vec![JiraLink {
            id: "9".into(),
            kind: "Blocks".into(),
            phrase: "blocks".into(),
            outward: true,
            other: "PROJ-1".into(),
        }];
        let mut sub = issue(3, "PROJ-3", "Sub-task");
        sub.parent = Some("PROJ-2".into());
        sub.assignee = Some(JiraUser {
            id: "ghost".into(),
            display_name: None,
        });
        for i in [sub, story, epic] {
            s.jira_issues.insert(i.id, i);
        }
        s.jira_comments.insert(
            50,
            JiraComment {
                id: 50,
                issue_id: 3,
                body: JiraText::Wiki("hello".into()),
                author: None,
                created_at: at(0),
                updated_at: at(0),
                visibility: None,
                raw: Value::Null,
            },
        );
        s
    }

    fn cx() -> RollbackContext {
        RollbackContext {
            create_meta: Some(meta()),
            ..RollbackContext::default()
        }
    }

    fn from() -> Scope {
        "jira:PROJ".parse().unwrap()
    }

    fn kinds(p: &Planned) -> Vec<String> {
        p.ops
            .iter()
            .map(|o| match &o.op {
                Operation::JiraRecreateIssue { original_key, .. } => format!("copy {original_key}"),
                Operation::JiraTransition { key, .. } => format!("walk {key}"),
                Operation::JiraRecreateComment { key, .. } => format!("comment {key}"),
                Operation::JiraLinkCopies {
                    outward, inward, ..
                } => {
                    format!("link {} {}", outward.1, inward.1)
                }
                other => format!("{other:?}"),
            })
            .collect()
    }

    /// An empty project gets every issue parents first, each walked where it must go, then
    /// the comments and links; values mapped by name, what the site lacks named.
    #[test]
    fn an_empty_project_gets_every_issue_parents_first() {
        let p = plan(&source(), &from(), &RecordSet::default(), "s1", &cx());
        assert_eq!(
            kinds(&p),
            [
                "copy PROJ-1",
                "copy PROJ-2",
                "walk PROJ-2",
                "copy PROJ-3",
                "comment PROJ-3",
                "link PROJ-2 PROJ-1"
            ]
        );
        let Operation::JiraRecreateIssue {
            fields, issue_type, ..
        } = &p.ops[3].op
        else {
            panic!()
        };
        assert_eq!(issue_type.id, "102");
        assert!(fields.iter().any(|f| matches!(
            f,
            JiraChange::Parent { to: Some(k), recreated: Some(2), .. } if k == "PROJ-2"
        )));
        assert!(fields.iter().any(|f| matches!(
            f,
            JiraChange::Priority { to: Some(r), .. } if r.id == "30"
        )));
        assert!(!fields
            .iter()
            .any(|f| matches!(f, JiraChange::Assignee { .. })));
        let description = fields
            .iter()
            .find_map(|f| match f {
                JiraChange::Description { to: Some(t), .. } => Some(t.to_text()),
                _ => None,
            })
            .unwrap();
        assert!(
            description.starts_with("_Copied by backtrack from jira:PROJ (snapshot s1). Originally PROJ-3, created by Bob on "),
            "{description}"
        );
        let Operation::JiraTransition { to, .. } = &p.ops[2].op else {
            panic!()
        };
        assert_eq!(to.id, "12", "mapped by name onto the destination's Done");
        let lost: Vec<&str> = p.irrecoverable.iter().map(|l| l.what.as_str()).collect();
        assert!(
            lost.iter().any(|w| w.contains("assignee ghost")),
            "{lost:?}"
        );
        assert_eq!(p.irrecoverable[0].key, "keys");
        assert!(p.notes.is_empty());
    }

    /// A destination holding the copies (found by their property) plans nothing; one
    /// holding issues of its own says so and leaves them be.
    #[test]
    fn copies_already_made_are_not_made_again() {
        let src = source();
        let m = meta();
        let mut live = RecordSet::default();
        let mut cx = cx();
        let keys: BTreeMap<&str, &str> = [
            ("PROJ-1", "DEST-1"),
            ("PROJ-2", "DEST-2"),
            ("PROJ-3", "DEST-3"),
        ]
        .into();
        for (n, t) in src.jira_issues.values().enumerate() {
            let n = n as u64 + 100;
            let ty = m.issue_type(&t.issue_type.name, t.subtask).unwrap();
            let mut c = t.clone();
            c.id = n;
            c.key = keys[t.key.as_str()].into();
            c.project = "DEST".into();
            c.issue_type = JiraRef {
                id: ty.id.clone(),
                name: ty.name.clone(),
            };
            c.status = ty
                .statuses
                .iter()
                .find(|s| s.name == t.status.name)
                .unwrap()
                .clone();
            c.priority = Some(m.priorities[0].clone());
            c.description = Some(attributed_description(
                false,
                &t.description,
                &issue_line(t, &from(), "s1"),
            ));
            c.parent = t.parent.as_deref().map(|p| keys[p].to_string());
            c.links = t
                .links
                .iter()
                .map(|l| JiraLink {
                    other: keys[l.other.as_str()].into(),
                    ..l.clone()
                })
                .collect();
            if t.id == 3 {
                c.assignee = None;
            }
            cx.recreated.insert(
                t.id,
                Recreation {
                    key: c.key.clone(),
                    original_key: t.key.clone(),
                },
            );
            live.jira_issues.insert(n, c);
        }
        let own = issue(999, "DEST-9", "Story");
        live.jira_issues.insert(999, own);
        let m50 = &src.jira_comments[&50];
        let mut posted = m50.clone();
        posted.id = 700;
        posted.issue_id = 102;
        posted.body = attributed(&m50.body, &comment_line(m50, &src.jira_issues[&3]));
        live.jira_comments.insert(700, posted);
        cx.restored.insert(50, 700);
        let p = plan(&src, &from(), &live, "s1", &cx);
        assert!(p.ops.is_empty(), "{:#?}", p.ops);
        assert_eq!(p.notes.len(), 1, "{:?}", p.notes);
    }

    /// Resolutions and comment restrictions are mapped by name; an Epic Name is carried,
    /// or the summary where the destination requires one; what has no counterpart is named.
    #[test]
    fn resolutions_visibility_and_epic_names_map_by_name() {
        let mut src = source();
        let epic = src.jira_issues.get_mut(&1).unwrap();
        epic.epic_name = None;
        let story = src.jira_issues.get_mut(&2).unwrap();
        story.resolution = Some(JiraRef {
            id: "10001".into(),
            name: "won't do".into(),
        });
        let mut second = src.jira_comments[&50].clone();
        second.id = 51;
        second.visibility = Some(JiraVisibility {
            kind: "role".into(),
            value: "developers".into(),
        });
        let mut third = second.clone();
        third.id = 52;
        third.visibility = Some(JiraVisibility {
            kind: "group".into(),
            value: "jira-software-users".into(),
        });
        for c in [second, third] {
            src.jira_comments.insert(c.id, c);
        }
        let p = plan(&src, &from(), &RecordSet::default(), "s1", &cx());
        let epic_name = p.ops.iter().find_map(|o| match &o.op {
            Operation::JiraRecreateIssue {
                original_key,
                epic_name,
                ..
            } if original_key == "PROJ-1" => Some(epic_name.clone()),
            _ => None,
        });
        assert_eq!(epic_name, Some(Some("issue PROJ-1".to_string())));
        let walk = p.ops.iter().find_map(|o| match &o.op {
            Operation::JiraTransition { resolution, .. } => Some(resolution.clone()),
            _ => None,
        });
        assert_eq!(walk.unwrap().unwrap().id, "2");
        let posted: Vec<(u64, Option<JiraVisibility>)> = p
            .ops
            .iter()
            .filter_map(|o| match &o.op {
                Operation::JiraRecreateComment {
                    original_id,
                    visibility,
                    ..
                } => Some((*original_id, visibility.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(posted.len(), 2, "{posted:?}");
        assert_eq!(
            posted[1].1,
            Some(JiraVisibility {
                kind: "role".into(),
                value: "Developers".into()
            })
        );
        let lost: Vec<&str> = p.irrecoverable.iter().map(|l| l.what.as_str()).collect();
        assert!(
            lost.iter()
                .any(|w| w.contains("comment 52") && w.contains("group \"jira-software-users\"")),
            "{lost:?}"
        );
        assert!(lost.contains(&"PROJ-1 Epic Name"), "{lost:?}");
        assert!(!lost.iter().any(|w| w.contains("resolution")), "{lost:?}");
    }
}
