//! A snapshot's activity log (who changed what since its parent; see [`crate::attribution`]):
//! read from the tracker as one listing beside the records, stored as a content-addressed
//! blob that the manifest names with its hash, and read back for diffs between snapshots.
//!
//! The log is not a record: full and incremental snapshots hold the same records whatever
//! it says. A snapshot without a parent has no window to explain; it keeps only the newest
//! event's id, where the next snapshot's window starts.

use bytes::Bytes;

use super::Archive;
use crate::attribution::{Activity, ActivityFrom, ACTIVITY_FORMAT};
use crate::blob;
use crate::catalog::SnapshotEntry;
use crate::error::Result;
use crate::id::ObjectHash;
use crate::manifest::{ActivityGap, ActivityRef, Manifest};
use crate::store::PutOutcome;
use crate::tracker::Tracker;

/// How many snapshots back a diff between two snapshots follows parents for their logs.
const MAX_CHAIN: usize = 1_000;

impl Archive {
    /// Lists the tracker's activity since `parent` and stores it (without a parent, only
    /// where the next window starts); `None` for a tracker that keeps no log. The log comes
    /// back too: a capture reads it before the records, to know which issues' links changed.
    pub(super) async fn capture_activity(
        &self,
        tracker: &dyn Tracker,
        parent: Option<&Manifest>,
    ) -> Result<Option<(ActivityRef, Activity)>> {
        let from = parent.map_or(ActivityFrom::Newest, Manifest::activity_from);
        // A failing listing (a 5xx after retries, a 403, 404 or 410) costs this snapshot its
        // attribution, not its records: the snapshot completes with an empty log marked as
        // a gap, and the next snapshot lists from the same last good point again.
        let log = match tracker.activity(from).await {
            Ok(Some(log)) => log,
            Ok(None) => return Ok(None),
            Err(e) => {
                let reason = e.to_string();
                tracing::warn!(
                    "the issue events listing failed ({}): this snapshot keeps no record of who changed what; the next snapshot lists those events again",
                    crate::sanitize::error_line(&reason)
                );
                Activity::gap(from, reason)
            }
        };
        let gap = log.failed.clone().map(|reason| ActivityGap {
            reason,
            after_time: match from {
                ActivityFrom::AfterTime(t) => Some(t),
                _ => None,
            },
        });
        let encoded = blob::encode("activity log", &log)?;
        let bytes = Bytes::from(encoded.compressed);
        let hash = match self.store.put(&encoded.id.key(), bytes.clone()).await? {
            PutOutcome::Written => ObjectHash::of(&bytes),
            // The same log stored before (content addressing): its own bytes are what the
            // manifest vouches for.
            PutOutcome::Existed => ObjectHash::of(&self.store.get(&encoded.id.key()).await?),
        };
        let stored = ActivityRef {
            blob: encoded.id,
            hash,
            events: log.events.len() as u64,
            newest: log.newest_id,
            gap,
        };
        Ok(Some((stored, log)))
    }

    /// The activity log stored with a snapshot, checked against the hash its manifest holds.
    pub async fn read_activity(&self, manifest: &Manifest) -> Result<Option<Activity>> {
        self.read_activity_at(manifest.activity.as_ref()).await
    }

    /// [`Archive::read_activity`] for the log a manifest header names.
    async fn read_activity_at(&self, stored: Option<&ActivityRef>) -> Result<Option<Activity>> {
        let Some(r) = stored else {
            return Ok(None);
        };
        let log: Activity = self
            .get_sealed(&r.blob.key(), "activity log", &r.hash)
            .await?;
        if log.format > ACTIVITY_FORMAT {
            return Err(blob::BlobError::Corrupt {
                key: r.blob.key(),
                detail: format!(
                    "activity log format {} is newer than this build understands ({ACTIVITY_FORMAT}); upgrade backtrack",
                    log.format
                ),
            }
            .into());
        }
        Ok(Some(log))
    }

    /// The logs that explain the changes from `older` to `newer`: `newer`'s and its
    /// ancestors', back to `older` (or as far as the chain goes).
    pub async fn activity_between(
        &self,
        older: &SnapshotEntry,
        newer: &SnapshotEntry,
    ) -> Result<Vec<Activity>> {
        let mut logs = Vec::new();
        let mut at = Some(newer.clone());
        for _ in 0..MAX_CHAIN {
            let Some(entry) = at.take() else { break };
            if entry.id == older.id || entry.created_at <= older.created_at {
                break;
            }
            // The header names the log and the parent: the entry tables are not needed.
            let header = self.load_manifest_header(&entry).await?;
            if let Some(log) = self.read_activity_at(header.activity.as_ref()).await? {
                logs.push(log);
            }
            at = match header.parent {
                Some(p) => self.entry(&p).await?,
                None => None,
            };
        }
        Ok(logs)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

    use std::sync::{Arc, Mutex};

    use async_trait::async_trait;
    use tokio::sync::mpsc;

    use super::*;
    use crate::attribution::IssueEvent;
    use crate::catalog::MemoryCatalog;
    use crate::record::Record;
    use crate::scope::Scope;
    use crate::snapshot::SnapshotOptions;
    use crate::store::MemoryStore;
    use crate::tracker::{FetchOptions, FetchReport, TrackerError};

    /// A tracker with no records whose events listing answers with the newest id given, or
    /// fails with a 503; it keeps where each listing started.
    #[derive(Debug)]
    struct Events {
        scope: Scope,
        newest: Mutex<Option<u64>>,
        asked: Mutex<Vec<ActivityFrom>>,
    }

    #[async_trait]
    impl Tracker for Events {
        fn scope(&self) -> &Scope {
            &self.scope
        }
        async fn check(&self) -> Result<(), TrackerError> {
            Ok(())
        }
        async fn fetch(
            &self,
            _: &FetchOptions,
            _: mpsc::Sender<Record>,
        ) -> Result<FetchReport, TrackerError> {
            Ok(FetchReport::default())
        }
        fn requests(&self) -> u64 {
            0
        }
        async fn activity(&self, from: ActivityFrom) -> Result<Option<Activity>, TrackerError> {
            self.asked.lock().unwrap().push(from);
            let Some(newest) = *self.newest.lock().unwrap() else {
                return Err(TrackerError::Http {
                    service: "GitHub".into(),
                    method: "GET".into(),
                    path: "/repos/acme/widgets/issues/events".into(),
                    status: 503,
                    message: "Service Unavailable".into(),
                });
            };
            let mut log = Activity::gap(from, String::new());
            log.failed = None;
            log.complete = true;
            log.newest_id = Some(newest);
            log.events = vec![IssueEvent {
                id: newest,
                issue: 1,
                actor: Some("sync-bot".into()),
                event: "renamed".into(),
                created_at: chrono::Utc::now(),
                subject: Some("new".into()),
            }];
            Ok(Some(log))
        }
    }

    #[tokio::test]
    async fn a_failing_listing_completes_the_snapshot_and_the_next_one_lists_that_window_again() {
        let archive = Archive::new(Arc::new(MemoryStore::new()), Arc::new(MemoryCatalog::new()));
        let tracker = Arc::new(Events {
            scope: "github:acme/widgets".parse().unwrap(),
            newest: Mutex::new(Some(5)),
            asked: Mutex::new(Vec::new()),
        });
        let opts = SnapshotOptions::default();
        let mut manifests = Vec::new();
        let mut entries = Vec::new();
        for newest in [Some(5), None, Some(9)] {
            *tracker.newest.lock().unwrap() = newest;
            let report = archive
                .create_snapshot(tracker.clone(), &opts)
                .await
                .unwrap();
            let entry = archive.entry(&report.id).await.unwrap().unwrap();
            manifests.push(archive.load_manifest(&entry).await.unwrap());
            entries.push(entry);
        }
        // The failed listing: the snapshot completed, its log is an empty gap that names why
        // and keeps the last good point.
        let failed = manifests[1].activity.clone().unwrap();
        assert_eq!((failed.newest, failed.events), (Some(5), 0));
        assert!(failed.gap.unwrap().reason.contains("503"));
        let log = archive.read_activity(&manifests[1]).await.unwrap().unwrap();
        assert!(!log.complete && log.failed.is_some());
        // The next snapshot listed from that same point: nothing of the window is lost.
        assert_eq!(
            *tracker.asked.lock().unwrap(),
            [
                ActivityFrom::Newest,
                ActivityFrom::AfterId(5),
                ActivityFrom::AfterId(5)
            ]
        );
        assert_eq!(manifests[2].activity.as_ref().unwrap().gap, None);
        // Between the first and the failed snapshot the logs are missing; up to the next
        // one they are covered.
        let logs = archive
            .activity_between(&entries[0], &entries[1])
            .await
            .unwrap();
        assert_eq!(logs.len(), 1);
        assert!(logs[0].failed.is_some());
        let logs = archive
            .activity_between(&entries[0], &entries[2])
            .await
            .unwrap();
        assert_eq!(logs.len(), 2);
        assert_eq!(logs[0].events.len(), 1);
        assert!(logs[0].failed.is_none() && logs[1].failed.is_some());
    }
}
