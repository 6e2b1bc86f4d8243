//! The target snapshot as a rollback holds it. Comments are most of a GitHub repository's
//! records, and after a typical incident almost all of them are as the snapshot has them:
//! of a GitHub target's comments only the blob ids are held until the live state has been
//! read, and then only those whose live copy differs are read ([`super::live::Live`]).
//! Jira targets are held whole (their planner reads every record).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};

use super::plan::planning_view;
use crate::error::{Error, Result};
use crate::id::BlobId;
use crate::manifest::Manifest;
use crate::record::{Comment, Issue, Label, Milestone, Record, RecordKind, RecordSet};
use crate::scope::TrackerKind;
use crate::snapshot::Archive;

/// Blob reads in flight while the differing comments are read.
const READS_IN_FLIGHT: usize = 16;

/// A target snapshot's records as planning views ([`planning_view`]).
#[derive(Debug)]
pub struct Target {
    /// Every record but the pending comments.
    pub records: RecordSet,
    /// Comments not read: id → (blob, last update).
    pending: BTreeMap<u64, (BlobId, Option<DateTime<Utc>>)>,
    /// Where the pending comments are read from.
    source: Source,
}

#[derive(Debug)]
enum Source {
    Archive(Archive),
    /// Tests: the comments a stand-in archive would hold.
    #[cfg(test)]
    Held(BTreeMap<u64, Comment>),
    None,
}

impl Target {
    /// A target held whole.
    pub fn whole(records: RecordSet) -> Target {
        Target {
            records,
            pending: BTreeMap::new(),
            source: Source::None,
        }
    }

    /// Reads a snapshot as a rollback to it holds it: GitHub comments pending. The
    /// manifest is consumed first, so its entries (about 150 bytes a record) are let go
    /// before the records are read.
    pub async fn load(archive: &Archive, manifest: Manifest) -> Result<Target> {
        let github = manifest.scope.tracker() == TrackerKind::GitHub;
        let mut pending = BTreeMap::new();
        let mut read = Vec::new();
        for e in manifest.entries {
            match (github, e.kind, e.id.parse::<u64>()) {
                (true, RecordKind::Comment, Ok(id)) => {
                    pending.insert(id, (e.blob, e.updated_at));
                }
                _ => read.push(e),
            }
        }
        let mut records = RecordSet::default();
        archive
            .for_each_entry_record(read, planning_view, |r| records.insert(r))
            .await?;
        Ok(Target {
            records,
            pending,
            source: Source::Archive(archive.clone()),
        })
    }

    /// A target whose comments are pending as if read from an archive holding them
    /// (tests of what a plan holds).
    #[cfg(test)]
    pub fn with_pending_comments(mut records: RecordSet) -> Target {
        let comments = std::mem::take(&mut records.comments);
        let pending = comments
            .values()
            .filter_map(|c| {
                Some((
                    c.id,
                    (blob_of(&Record::Comment(c.clone()))?, Some(c.updated_at)),
                ))
            })
            .collect();
        Target {
            records,
            pending,
            source: Source::Held(comments),
        }
    }

    /// The pending comment `id`'s blob and last update.
    pub(crate) fn pending(&self, id: u64) -> Option<&(BlobId, Option<DateTime<Utc>>)> {
        self.pending.get(&id)
    }

    /// Reads the pending comments not in `same` (those whose live copy differs, or that
    /// are gone live), as planning views.
    pub(crate) async fn read_comments_but(
        &self,
        same: &BTreeSet<u64>,
    ) -> Result<BTreeMap<u64, Comment>> {
        // Collected first: a future holding the filtering closures is not `Send`.
        let wanted: Vec<(u64, BlobId)> = self
            .pending
            .iter()
            .filter(|(id, _)| !same.contains(id))
            .map(|(id, (blob, _))| (*id, blob.clone()))
            .collect();
        match &self.source {
            Source::Archive(archive) => {
                stream::iter(wanted.into_iter().map(|(_, blob)| blob))
                    .map(|blob| {
                        let archive = archive.clone();
                        async move {
                            let (record, _): (Record, u64) = archive.read_blob(&blob).await?;
                            match planning_view(record) {
                                Record::Comment(c) => Ok((c.id, c)),
                                other => Err(Error::Internal(format!(
                                    "blob {blob} is listed as a comment but holds {}",
                                    other.key()
                                ))),
                            }
                        }
                    })
                    .buffer_unordered(READS_IN_FLIGHT)
                    .try_collect()
                    .await
            }
            #[cfg(test)]
            Source::Held(comments) => Ok(wanted
                .iter()
                .filter_map(|(id, _)| comments.get(id))
                .map(|c| match planning_view(Record::Comment(c.clone())) {
                    Record::Comment(c) => (c.id, c),
                    _ => unreachable!("a comment's view is a comment"),
                })
                .collect()),
            Source::None => Ok(BTreeMap::new()),
        }
    }

    /// Every record, the pending comments read (restores into another scope copy them
    /// all).
    pub async fn complete(&self) -> Result<Cow<'_, RecordSet>> {
        if self.pending.is_empty() {
            return Ok(Cow::Borrowed(&self.records));
        }
        let mut all = self.records.clone();
        all.comments = self.read_comments_but(&BTreeSet::new()).await?;
        Ok(Cow::Owned(all))
    }

    /// The target as the planner reads it, with `comments` standing for the pending ones
    /// (those read for this plan).
    pub fn view<'a>(&'a self, comments: &'a BTreeMap<u64, Comment>) -> TargetView<'a> {
        TargetView {
            comments: if self.pending.is_empty() {
                &self.records.comments
            } else {
                comments
            },
            ..TargetView::from(&self.records)
        }
    }
}

/// The blob id a capture would store `record` under (`None`: it does not serialize, so no
/// stored record equals it).
pub(crate) fn blob_of(record: &Record) -> Option<BlobId> {
    crate::blob::canonical_json(record)
        .ok()
        .map(|bytes| BlobId::of(&bytes))
}

/// The target as the planner reads it.
#[derive(Debug, Clone, Copy)]
pub struct TargetView<'a> {
    pub labels: &'a BTreeMap<u64, Label>,
    pub milestones: &'a BTreeMap<u64, Milestone>,
    pub issues: &'a BTreeMap<u64, Issue>,
    /// Every comment, or those whose live copy differs (the others plan nothing).
    pub comments: &'a BTreeMap<u64, Comment>,
}

impl<'a> From<&'a RecordSet> for TargetView<'a> {
    fn from(set: &'a RecordSet) -> Self {
        TargetView {
            labels: &set.labels,
            milestones: &set.milestones,
            issues: &set.issues,
            comments: &set.comments,
        }
    }
}
