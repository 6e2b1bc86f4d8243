//! The live state as a rollback plan holds it. A plan compares the whole target snapshot
//! with the whole live state, but after a typical incident almost every live issue and
//! comment is identical to its target copy: those are kept as keys only and read from the
//! target, so the live side costs what changed, not the repository (a 10,000-issue /
//! 50,000-comment preview held both sides whole). Labels and milestones are held whole:
//! they are few, and their matching needs every one.

use std::collections::{BTreeMap, BTreeSet};
use std::iter::Peekable;

use super::plan::planning_view;
use super::target::{blob_of, Target, TargetView};
use crate::error::Result;
use crate::manifest::ManifestEntry;
use crate::record::{supersedes, Comment, Issue, Label, Milestone, Record, RecordKind, RecordSet};

/// The live records a plan holds, as planning views: those that differ from the target or
/// that it lacks, and the keys of the issues and comments identical to the target's.
#[derive(Debug)]
pub struct Live<'a> {
    differing: RecordSet,
    same_issues: BTreeSet<u64>,
    same_comments: BTreeSet<u64>,
    /// What identical records are compared with and read from; `None` holds every record
    /// (planners that do not read through [`LiveView`]: Jira, restores into another scope).
    target: Option<&'a Target>,
    /// The target's pending comments that differ live, read by [`Live::read_target`].
    target_comments: BTreeMap<u64, Comment>,
}

impl<'a> Live<'a> {
    pub fn new(target: Option<&'a Target>) -> Self {
        Live {
            differing: RecordSet::default(),
            same_issues: BTreeSet::new(),
            same_comments: BTreeSet::new(),
            target,
            target_comments: BTreeMap::new(),
        }
    }

    /// Takes one live record (whole, as the tracker or a snapshot has it) as it arrives.
    pub fn take(&mut self, record: Record) {
        let Some(target) = self.target else {
            return hold(&mut self.differing, planning_view(record));
        };
        match record {
            Record::Issue(_) => {
                let record = planning_view(record);
                let Record::Issue(issue) = &record else {
                    return hold(&mut self.differing, record);
                };
                let n = issue.number;
                let stored = target.records.issues.get(&n);
                let held = self
                    .differing
                    .issues
                    .get(&n)
                    .or_else(|| stored.filter(|_| self.same_issues.contains(&n)))
                    .map(|h| Some(h.updated_at));
                if !supersedes(&record, held) {
                    return;
                }
                let identical = stored == Some(issue);
                self.settle(RecordKind::Issue, n, identical, record);
            }
            Record::Comment(ref c) => {
                let id = c.id;
                let pending = target.pending(id);
                // Pending comments are compared by content address, before the view.
                let blob = pending.and_then(|_| blob_of(&record));
                let view = planning_view(record);
                let Record::Comment(comment) = &view else {
                    return hold(&mut self.differing, view);
                };
                let (identical, stored_at) = match pending {
                    Some((stored, at)) => (blob.as_ref() == Some(stored), *at),
                    None => {
                        let stored = target.records.comments.get(&id);
                        (stored == Some(comment), stored.map(|s| s.updated_at))
                    }
                };
                let held = match self.differing.comments.get(&id) {
                    Some(h) => Some(Some(h.updated_at)),
                    None => self.same_comments.contains(&id).then_some(stored_at),
                };
                if !supersedes(&view, held) {
                    return;
                }
                self.settle(RecordKind::Comment, id, identical, view);
            }
            other => hold(&mut self.differing, planning_view(other)),
        }
    }

    /// Takes a record of a snapshot standing for the live state, by its manifest entry:
    /// `true` when its blob is the target's (identical, so it need not be read).
    pub fn take_stored(&mut self, entry: &ManifestEntry) -> bool {
        let Some(target) = self.target else {
            return false;
        };
        let id = match (entry.kind, entry.id.parse::<u64>()) {
            (RecordKind::Comment, Ok(id)) => id,
            _ => return false,
        };
        let same = target
            .pending(id)
            .is_some_and(|(blob, _)| *blob == entry.blob);
        if same {
            self.same_comments.insert(id);
        }
        same
    }

    /// Holds `record` (a view) as differing, or its key as identical to the target's.
    fn settle(&mut self, kind: RecordKind, id: u64, identical: bool, record: Record) {
        let same = match kind {
            RecordKind::Issue => &mut self.same_issues,
            _ => &mut self.same_comments,
        };
        if identical {
            self.differing.remove(kind, id);
            same.insert(id);
        } else {
            same.remove(&id);
            self.differing.insert(record);
        }
    }

    /// Once every live record is taken: reads the target's comments whose live copy
    /// differs or is gone.
    pub async fn read_target(&mut self) -> Result<()> {
        if let Some(target) = self.target {
            self.target_comments = target.read_comments_but(&self.same_comments).await?;
        }
        Ok(())
    }

    /// The target as the planner reads it next to [`Live::view`] (after
    /// [`Live::read_target`]).
    pub fn target_view(&self) -> Option<TargetView<'_>> {
        self.target.map(|t| t.view(&self.target_comments))
    }

    /// Every live record, for planners that read the live state whole.
    ///
    /// # Panics
    /// Never for a `Live` built without a target; with one, it would hide the identical
    /// records, so it is refused as a programming error.
    pub fn whole(&self) -> &RecordSet {
        assert!(
            self.target.is_none(),
            "Live::whole on a live state held against a target"
        );
        &self.differing
    }

    pub fn view(&self) -> LiveView<'_> {
        LiveView {
            differing: &self.differing,
            same: self
                .target
                .map(|t| (&self.same_issues, &self.same_comments, &t.records)),
        }
    }

    /// How many live issues and comments are held whole, and how many target comments
    /// were read (for logs and benchmarks).
    pub fn held(&self) -> (usize, usize, usize) {
        (
            self.differing.issues.len(),
            self.differing.comments.len(),
            self.target_comments.len(),
        )
    }
}

/// [`RecordSet::insert`] unless an equally new or newer copy is held.
fn hold(set: &mut RecordSet, record: Record) {
    if supersedes(&record, set.get(&record.key()).map(|h| h.updated_at())) {
        set.insert(record);
    }
}

/// The live state as the planner reads it: every record, whether held or identical to the
/// target.
#[derive(Debug, Clone, Copy)]
pub struct LiveView<'a> {
    differing: &'a RecordSet,
    same: Option<(&'a BTreeSet<u64>, &'a BTreeSet<u64>, &'a RecordSet)>,
}

impl<'a> From<&'a RecordSet> for LiveView<'a> {
    /// A live state held whole.
    fn from(set: &'a RecordSet) -> Self {
        LiveView {
            differing: set,
            same: None,
        }
    }
}

impl<'a> LiveView<'a> {
    pub fn labels(&self) -> &'a BTreeMap<u64, Label> {
        &self.differing.labels
    }

    pub fn milestones(&self) -> &'a BTreeMap<u64, Milestone> {
        &self.differing.milestones
    }

    pub fn issue(&self, number: u64) -> Option<&'a Issue> {
        self.differing.issues.get(&number).or_else(|| {
            let (issues, _, target) = self.same?;
            issues
                .contains(&number)
                .then(|| target.issues.get(&number))
                .flatten()
        })
    }

    pub fn has_issue(&self, number: u64) -> bool {
        self.issue(number).is_some()
    }

    /// Live comment `id`, where its record is held: a comment identical to a target
    /// comment that was never read (see [`Target`]) is known by its key only, and the
    /// planner, which asks only for the comments that differ, never needs it.
    pub fn comment(&self, id: u64) -> Option<&'a Comment> {
        self.differing.comments.get(&id).or_else(|| {
            let (_, comments, target) = self.same?;
            comments
                .contains(&id)
                .then(|| target.comments.get(&id))
                .flatten()
        })
    }

    /// Whether comment `id` is live (an identical one's record may not be held: see
    /// [`LiveView::comment`]).
    pub fn has_comment(&self, id: u64) -> bool {
        self.differing.comments.contains_key(&id)
            || self
                .same
                .is_some_and(|(_, comments, _)| comments.contains(&id))
    }

    /// Every live issue, by number.
    pub fn issues(&self) -> impl Iterator<Item = &'a Issue> + 'a {
        let same = self.same.map(|(issues, _, target)| {
            issues
                .iter()
                .filter_map(move |n| target.issues.get_key_value(n))
        });
        ByKey::new(self.differing.issues.iter(), same.into_iter().flatten())
    }

    /// Every live comment whose record is held ([`LiveView::comment`]), by id.
    pub fn comments(&self) -> impl Iterator<Item = &'a Comment> + 'a {
        let same = self.same.map(|(_, comments, target)| {
            comments
                .iter()
                .filter_map(move |id| target.comments.get_key_value(id))
        });
        ByKey::new(self.differing.comments.iter(), same.into_iter().flatten())
    }
}

/// Two key-ordered sequences with distinct keys, as one in key order.
struct ByKey<A: Iterator, B: Iterator> {
    a: Peekable<A>,
    b: Peekable<B>,
}

impl<A: Iterator, B: Iterator> ByKey<A, B> {
    fn new(a: A, b: B) -> Self {
        ByKey {
            a: a.peekable(),
            b: b.peekable(),
        }
    }
}

impl<'a, T: 'a, A, B> Iterator for ByKey<A, B>
where
    A: Iterator<Item = (&'a u64, &'a T)>,
    B: Iterator<Item = (&'a u64, &'a T)>,
{
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        let take_a = match (self.a.peek(), self.b.peek()) {
            (Some((ka, _)), Some((kb, _))) => ka < kb,
            (a, _) => a.is_some(),
        };
        let next = if take_a { self.a.next() } else { self.b.next() };
        next.map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::testkit::Builder;
    use crate::record::{Record, RecordSet};

    fn set() -> RecordSet {
        let mut b = Builder::new();
        for n in 1..=6u64 {
            b.issue(n, &format!("issue {n}"));
            b.comment(n * 10, n, "amy", &format!("comment {n}"));
        }
        b.build()
    }

    /// The target, and a live state with #2 and comment 20 edited, #4 and comment 30
    /// deleted, #9 and comment 90 new.
    fn incident() -> (RecordSet, RecordSet) {
        let target = set();
        let mut changed = set();
        changed.issues.get_mut(&2).unwrap().title = "edited".into();
        changed.comments.get_mut(&20).unwrap().body = "edited".into();
        changed.issues.remove(&4);
        changed.comments.remove(&30);
        let mut new = changed.issues[&1].clone();
        new.number = 9;
        new.title = "new".into();
        changed.issues.insert(9, new);
        let mut new = changed.comments[&10].clone();
        new.id = 90;
        changed.comments.insert(90, new);
        (target, changed)
    }

    #[tokio::test]
    async fn identical_records_are_kept_as_keys_and_read_from_the_target() {
        let (records, changed) = incident();
        for (target, read) in [
            (Target::whole(records.clone()), 0),
            (Target::with_pending_comments(records.clone()), 2),
        ] {
            let mut live = Live::new(Some(&target));
            for r in changed.clone().into_records() {
                live.take(r);
            }
            live.read_target().await.unwrap();
            assert_eq!(
                live.held(),
                (2, 2, read),
                "#2, #9, comments 20 and 90 held; comments 20 and 30 of the target read"
            );
            let view = live.view();
            let whole = LiveView::from(&changed);
            let numbers = |v: &LiveView<'_>| v.issues().map(|i| i.number).collect::<Vec<_>>();
            assert_eq!(numbers(&view), vec![1, 2, 3, 5, 6, 9]);
            assert_eq!(numbers(&view), numbers(&whole));
            for n in 0..=10 {
                assert_eq!(view.issue(n), whole.issue(n), "issue {n}");
                assert_eq!(view.has_comment(n * 10), whole.has_comment(n * 10));
            }
            assert_eq!(view.comment(20), whole.comment(20));
            assert_eq!(view.comment(90), whole.comment(90));
            assert_eq!(view.issue(2).unwrap().title, "edited");
            let t = live.target_view().unwrap();
            let ids: Vec<u64> = t.comments.keys().copied().collect();
            match read {
                0 => assert_eq!(ids, vec![10, 20, 30, 40, 50, 60]),
                _ => assert_eq!(ids, vec![20, 30], "only what differs live is read"),
            }
        }
    }

    #[test]
    fn a_stored_comment_with_the_targets_blob_is_not_read() {
        let (records, _) = incident();
        let target = Target::with_pending_comments(records.clone());
        let mut live = Live::new(Some(&target));
        let entry = |id: u64, body: &str| {
            let mut c = records.comments[&id].clone();
            c.body = body.into();
            ManifestEntry {
                kind: RecordKind::Comment,
                id: id.to_string(),
                blob: blob_of(&Record::Comment(c)).unwrap(),
                updated_at: None,
                size: 0,
                stored: None,
                issue: Some(id / 10),
                embeds: None,
            }
        };
        assert!(live.take_stored(&entry(10, "comment 1")));
        assert!(!live.take_stored(&entry(20, "edited")));
        assert!(live.view().has_comment(10));
        assert!(!live.view().has_comment(20));
    }

    #[test]
    fn a_newer_copy_replaces_an_older_one_either_way() {
        let records = set();
        for target in [
            Target::whole(records.clone()),
            Target::with_pending_comments(records.clone()),
        ] {
            let mut live = Live::new(Some(&target));
            let same = records.issues[&1].clone();
            let mut edited = same.clone();
            edited.title = "edited".into();
            edited.updated_at += chrono::Duration::seconds(5);
            // Seen identical, then edited: the edit is newer and held.
            live.take(Record::Issue(same.clone()));
            live.take(Record::Issue(edited.clone()));
            assert_eq!(live.view().issue(1), Some(&edited));
            // An older identical copy arriving late does not undo it.
            live.take(Record::Issue(same.clone()));
            assert_eq!(live.view().issue(1), Some(&edited));

            let same = records.comments[&10].clone();
            let mut edited = same.clone();
            edited.body = "edited".into();
            edited.updated_at += chrono::Duration::seconds(5);
            live.take(Record::Comment(edited.clone()));
            live.take(Record::Comment(same.clone()));
            assert_eq!(live.view().comment(10), Some(&edited));
            assert_eq!(live.held(), (1, 1, 0));
        }
    }
}
