//! Verification: re-read every manifest and every blob a set of snapshots references, and
//! check each against its hash.

use std::collections::HashSet;
use std::fmt;

use futures::stream::{self, StreamExt};
use serde::Serialize;

use super::archive::READS_IN_FLIGHT;
use super::Archive;
use crate::catalog::{SnapshotEntry, SnapshotStatus};
use crate::error::Result;
use crate::id::BlobId;
use crate::units::human_bytes;

/// The result of [`Archive::verify`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VerifyReport {
    pub snapshots: u64,
    /// Distinct blobs read and re-hashed.
    pub blobs: u64,
    /// Compressed bytes read.
    pub bytes: u64,
    /// One line per missing or corrupt object, naming the snapshot that needs it.
    pub problems: Vec<String>,
    /// Entries that were not checked because they are not completed snapshots, and why.
    pub skipped: Vec<super::lifecycle::Skipped>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Checked {} snapshot(s): {} blobs, {} read.",
            self.snapshots,
            self.blobs,
            human_bytes(self.bytes)
        )?;
        for s in &self.skipped {
            writeln!(f, "  – skipped {} ({}): {}", s.id, s.status, s.reason)?;
        }
        if self.problems.is_empty() {
            write!(
                f,
                "All manifests and blobs are present and match their hashes."
            )
        } else {
            writeln!(f, "{} problem(s):", self.problems.len())?;
            for p in &self.problems {
                writeln!(f, "  ✗ {p}")?;
            }
            Ok(())
        }
    }
}

impl Archive {
    /// Re-reads every manifest and every blob they reference, checking each hash. A blob
    /// shared by many snapshots is read once.
    pub async fn verify(&self, entries: &[SnapshotEntry]) -> Result<VerifyReport> {
        let mut report = VerifyReport {
            skipped: super::lifecycle::skipped(entries),
            ..VerifyReport::default()
        };
        let mut seen: HashSet<BlobId> = HashSet::new();
        for entry in entries
            .iter()
            .filter(|e| e.status == SnapshotStatus::Completed)
        {
            report.snapshots += 1;
            let manifest = match self.load_manifest(entry).await {
                Ok(m) => m,
                Err(e) => {
                    report.problems.push(format!("snapshot {}: {e}", entry.id));
                    continue;
                }
            };
            let todo: Vec<BlobId> = manifest
                .entries
                .iter()
                .map(|e| e.blob.clone())
                .filter(|b| seen.insert(b.clone()))
                .collect();
            let results: Vec<(BlobId, std::result::Result<u64, String>)> = stream::iter(todo)
                .map(|id| {
                    let archive = self.clone();
                    async move {
                        let outcome = archive
                            .read_blob::<serde_json::Value>(&id)
                            .await
                            .map(|(_, len)| len)
                            .map_err(|e| e.to_string());
                        (id, outcome)
                    }
                })
                .buffer_unordered(READS_IN_FLIGHT)
                .collect()
                .await;
            for (_, outcome) in results {
                report.blobs += 1;
                match outcome {
                    Ok(n) => report.bytes += n,
                    Err(e) => report
                        .problems
                        .push(format!("snapshot {} ({}): {e}", entry.id, entry.scope)),
                }
            }
        }
        Ok(report)
    }
}
