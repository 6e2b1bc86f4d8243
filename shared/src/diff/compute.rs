//! Computing a [`Diff`]: matching records across the two sides and comparing the fields
//! their tracker's [`Schema`] declares.
//!
//! Cost model: one pass over each side's items and comments with map lookups, so the work is
//! proportional to the number of records. An unchanged record costs one equality check and
//! allocates nothing; only records that differ are projected into their compared fields, and
//! line diffs run only for texts that differ.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use super::schema::{Definition, DefinitionView, ItemHead, Schema, Val};
use super::{
    lines, Change, ChangeKind, DefinitionCount, Diff, DiffOptions, Field, IssueEntry, Op, Summary,
};
use crate::record::RecordSet;

/// Compares two record sets field by field, as `schema` (the scope's tracker's) declares.
///
/// `from` is the earlier (or reference) side, `to` the later one: a record only in `to` is
/// `added`, one only in `from` is `removed`. The returned diff has blank [`Side`](super::Side)s;
/// set them with [`Diff::with_sides`].
pub fn diff(schema: &Schema, from: &RecordSet, to: &RecordSet, opts: &DiffOptions) -> Diff {
    let mut defs: Vec<Defs> = schema
        .definitions
        .iter()
        .map(|d| definition_changes(d, from, to))
        .collect();
    let mut issues: BTreeMap<u64, IssueAcc> = BTreeMap::new();
    let items = &schema.items;
    let skip = |h: &ItemHead<'_>| !opts.include_prs && h.pull_request;

    for (id, a) in from.iter_kind(items.record) {
        let Some(ha) = (items.head)(a) else { continue };
        if skip(&ha) {
            continue;
        }
        match to.get_id(items.record, id) {
            None => {
                let change = item_change(
                    &ha,
                    Field::Record,
                    Op::Removed,
                    (items.whole)(a),
                    Value::Null,
                );
                IssueAcc::get(&mut issues, &ha, Op::Removed)
                    .fields
                    .push(change);
            }
            Some(b) if a == b => {}
            Some(b) => {
                let Some(hb) = (items.head)(b) else { continue };
                let mut fields = Vec::new();
                let mut folds = Folds {
                    schema,
                    defs: &mut defs,
                    item: &hb,
                };
                for ((field, va), (_, vb)) in (items.fields)(a).into_iter().zip((items.fields)(b)) {
                    compare(
                        field,
                        va,
                        vb,
                        opts,
                        Some(&mut folds),
                        &mut |f, op, before, after, hunks| {
                            let mut c = item_change(&hb, f, op, before, after);
                            c.hunks = hunks;
                            fields.push(c);
                        },
                    );
                }
                if !fields.is_empty() {
                    IssueAcc::get(&mut issues, &hb, Op::Changed).fields = fields;
                }
            }
        }
    }
    for (id, b) in to.iter_kind(items.record) {
        let Some(hb) = (items.head)(b) else { continue };
        if !skip(&hb) && !from.contains(items.record, id) {
            let change = item_change(&hb, Field::Record, Op::Added, Value::Null, (items.whole)(b));
            IssueAcc::get(&mut issues, &hb, Op::Added)
                .fields
                .push(change);
        }
    }

    compare_comments(schema, from, to, opts, &mut issues);
    assemble(schema, defs, issues)
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
    fn get<'a>(
        map: &'a mut BTreeMap<u64, IssueAcc>,
        head: &ItemHead<'_>,
        op: Op,
    ) -> &'a mut IssueAcc {
        map.entry(head.id).or_insert_with(|| IssueAcc {
            entry: IssueEntry {
                number: head.id,
                key: head.key.map(str::to_string),
                title: head.title.to_string(),
                url: head.url.map(str::to_string),
                pull_request: head.pull_request,
                op,
            },
            fields: Vec::new(),
            comments: Vec::new(),
        })
    }
}

/// Definition changes of one kind, with what issue changes fold into.
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

/// Where an item's set and reference changes may fold: the definitions compared so far.
struct Folds<'s, 'd, 'h> {
    schema: &'s Schema,
    defs: &'d mut Vec<Defs>,
    item: &'h ItemHead<'h>,
}

impl Folds<'_, '_, '_> {
    fn defs_of(&mut self, kind: ChangeKind) -> Option<&mut Defs> {
        let at = self
            .schema
            .definitions
            .iter()
            .position(|d| d.change == kind)?;
        self.defs.get_mut(at)
    }

    /// Records that this item's change is explained by the definition change at `at`.
    fn fold(&mut self, kind: ChangeKind, at: usize) {
        let (id, key) = (self.item.id, self.item.key.map(str::to_string));
        if let Some(change) = self.defs_of(kind).and_then(|d| d.changes.get_mut(at)) {
            change.issues.push(id);
            if let Some(key) = key {
                change.issue_keys.push(key);
            }
        }
    }

    fn removed(&mut self, kind: ChangeKind, name: &str) -> Option<usize> {
        self.defs_of(kind)?.removed.get(name).copied()
    }

    fn renamed(&mut self, kind: ChangeKind, name: &str) -> Option<(String, usize)> {
        self.defs_of(kind)?.renamed.get(name).cloned()
    }
}

/// Compares one field's two values and hands each change to `emit` as (field, op, before,
/// after, hunks). `folds`, for item fields, absorbs changes a definition change explains.
fn compare(
    field: Field,
    a: Val<'_>,
    b: Val<'_>,
    opts: &DiffOptions,
    mut folds: Option<&mut Folds<'_, '_, '_>>,
    emit: &mut dyn FnMut(Field, Op, Value, Value, Vec<super::Hunk>),
) {
    match (a, b) {
        (Val::Plain(x), Val::Plain(y)) => {
            if x != y {
                emit(field, Op::Changed, x, y, Vec::new());
            }
        }
        (Val::Keyed { show: sx, key: kx }, Val::Keyed { show: sy, key: ky }) => {
            if kx != ky {
                emit(field, Op::Changed, sx, sy, Vec::new());
            }
        }
        (
            Val::Text {
                text: ta,
                lines: with_lines,
            },
            Val::Text { text: tb, .. },
        ) => {
            let (ta, tb) = (ta.as_deref(), tb.as_deref());
            if !text_eq(ta, tb) {
                let hunks = if with_lines {
                    lines::hunks(ta.unwrap_or(""), tb.unwrap_or(""), opts.context_lines)
                } else {
                    Vec::new()
                };
                emit(field, Op::Changed, opt_str(ta), opt_str(tb), hunks);
            }
        }
        (Val::Set { items: ia, fold }, Val::Set { items: ib, .. }) => {
            if ia == ib {
                return;
            }
            let (lost, mut gained) = set_diff(&ia, &ib);
            for name in lost {
                // A deleted definition leaves every issue that had it, a renamed one changes
                // name on all of them: fold those into the definition change instead of
                // repeating them.
                if let (Some(kind), Some(f)) = (fold, folds.as_deref_mut()) {
                    if let Some(at) = f.removed(kind, name) {
                        f.fold(kind, at);
                        continue;
                    }
                    if let Some((new, at)) = f.renamed(kind, name) {
                        if gained.remove(new.as_str()) {
                            f.fold(kind, at);
                            continue;
                        }
                    }
                }
                emit(
                    field,
                    Op::Removed,
                    Value::String(name.to_string()),
                    Value::Null,
                    Vec::new(),
                );
            }
            for name in gained {
                emit(
                    field,
                    Op::Added,
                    Value::Null,
                    Value::String(name.to_string()),
                    Vec::new(),
                );
            }
        }
        (Val::Ref { name: na, fold }, Val::Ref { name: nb, .. }) => {
            let (ma, mb) = (na.as_deref(), nb.as_deref());
            if ma == mb {
                return;
            }
            let folded = match (fold, folds.as_deref_mut(), ma, mb) {
                (Some(kind), Some(f), Some(old), None) => f.removed(kind, old).map(|at| (kind, at)),
                (Some(kind), Some(f), Some(old), Some(new)) => f
                    .renamed(kind, old)
                    .filter(|(renamed_to, _)| renamed_to == new)
                    .map(|(_, at)| (kind, at)),
                _ => None,
            };
            match (folded, folds) {
                (Some((kind, at)), Some(f)) => f.fold(kind, at),
                _ => emit(field, Op::Changed, opt_str(ma), opt_str(mb), Vec::new()),
            }
        }
        // A schema projects one field the same way on both sides; a mismatch (a record
        // from an older build, say) is still a change people should see.
        (x, y) => {
            let (x, y) = (shown(x), shown(y));
            if x != y {
                emit(field, Op::Changed, x, y, Vec::new());
            }
        }
    }
}

/// A value as JSON, for the rare mismatch of two projections.
fn shown(v: Val<'_>) -> Value {
    match v {
        Val::Plain(x) | Val::Keyed { show: x, .. } => x,
        Val::Text { text, .. } | Val::Ref { name: text, .. } => opt_str(text.as_deref()),
        Val::Set { items, .. } => Value::Array(
            items
                .into_iter()
                .map(|s| Value::String(s.into_owned()))
                .collect(),
        ),
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
        issue_key: None,
        issues: Vec::new(),
        issue_keys: Vec::new(),
        hunks: Vec::new(),
        pull_request: false,
        attribution: None,
    }
}

/// Matches definitions by their tracker key, then the leftovers by case-insensitive name:
/// a definition deleted and recreated gets a new id but is the same thing to people.
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
    // Trackers report a cleared text as either null or "": not a difference anyone made.
    a.unwrap_or("") == b.unwrap_or("")
}

fn opt_str(s: Option<&str>) -> Value {
    s.map_or(Value::Null, |s| Value::String(s.to_string()))
}

fn definition_changes(def: &Definition, from: &RecordSet, to: &RecordSet) -> Defs {
    fn views<'a>(def: &Definition, set: &'a RecordSet) -> BTreeMap<u64, DefinitionView<'a>> {
        set.iter_kind(def.record)
            .filter_map(|(id, r)| (def.view)(r).map(|v| (id, v)))
            .collect()
    }
    let (va, vb) = (views(def, from), views(def, to));
    let (pairs, removed, added) = pair(&va, &vb, |v: &DefinitionView<'_>| v.name);
    let mut defs = Defs::default();
    let k = def.change;
    for (a, b) in pairs {
        for ((field, x), (_, y)) in a.fields.iter().cloned().zip(b.fields.iter().cloned()) {
            let opts = DiffOptions::default();
            compare(field, x, y, &opts, None, &mut |f, op, before, after, _| {
                let at = defs.push(def_change(k, a.name, f, op, before, after));
                if f == def.rename {
                    defs.renamed
                        .insert(a.name.to_string(), (b.name.to_string(), at));
                }
            });
        }
    }
    for a in removed {
        let at = defs.push(def_change(
            k,
            a.name,
            Field::Record,
            Op::Removed,
            a.whole.clone(),
            Value::Null,
        ));
        defs.removed.insert(a.name.to_string(), at);
    }
    for b in added {
        defs.push(def_change(
            k,
            b.name,
            Field::Record,
            Op::Added,
            Value::Null,
            b.whole.clone(),
        ));
    }
    defs
}

fn item_change(head: &ItemHead<'_>, field: Field, op: Op, before: Value, after: Value) -> Change {
    Change {
        kind: ChangeKind::Issue,
        key: item_key(head),
        field,
        op,
        before,
        after,
        issue: Some(head.id),
        issue_key: head.key.map(str::to_string),
        issues: Vec::new(),
        issue_keys: Vec::new(),
        hunks: Vec::new(),
        pull_request: head.pull_request,
        attribution: None,
    }
}

/// What an item's changes are keyed by: its key where it has one, else its number.
fn item_key(head: &ItemHead<'_>) -> String {
    head.key.map_or_else(|| head.id.to_string(), str::to_string)
}

/// Elements only in `a` and only in `b`, by name, sorted.
fn set_diff<'a>(
    a: &'a [std::borrow::Cow<'a, str>],
    b: &'a [std::borrow::Cow<'a, str>],
) -> (BTreeSet<&'a str>, BTreeSet<&'a str>) {
    let a: BTreeSet<&str> = a.iter().map(|s| s.as_ref()).collect();
    let b: BTreeSet<&str> = b.iter().map(|s| s.as_ref()).collect();
    let lost = a.difference(&b).copied().collect();
    let gained = b.difference(&a).copied().collect();
    (lost, gained)
}

fn compare_comments(
    schema: &Schema,
    from: &RecordSet,
    to: &RecordSet,
    opts: &DiffOptions,
    issues: &mut BTreeMap<u64, IssueAcc>,
) {
    let (items, comments) = (&schema.items, &schema.comments);
    let head_of = |n: u64| {
        to.get_id(items.record, n)
            .or_else(|| from.get_id(items.record, n))
            .and_then(items.head)
    };
    let mut push = |item: u64, id: u64, mut change: Change| {
        let acc = match head_of(item) {
            Some(head) => {
                change.issue_key = head.key.map(str::to_string);
                IssueAcc::get(issues, &head, Op::Changed)
            }
            // A comment whose issue neither side holds (an incomplete capture): still report
            // it, under its issue number.
            None => issues.entry(item).or_insert_with(|| IssueAcc {
                entry: IssueEntry {
                    number: item,
                    key: None,
                    title: String::new(),
                    url: None,
                    pull_request: false,
                    op: Op::Changed,
                },
                fields: Vec::new(),
                comments: Vec::new(),
            }),
        };
        acc.comments.push((id, change));
    };
    let is_pr = |n: u64| head_of(n).is_some_and(|h| h.pull_request);
    let change = |id: u64, item: u64, field, op, before, after, pr| Change {
        kind: ChangeKind::Comment,
        key: id.to_string(),
        field,
        op,
        before,
        after,
        issue: Some(item),
        issue_key: None,
        issues: Vec::new(),
        issue_keys: Vec::new(),
        hunks: Vec::new(),
        pull_request: pr,
        attribution: None,
    };
    for (id, ra) in from.iter_kind(comments.record) {
        let Some(item) = (comments.item)(ra) else {
            continue;
        };
        let pr = is_pr(item);
        if pr && !opts.include_prs {
            continue;
        }
        match to.get_id(comments.record, id) {
            None => push(
                item,
                id,
                change(
                    id,
                    item,
                    Field::Record,
                    Op::Removed,
                    (comments.whole)(ra),
                    Value::Null,
                    pr,
                ),
            ),
            Some(rb) if rb == ra => {}
            Some(rb) => {
                let (a, b) = ((comments.body)(ra), (comments.body)(rb));
                let item = (comments.item)(rb).unwrap_or(item);
                if a != b {
                    let mut c = change(
                        id,
                        item,
                        Field::Body,
                        Op::Changed,
                        Value::String(a.to_string()),
                        Value::String(b.to_string()),
                        pr,
                    );
                    c.hunks = lines::hunks(&a, &b, opts.context_lines);
                    push(item, id, c);
                }
            }
        }
    }
    for (id, rb) in to.iter_kind(comments.record) {
        let Some(item) = (comments.item)(rb) else {
            continue;
        };
        let pr = is_pr(item);
        if (pr && !opts.include_prs) || from.contains(comments.record, id) {
            continue;
        }
        push(
            item,
            id,
            change(
                id,
                item,
                Field::Record,
                Op::Added,
                Value::Null,
                (comments.whole)(rb),
                pr,
            ),
        );
    }
}

/// Puts the changes in their documented order and counts them.
fn assemble(schema: &Schema, defs: Vec<Defs>, issues: BTreeMap<u64, IssueAcc>) -> Diff {
    let mut changes = Vec::new();
    for d in defs {
        let mut run = d.changes;
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
    let summary = summarize(schema, &changes, &entries);
    Diff {
        schema_version: super::SCHEMA_VERSION,
        from: Default::default(),
        to: Default::default(),
        summary,
        changes,
        issues: entries,
    }
}

fn summarize(schema: &Schema, changes: &[Change], entries: &[IssueEntry]) -> Summary {
    let mut s = Summary {
        total: changes.len(),
        definitions: super::DefinitionCounts(
            schema
                .definitions
                .iter()
                .map(|d| DefinitionCount::new(d.change))
                .collect(),
        ),
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
            (ChangeKind::Issue, _) => {}
            (kind, op) => {
                let Some(count) = s.definitions.0.iter_mut().find(|d| d.kind == kind) else {
                    continue;
                };
                match op {
                    Op::Added => count.added += 1,
                    Op::Removed => count.removed += 1,
                    Op::Changed => {
                        if last_changed != Some((kind, c.key.as_str())) {
                            last_changed = Some((kind, c.key.as_str()));
                            count.changed += 1;
                        }
                    }
                }
            }
        }
    }
    s
}
