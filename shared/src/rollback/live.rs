//! The live state as a rollback plan holds it. A plan compares the whole target snapshot
//! with the whole live state, but after a typical incident almost every live issue and
//! comment is identical to its target copy: those are kept as keys only and read from the
//! target, so the live side costs what changed, not the repository (a 10,000-issue /
//! 50,000-comment preview held both sides whole). Labels and milestones are held whole:
//! they are few, and their matching needs every one.

use std::collections::{BTreeMap, BTreeSet};
use std::iter::Peekable;

use crate::record::{supersedes, Comment, Issue, Label, Milestone, Record, RecordSet};

/// The live records a plan holds: those that differ from the target or that it lacks, and
/// the keys of the issues and comments identical to the target's.
#[derive(Debug)]
pub struct Live<'a> {
    differing: RecordSet,
    same_issues: BTreeSet<u64>,
    same_comments: BTreeSet<u64>,
    /// What identical records are compared with and read from; `None` holds every record
    /// (planners that do not read through [`LiveView`]: Jira, restores into another scope).
    target: Option<&'a RecordSet>,
}

impl<'a> Live<'a> {
    pub fn new(target: Option<&'a RecordSet>) -> Self {
        Live {
            differing: RecordSet::default(),
            same_issues: BTreeSet::new(),
            same_comments: BTreeSet::new(),
            target,
        }
    }

    /// Takes one live record as it arrives.
    pub fn take(&mut self, record: Record) {
        let (same, id) = match (&record, self.target) {
            (Record::Issue(i), Some(_)) => (&mut self.same_issues, i.number),
            (Record::Comment(c), Some(_)) => (&mut self.same_comments, c.id),
            _ => {
                if supersedes(
                    &record,
                    self.differing.get(&record.key()).map(|h| h.updated_at()),
                ) {
                    self.differing.insert(record);
                }
                return;
            }
        };
        let Some(target) = self.target else {
            return;
        };
        let kind = record.kind();
        let stored = target.get_id(kind, id);
        let held = self
            .differing
            .get_id(kind, id)
            .or_else(|| stored.filter(|_| same.contains(&id)));
        if !supersedes(&record, held.map(|h| h.updated_at())) {
            return;
        }
        if stored == Some(record.as_ref()) {
            self.differing.remove(kind, id);
            same.insert(id);
        } else {
            same.remove(&id);
            self.differing.insert(record);
        }
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
                .map(|t| (&self.same_issues, &self.same_comments, t)),
        }
    }

    /// How many live issues and comments are held whole (for logs and benchmarks).
    pub fn held(&self) -> (usize, usize) {
        (self.differing.issues.len(), self.differing.comments.len())
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
    /// Every live label and milestone (definitions are always held whole).
    pub fn definitions(&self) -> &'a RecordSet {
        self.differing
    }

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

    pub fn comment(&self, id: u64) -> Option<&'a Comment> {
        self.differing.comments.get(&id).or_else(|| {
            let (_, comments, target) = self.same?;
            comments
                .contains(&id)
                .then(|| target.comments.get(&id))
                .flatten()
        })
    }

    pub fn has_comment(&self, id: u64) -> bool {
        self.comment(id).is_some()
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

    /// Every live comment, by id.
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

    #[test]
    fn identical_records_are_kept_as_keys_and_read_from_the_target() {
        let target = set();
        let mut changed = set();
        changed.issues.get_mut(&2).unwrap().title = "edited".into();
        changed.issues.remove(&4);
        changed.comments.remove(&30);
        let mut new = changed.issues[&1].clone();
        new.number = 9;
        new.title = "new".into();
        changed.issues.insert(9, new);

        let mut live = Live::new(Some(&target));
        for r in changed.clone().into_records() {
            live.take(r);
        }
        assert_eq!(live.held(), (2, 0), "only #2 and #9 are held whole");
        let view = live.view();
        let whole = LiveView::from(&changed);
        let numbers = |v: &LiveView<'_>| v.issues().map(|i| i.number).collect::<Vec<_>>();
        assert_eq!(numbers(&view), vec![1, 2, 3, 5, 6, 9]);
        assert_eq!(numbers(&view), numbers(&whole));
        let ids = |v: &LiveView<'_>| v.comments().map(|c| c.id).collect::<Vec<_>>();
        assert_eq!(ids(&view), vec![10, 20, 40, 50, 60]);
        for n in 0..=10 {
            assert_eq!(view.issue(n), whole.issue(n), "issue {n}");
            assert_eq!(view.comment(n * 10), whole.comment(n * 10), "comment {n}");
        }
        assert_eq!(view.issue(2).unwrap().title, "edited");
    }

    #[test]
    fn a_newer_copy_replaces_an_older_one_either_way() {
        let target = set();
        let mut live = Live::new(Some(&target));
        let same = target.issues[&1].clone();
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
        assert_eq!(live.held(), (1, 0));
    }
}
