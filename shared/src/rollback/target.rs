//! The target snapshot as a rollback holds it. Comments are most of a GitHub repository's
//! records, and after a typical incident almost all of them are as the snapshot has them:
//! of a GitHub target's comments only the blob ids are held until the live state has been
//! read, and then only those whose live copy differs are read ([`super::live::Live`]).
//! Jira targets are held whole (their planner reads every record).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};

use super::plan::planning_view;
use crate::catalog::SnapshotEntry;
use crate::error::{Error, Result};
use crate::id::BlobId;
use crate::manifest::StoredManifest;
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
    /// Every record, the pending comments read: a restore into another scope plans with
    /// them, then verifies with them again, so they are read once.
    complete: tokio::sync::OnceCell<RecordSet>,
}

#[derive(Debug)]
enum Source {
    Archive(Archive),
    /// Tests: the comments a stand-in archive would hold.
    #[cfg(test)]
    Held(BTreeMap<u64, Comment>),
    None,
    /// Not read yet: an execution reads it once its pre-rollback snapshot is taken.
    Deferred,
}

impl Target {
    /// A target held whole.
    pub fn whole(records: RecordSet) -> Target {
        Target {
            records,
            pending: BTreeMap::new(),
            source: Source::None,
            complete: Default::default(),
        }
    }

    /// A target an execution reads itself, after its pre-rollback snapshot: the capture and
    /// the target then never share memory (at 100,000 issues each takes about 300 MB, over
    /// the restore function's 512 MB together). Planning from it unread is refused.
    pub fn deferred() -> Target {
        Target {
            records: RecordSet::default(),
            pending: BTreeMap::new(),
            source: Source::Deferred,
            complete: Default::default(),
        }
    }

    /// Whether this target is [`Target::deferred`].
    pub fn is_deferred(&self) -> bool {
        matches!(self.source, Source::Deferred)
    }

    /// Reads a snapshot as a rollback to it holds it: GitHub comments pending. Its manifest
    /// entries are walked as they are parsed, not held (about 250 bytes a record), and
    /// only those of the records read are kept until they are read. Returns the manifest's
    /// header too.
    pub async fn load(
        archive: &Archive,
        entry: &SnapshotEntry,
    ) -> Result<(Target, StoredManifest)> {
        let github = entry.scope.tracker() == TrackerKind::GitHub;
        let mut pending = BTreeMap::new();
        let mut read = Vec::new();
        let header = archive
            .for_each_entry(entry, |e| match (github, e.kind, e.id.parse::<u64>()) {
                (true, RecordKind::Comment, Ok(id)) => {
                    pending.insert(id, (e.blob, e.updated_at));
                }
                _ => read.push(e),
            })
            .await?;
        let mut records = RecordSet::default();
        archive
            .for_each_entry_record(read, planning_view, |r| records.insert(r))
            .await?;
        let target = Target {
            records,
            pending,
            source: Source::Archive(archive.clone()),
            complete: Default::default(),
        };
        Ok((target, header))
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
            complete: Default::default(),
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
            Source::Deferred => Err(unread()),
        }
    }

    /// Every record, the pending comments read (restores into another scope copy them
    /// all). Read on the first call and kept.
    pub async fn complete(&self) -> Result<&RecordSet> {
        if self.is_deferred() {
            return Err(unread());
        }
        if self.pending.is_empty() {
            return Ok(&self.records);
        }
        self.complete
            .get_or_try_init(|| async {
                let mut all = self.records.clone();
                all.comments = self.read_comments_but(&BTreeSet::new()).await?;
                Ok(all)
            })
            .await
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

/// Planning from a [`Target::deferred`] never read: a bug, and one that would plan against
/// an empty target.
pub(crate) fn unread() -> Error {
    Error::Internal("a rollback planned from a deferred target that was never read".into())
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::catalog::MemoryCatalog;
    use crate::snapshot::capture_tests::{repo, Fixed};
    use crate::snapshot::SnapshotOptions;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn a_target_holds_comments_pending_and_reads_them_once_for_a_copy() {
        let archive = Archive::new(Arc::new(MemoryStore::new()), Arc::new(MemoryCatalog::new()));
        let scope: crate::scope::Scope = "github:acme/widgets".parse().unwrap();
        let tracker = Arc::new(Fixed(scope, std::sync::Mutex::new(repo()), None));
        let report = archive
            .create_snapshot(tracker, &SnapshotOptions::default())
            .await
            .unwrap();
        let entry = archive.catalog.get(&report.id).await.unwrap().unwrap();
        let manifest = archive.load_manifest(&entry).await.unwrap();
        let mut views = RecordSet::default();
        archive
            .for_each_record(&manifest, planning_view, |r| views.insert(r))
            .await
            .unwrap();
        assert!(!views.comments.is_empty());

        let (target, header) = Target::load(&archive, &entry).await.unwrap();
        assert_eq!(header.id, entry.id);
        assert!(target.records.comments.is_empty(), "comments stay pending");
        assert_eq!(target.pending.len(), views.comments.len());
        assert_eq!(target.records.issues, views.issues);
        assert_eq!(target.records.labels, views.labels);
        assert_eq!(*target.complete().await.unwrap(), views);

        // Read once: with the comments' blobs gone, the second call answers the same.
        for e in manifest
            .entries
            .iter()
            .filter(|e| e.kind == RecordKind::Comment)
        {
            archive.store.delete(&e.blob.key()).await.unwrap();
        }
        assert_eq!(*target.complete().await.unwrap(), views);
        let fresh = Target::load(&archive, &entry).await.unwrap().0;
        assert!(fresh.complete().await.is_err(), "a fresh target reads them");
    }

    /// A deferred target is read by the engine; anything that would plan from it unread
    /// (as if the snapshot were empty) is refused instead.
    #[tokio::test]
    async fn a_deferred_target_is_never_planned_from_unread() {
        let target = Target::deferred();
        assert!(target.is_deferred());
        assert!(target.complete().await.is_err());
        assert!(target.read_comments_but(&BTreeSet::new()).await.is_err());
        let mut live = crate::rollback::live::Live::new(Some(&target));
        assert!(live.read_target().await.is_err());
        assert!(!Target::whole(RecordSet::default()).is_deferred());
    }
}
