//! `export`: selected snapshots into one archive file, streamed.
//!
//! Snapshots go oldest first; before each snapshot's record come the blobs it names that the
//! file does not hold yet, read from the store (checked against their content addresses) a
//! few at a time. Memory holds one manifest and the set of blob ids written so far (32 bytes
//! each), never the records themselves.

use std::collections::HashSet;
use std::fmt;
use std::io::Write;

use futures::stream::{self, StreamExt};
use serde::Serialize;

use crate::blob::{self, BlobError};
use crate::catalog::{SnapshotEntry, SnapshotStatus};
use crate::error::{Error, Result};
use crate::id::{BlobId, SnapshotId};
use crate::scope::Scope;
use crate::snapshot::Archive;
use crate::units::human_bytes;

use super::format::ArchiveWriter;
use super::SnapshotRecord;

/// Blob reads in flight while exporting.
const READS_IN_FLIGHT: usize = 16;

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub file: String,
    pub format: u32,
    pub snapshots: Vec<ExportedSnapshot>,
    /// Distinct blobs in the file.
    pub blobs: u64,
    /// Their canonical (uncompressed) bytes.
    pub logical_bytes: u64,
    /// The file's size.
    pub file_bytes: u64,
    /// The checksum in its end record.
    pub sha256: String,
    /// The id of the repository key the file is encrypted with; absent for a plain file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypted_with: Option<String>,
}

/// One snapshot in an export.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedSnapshot {
    pub id: SnapshotId,
    pub scope: Scope,
    pub name: Option<String>,
    pub status: SnapshotStatus,
    pub records: u64,
}

impl fmt::Display for ExportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.snapshots {
            writeln!(
                f,
                "  {}  {}  {}  {} records{}",
                s.id,
                s.scope,
                s.name.as_deref().unwrap_or("-"),
                s.records,
                if s.status == SnapshotStatus::Completed {
                    String::new()
                } else {
                    format!(" ({})", s.status)
                }
            )?;
        }
        write!(
            f,
            "exported {} snapshot(s), {} distinct blobs ({} of records) into {}: {}, sha256 {}",
            self.snapshots.len(),
            self.blobs,
            human_bytes(self.logical_bytes),
            self.file,
            human_bytes(self.file_bytes),
            &self.sha256[..16.min(self.sha256.len())]
        )?;
        if let Some(key) = &self.encrypted_with {
            write!(
                f,
                "\nencrypted with the store's key {key}: only its passphrase or key file opens it (--decrypt exports plaintext)"
            )?;
        }
        Ok(())
    }
}

/// Writes `entries` (as [`super::Selection::select`] returns them) into `out`; `file` names
/// it in messages. Returns the output, flushed, with the report.
///
/// From an encrypted store the file stays encrypted — its record stream sealed under the
/// store's key, its header carrying the store's key slots — unless `decrypt` asks for
/// plaintext: content never leaves encrypted by accident.
pub async fn export<W: Write>(
    archive: &Archive,
    entries: &[SnapshotEntry],
    file: &str,
    out: W,
    decrypt: bool,
) -> Result<(W, ExportReport)> {
    let (mut writer, encrypted) = match archive.store.encryption().filter(|_| !decrypt) {
        Some(store) => {
            let encryption = store.archive_encryption()?;
            let writer = ArchiveWriter::sealed(file, out, store.key(), &encryption)?;
            (writer, Some(encryption.key_id))
        }
        None => (ArchiveWriter::new(file, out)?, None),
    };
    let mut written: HashSet<BlobId> = HashSet::new();
    let mut report = ExportReport {
        file: file.to_string(),
        format: super::FORMAT_VERSION,
        snapshots: Vec::with_capacity(entries.len()),
        blobs: 0,
        logical_bytes: 0,
        file_bytes: 0,
        sha256: String::new(),
        encrypted_with: encrypted,
    };
    for entry in entries {
        let manifest = match entry.status {
            SnapshotStatus::Completed => {
                let mut m = archive.load_manifest(entry).await?;
                // How the source store compressed its blobs is not the file's business.
                m.dict = None;
                m.dict_hash = None;
                Some(m)
            }
            _ => None,
        };
        if let Some(m) = &manifest {
            let fresh: Vec<BlobId> = m
                .entries
                .iter()
                .map(|e| e.blob.clone())
                // The activity log (who changed what) travels as one more blob.
                .chain(m.activity.iter().map(|a| a.blob.clone()))
                .filter(|b| written.insert(b.clone()))
                .collect();
            let mut reads = stream::iter(fresh)
                .map(|id| async move {
                    let bytes = read_canonical(archive, &id).await?;
                    Ok::<_, Error>((id, bytes))
                })
                .buffered(READS_IN_FLIGHT);
            while let Some(read) = reads.next().await {
                let (id, bytes) = read?;
                writer.blob(&id, &bytes)?;
                report.blobs += 1;
                report.logical_bytes += bytes.len() as u64;
            }
        }
        let mut entry = entry.clone();
        // Store-specific: the importing store records its own.
        entry.manifest_hash = None;
        entry.lease = None;
        let record = SnapshotRecord {
            manifest,
            entry: entry.clone(),
        };
        let json = serde_json::to_vec(&record).map_err(|source| BlobError::Encode {
            what: "snapshot record",
            source,
        })?;
        writer.snapshot(&json)?;
        report.snapshots.push(ExportedSnapshot {
            id: entry.id,
            scope: entry.scope,
            name: entry.name,
            status: entry.status,
            records: record
                .manifest
                .as_ref()
                .map_or(0, |m| m.entries.len() as u64),
        });
    }
    let (out, trailer, size) = writer.finish()?;
    report.file_bytes = size;
    report.sha256 = trailer.sha256;
    Ok((out, report))
}

/// A blob's canonical bytes, checked against its id (whatever dictionary the store
/// compressed it with).
pub(super) async fn read_canonical(archive: &Archive, id: &BlobId) -> Result<Vec<u8>> {
    let key = id.key();
    let stored = archive.store.get(&key).await?;
    let bytes = match blob::frame_dictionary(&stored) {
        Some(d) => archive.dictionary(d).await?.decompress(&key, &stored)?,
        None => blob::decompress(&key, &stored)?,
    };
    let actual = BlobId::of(&bytes);
    if &actual != id {
        return Err(BlobError::Corrupt {
            key,
            detail: format!("content hashes to {actual}"),
        }
        .into());
    }
    Ok(bytes)
}
