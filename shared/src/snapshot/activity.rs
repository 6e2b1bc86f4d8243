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
use crate::manifest::{ActivityRef, Manifest};
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
        let Some(log) = tracker.activity(from).await? else {
            return Ok(None);
        };
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
        };
        Ok(Some((stored, log)))
    }

    /// The activity log stored with a snapshot, checked against the hash its manifest holds.
    pub async fn read_activity(&self, manifest: &Manifest) -> Result<Option<Activity>> {
        let Some(r) = &manifest.activity else {
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
            let manifest = self.load_manifest(&entry).await?;
            if let Some(log) = self.read_activity(&manifest).await? {
                logs.push(log);
            }
            at = match manifest.parent {
                Some(p) => self.entry(&p).await?,
                None => None,
            };
        }
        Ok(logs)
    }
}
