//! `import` (from an archive file) and `copy` (from another store): one plan — what each
//! snapshot becomes in the destination — and one way of writing a snapshot into it.
//!
//! Both check everything before the first write and hold a capture lease on the destination
//! while writing (garbage collection never sees a blob whose manifest is not written yet).
//! Each snapshot is written blobs → manifest → catalog row, so an import or copy that dies
//! midway leaves only complete snapshots visible; running it again finds those (same id) and
//! writes the rest. Blobs are content-addressed, so writing one again is a no-op.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::{self, FuturesUnordered, StreamExt, TryStreamExt};
use serde::Serialize;

use crate::blob;
use crate::catalog::{SnapshotEntry, SnapshotStatus};
use crate::crypt::{CryptError, KeySlot, RepoKey};
use crate::error::{Error, Result};
use crate::id::{BlobId, ObjectHash, SnapshotId};
use crate::lease::{self, LeaseOptions, StoreLease};
use crate::manifest::Manifest;
use crate::scope::Scope;
use crate::snapshot::Archive;
use crate::store::PutOutcome;
use crate::units::human_bytes;

use super::export::read_canonical;
use super::format::{ArchiveFileError, ArchiveReader, Frame};
use super::{fingerprint, OnDuplicate, SnapshotRecord};

/// Blob copies in flight during `copy`.
const COPIES_IN_FLIGHT: usize = 16;
/// Blob writes in flight during `import`.
const WRITES_IN_FLIGHT: usize = 16;

/// How an import or copy runs.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub on_duplicate: OnDuplicate,
    /// Write; otherwise only check and report what would be written.
    pub execute: bool,
    /// The destination's store lease.
    pub lease: LeaseOptions,
    /// The passphrase or key file given (import): what opens an encrypted file headed for
    /// an empty store. Given with a plain file for a plain store, the import is refused (the
    /// user believes the store encrypted).
    pub secrets: crate::crypt::Secrets,
}

/// What becomes of one snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Not in the destination: written.
    Add,
    /// In the destination; `--on-duplicate skip` leaves it.
    Skip,
    /// In the destination with other content; `--on-duplicate overwrite` replaces it.
    Overwrite,
    /// In the destination with the same content: nothing to write.
    Unchanged,
    /// In the destination, and the policy refuses (`error`, or a pinned snapshot).
    Conflict,
}

impl Action {
    fn writes(self) -> bool {
        matches!(self, Action::Add | Action::Overwrite)
    }
}

/// One snapshot of an import or copy.
#[derive(Debug, Clone, Serialize)]
pub struct Transferred {
    pub id: SnapshotId,
    pub scope: Scope,
    pub name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub status: SnapshotStatus,
    pub records: u64,
    pub action: Action,
    /// Why, for skips and conflicts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What an import or copy did (or, without `execute`, would do).
#[derive(Debug, Clone, Serialize)]
pub struct TransferReport {
    /// The archive file, or the source store.
    pub from: String,
    /// The destination store.
    pub to: String,
    pub on_duplicate: OnDuplicate,
    pub executed: bool,
    pub snapshots: Vec<Transferred>,
    /// Blobs the snapshots to write need.
    pub blobs_needed: u64,
    /// Blobs newly stored (0 in a preview).
    pub blobs_written: u64,
    /// Bytes newly stored: blobs and manifests (0 in a preview).
    pub bytes_written: u64,
    /// An encrypted archive file: the id of the key it is encrypted with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypted_with: Option<String>,
    /// The destination was a new, plain store that the import makes (or, in a preview,
    /// would make) encrypted with the archive's key and key slots.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub encrypts_store: bool,
}

impl TransferReport {
    pub fn count(&self, action: Action) -> usize {
        self.snapshots.iter().filter(|s| s.action == action).count()
    }

    /// The refusal to return when the policy found conflicts (nothing was written).
    pub fn refusal(&self) -> Option<Error> {
        let conflicts: Vec<String> = self
            .snapshots
            .iter()
            .filter(|s| s.action == Action::Conflict)
            .map(|s| {
                format!(
                    "{} ({})",
                    s.id,
                    s.reason.as_deref().unwrap_or("already exists")
                )
            })
            .collect();
        if conflicts.is_empty() {
            return None;
        }
        Some(Error::Refused(format!(
            "{} snapshot(s) already in {}: {}; nothing was written — choose --on-duplicate skip (keep them) or overwrite (replace them)",
            conflicts.len(),
            self.to,
            conflicts.join(", ")
        )))
    }
}

impl fmt::Display for TransferReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.snapshots {
            let action = match s.action {
                Action::Add => "add",
                Action::Skip => "skip",
                Action::Overwrite => "overwrite",
                Action::Unchanged => "unchanged",
                Action::Conflict => "CONFLICT",
            };
            write!(
                f,
                "  {action:<9}  {}  {}  {}  {} records",
                s.id,
                s.scope,
                s.name.as_deref().unwrap_or("-"),
                s.records
            )?;
            if s.status != SnapshotStatus::Completed {
                write!(f, " ({})", s.status)?;
            }
            if let Some(reason) = &s.reason {
                write!(f, " — {reason}")?;
            }
            writeln!(f)?;
        }
        let (add, skip, over, same) = (
            self.count(Action::Add),
            self.count(Action::Skip),
            self.count(Action::Overwrite),
            self.count(Action::Unchanged),
        );
        if let Some(key) = &self.encrypted_with {
            writeln!(
                f,
                "{} is encrypted with key {key}{}",
                self.from,
                match (self.encrypts_store, self.executed) {
                    (true, true) => format!("; {} is now encrypted with it, opened by the same passphrases and key files as the store it came from", self.to),
                    (true, false) => format!("; {} would be encrypted with it", self.to),
                    (false, _) => format!(", which {} holds", self.to),
                }
            )?;
        }
        if self.executed {
            write!(
                f,
                "{} → {}: added {add}, skipped {skip}, overwritten {over}, unchanged {same}; {} blobs written ({})",
                self.from,
                self.to,
                self.blobs_written,
                human_bytes(self.bytes_written)
            )
        } else {
            write!(
                f,
                "{} → {}: would add {add}, skip {skip}, overwrite {over}, leave {same} unchanged ({} blobs needed); nothing written — run again with --execute",
                self.from, self.to, self.blobs_needed
            )
        }
    }
}

/// Decides what each snapshot becomes in the destination.
struct Planner<'a> {
    dest: &'a Archive,
    policy: OnDuplicate,
}

impl Planner<'_> {
    async fn decide(
        &self,
        entry: &SnapshotEntry,
        manifest: Option<&Manifest>,
    ) -> Result<(Action, Option<String>)> {
        let Some(existing) = self.dest.entry(&entry.id).await? else {
            return Ok((Action::Add, None));
        };
        Ok(match self.policy {
            OnDuplicate::Error => (Action::Conflict, None),
            OnDuplicate::Skip => (Action::Skip, Some("already in the destination".into())),
            OnDuplicate::Overwrite => {
                if self.same(&existing, entry, manifest).await {
                    (
                        Action::Unchanged,
                        Some("identical in the destination".into()),
                    )
                } else if existing.pinned {
                    (
                        Action::Conflict,
                        Some("pinned in the destination; unpin it to overwrite it".into()),
                    )
                } else if existing.status.is_open() {
                    (
                        Action::Conflict,
                        Some("a capture still running in the destination".into()),
                    )
                } else {
                    (Action::Overwrite, None)
                }
            }
        })
    }

    /// Whether the destination's snapshot holds what the source's does. One whose manifest
    /// cannot be read is not the same: overwriting repairs it.
    async fn same(
        &self,
        existing: &SnapshotEntry,
        entry: &SnapshotEntry,
        manifest: Option<&Manifest>,
    ) -> bool {
        if existing.status != entry.status || existing.scope != entry.scope {
            return false;
        }
        let theirs = match existing.status {
            SnapshotStatus::Completed => match self.dest.load_manifest(existing).await {
                Ok(m) => Some(m),
                Err(_) => return false,
            },
            _ => None,
        };
        // A copy made before archives carried activity logs lacks one the source has:
        // overwriting adds it (the records are the same either way).
        let has_log = |m: Option<&Manifest>| m.is_some_and(|m| m.activity.is_some());
        if has_log(manifest) && !has_log(theirs.as_ref()) {
            return false;
        }
        fingerprint(existing.name.as_deref(), theirs.as_ref())
            == fingerprint(entry.name.as_deref(), manifest)
    }
}

/// Checks that a snapshot record is whole: its manifest belongs to its entry and names only
/// blobs in `present`.
fn check_record(record: &SnapshotRecord, present: &HashSet<BlobId>) -> Result<(), String> {
    let entry = &record.entry;
    match (&record.manifest, entry.status) {
        (Some(m), SnapshotStatus::Completed) => {
            if m.id != entry.id || m.scope != entry.scope {
                return Err(format!(
                    "snapshot {}'s manifest is that of {} in {}",
                    entry.id, m.id, m.scope
                ));
            }
            if m.counts() != entry.counts {
                return Err(format!(
                    "snapshot {} counts {} records, its manifest holds {}",
                    entry.id,
                    entry.counts.total(),
                    m.entries.len()
                ));
            }
            if let Some(log) = m.activity.as_ref().filter(|a| !present.contains(&a.blob)) {
                return Err(format!(
                    "snapshot {} names activity log {}, which the file does not hold before it",
                    entry.id, log.blob
                ));
            }
            if let Some(missing) = m.entries.iter().find(|e| !present.contains(&e.blob)) {
                return Err(format!(
                    "snapshot {} names blob {} ({}), which the file does not hold before it",
                    entry.id,
                    missing.blob,
                    missing.key()
                ));
            }
            Ok(())
        }
        (None, SnapshotStatus::Failed) => Ok(()),
        (_, status) => Err(format!(
            "snapshot {} is {status} and {} a manifest",
            entry.id,
            if record.manifest.is_some() {
                "has"
            } else {
                "lacks"
            }
        )),
    }
}

/// Every blob a snapshot's manifest names: its records' and its activity log's.
fn blobs_of(m: &Manifest) -> impl Iterator<Item = BlobId> + '_ {
    m.entries
        .iter()
        .map(|e| e.blob.clone())
        .chain(m.activity.iter().map(|a| a.blob.clone()))
}

fn transferred(record: &SnapshotRecord, action: Action, reason: Option<String>) -> Transferred {
    Transferred {
        id: record.entry.id,
        scope: record.entry.scope.clone(),
        name: record.entry.name.clone(),
        created_at: record.entry.created_at,
        status: record.entry.status,
        records: record
            .manifest
            .as_ref()
            .map_or(0, |m| m.entries.len() as u64),
        action,
        reason,
    }
}

/// Writes one snapshot's manifest and catalog row; its blobs are written (deferred) before.
/// Returns the bytes newly stored.
async fn commit(
    dest: &Archive,
    record: SnapshotRecord,
    action: Action,
    lease: &StoreLease,
) -> Result<u64> {
    dest.store.flush().await?;
    if action == Action::Overwrite {
        if let Some(existing) = dest.catalog.get(&record.entry.id).await? {
            dest.delete_snapshot(&existing, false).await?;
        }
    }
    let mut entry = record.entry;
    let mut stored = 0;
    entry.manifest_key = Manifest::key_for(&entry.scope, &entry.id);
    entry.manifest_hash = None;
    entry.lease = None;
    if let Some(mut manifest) = record.manifest {
        // Imported blobs are compressed without a dictionary.
        manifest.dict = None;
        manifest.dict_hash = None;
        // The activity log's blob is written (deferred, flushed above); the hash the
        // manifest vouches for is of its bytes as this store holds them.
        if let Some(log) = &mut manifest.activity {
            log.hash = ObjectHash::of(&dest.store.get(&log.blob.key()).await?);
        }
        manifest.sort_entries();
        let sealed = dest.write_manifest(&manifest).await?;
        entry.manifest_hash = Some(sealed.hash);
        stored = sealed.stored_new;
    }
    lease.confirm().await?;
    dest.catalog.create(&entry).await?;
    Ok(stored)
}

fn open_file(path: &Path, name: &str) -> Result<std::fs::File, ArchiveFileError> {
    std::fs::File::open(path).map_err(|e| ArchiveFileError::Read {
        file: name.to_string(),
        detail: e.to_string(),
    })
}

fn open(
    path: &Path,
    name: &str,
    key: Option<&RepoKey>,
) -> Result<ArchiveReader<std::fs::File>, ArchiveFileError> {
    ArchiveReader::open_with(name, open_file(path, name)?, key)
}

/// What opens the file and where it goes: the repository key of an encrypted file (the
/// destination's, or unwrapped from the file's key slots for an empty store the import
/// makes encrypted), or none for a plain file.
struct Keying {
    key: Option<RepoKey>,
    /// The key id of an encrypted file.
    key_id: Option<String>,
    /// The slots the empty destination gets, when it is to be encrypted.
    adopt: Option<Vec<KeySlot>>,
}

/// Decides how the file at `path` meets `dest` (see [`Keying`]); any mismatch is refused
/// before anything is read past the header.
async fn keying(dest: &Archive, path: &Path, name: &str, opts: &ImportOptions) -> Result<Keying> {
    let header = ArchiveReader::header_of(name, open_file(path, name)?)?;
    let enc = match header.stream_encryption() {
        None => {
            if !dest.store.is_encrypted() && !opts.secrets.is_empty() {
                return Err(CryptError::NotEncrypted {
                    store: dest.store_location(),
                }
                .into());
            }
            return Ok(Keying {
                key: None,
                key_id: None,
                adopt: None,
            });
        }
        Some(Err(what)) => {
            return Err(ArchiveFileError::Unsupported {
                file: name.to_string(),
                what,
            }
            .into())
        }
        Some(Ok(enc)) => enc,
    };
    if let Some(store) = dest.store.encryption() {
        if store.key().key_id() != enc.key_id {
            return Err(ArchiveFileError::OtherKey {
                file: name.to_string(),
                archive_key: enc.key_id,
                store: dest.store_location(),
                store_key: store.key().key_id().to_string(),
            }
            .into());
        }
        return Ok(Keying {
            key: Some(store.key().clone()),
            key_id: Some(enc.key_id),
            adopt: None,
        });
    }
    // A plain destination: only a new one takes an encrypted file, becoming encrypted.
    let held = dest.entries(None).await?;
    if let Some(first) = held.first() {
        return Err(Error::Refused(format!(
            "{name} is encrypted and {} is an unencrypted store that holds snapshots already ({} of them, e.g. {}): import the file into a new store (it becomes encrypted with the file's key) or into the encrypted store it came from, or export it again with --decrypt; nothing was written",
            dest.store_location(),
            held.len(),
            first.id
        )));
    }
    crate::crypt::check_empty(&*dest.store).await?;
    if opts.secrets.is_empty() {
        return Err(ArchiveFileError::Encrypted {
            file: name.to_string(),
        }
        .into());
    }
    let key = crate::crypt::unlock_archive(name, &enc, &opts.secrets)?;
    Ok(Keying {
        key: Some(key),
        key_id: Some(enc.key_id),
        adopt: Some(enc.slots),
    })
}

fn damaged(reader: &ArchiveReader<std::fs::File>, detail: String) -> ArchiveFileError {
    ArchiveFileError::Damaged {
        file: reader.file().to_string(),
        detail,
    }
}

/// What the first pass over a file found.
struct Survey {
    report: TransferReport,
    /// Per snapshot record, in file order: the hash of its bytes and what to do.
    plan: Vec<(ObjectHash, Action)>,
    needed: HashSet<BlobId>,
}

/// Imports an archive file into `dest` (see the module docs). A file that fails any check is
/// refused before anything is written, and so is an import (with `execute`) that finds
/// duplicates its policy refuses; a preview returns them in the report (see
/// [`TransferReport::refusal`]).
pub async fn import_file(
    dest: &Archive,
    path: &Path,
    opts: &ImportOptions,
) -> Result<TransferReport> {
    let name = path.display().to_string();
    let refused = |e: Error| match e {
        // A file that cannot be opened is an error; one that fails a check is refused.
        Error::ArchiveFile(e @ ArchiveFileError::Read { .. }) => Error::ArchiveFile(e),
        Error::ArchiveFile(e) => Error::Refused(format!("{e}; nothing was written")),
        e => e,
    };
    let keying = keying(dest, path, &name, opts).await.map_err(refused)?;
    let survey = survey(dest, path, &name, opts.on_duplicate, keying.key.as_ref())
        .await
        .map_err(refused)?;
    let Survey {
        mut report,
        plan,
        needed,
    } = survey;
    report.encrypted_with = keying.key_id.clone();
    report.encrypts_store = keying.adopt.is_some();
    if opts.execute {
        if let Some(refusal) = report.refusal() {
            return Err(refusal);
        }
    }
    if !opts.execute || !plan.iter().any(|(_, a)| a.writes()) {
        report.executed = opts.execute;
        return Ok(report);
    }
    let lease = StoreLease::capture(
        Arc::clone(&dest.catalog),
        &lease::holder("import"),
        opts.lease,
    )
    .await?;
    // A new store takes the file's key before its first object: every object is sealed.
    let adopted = match (&keying.adopt, &keying.key) {
        (Some(slots), Some(key)) => {
            match crate::crypt::adopt(Arc::clone(&dest.store), key.clone(), slots).await {
                Ok(store) => Some(Archive::new(store, Arc::clone(&dest.catalog))),
                Err(e) => {
                    let _ = lease.release().await;
                    return Err(e.into());
                }
            }
        }
        _ => None,
    };
    let dest = adopted.as_ref().unwrap_or(dest);
    let result = write_file(
        dest,
        path,
        &name,
        keying.key.as_ref(),
        &plan,
        &needed,
        &lease,
        &mut report,
    )
    .await;
    if let Err(e) = lease.release().await {
        tracing::warn!(error = %e, "could not release the import's store lease; it expires on its own");
    }
    result?;
    report.executed = true;
    Ok(report)
}

async fn survey(
    dest: &Archive,
    path: &Path,
    name: &str,
    policy: OnDuplicate,
    key: Option<&RepoKey>,
) -> Result<Survey> {
    let planner = Planner { dest, policy };
    let mut reader = open(path, name, key)?;
    let mut present: HashSet<BlobId> = HashSet::new();
    let mut ids: HashSet<SnapshotId> = HashSet::new();
    let mut survey = Survey {
        report: TransferReport {
            from: name.to_string(),
            to: dest.store_location(),
            on_duplicate: policy,
            executed: false,
            snapshots: Vec::new(),
            blobs_needed: 0,
            blobs_written: 0,
            bytes_written: 0,
            encrypted_with: None,
            encrypts_store: false,
        },
        plan: Vec::new(),
        needed: HashSet::new(),
    };
    loop {
        match reader.next_frame()? {
            Frame::Blob { id, .. } => {
                if !present.insert(id.clone()) {
                    return Err(damaged(&reader, format!("blob {id} appears twice")).into());
                }
            }
            Frame::Snapshot(json) => {
                let record: SnapshotRecord = serde_json::from_slice(&json).map_err(|e| {
                    damaged(
                        &reader,
                        format!("snapshot record {} is not valid ({e})", ids.len() + 1),
                    )
                })?;
                check_record(&record, &present).map_err(|d| damaged(&reader, d))?;
                if !ids.insert(record.entry.id) {
                    return Err(damaged(
                        &reader,
                        format!("snapshot {} appears twice", record.entry.id),
                    )
                    .into());
                }
                let (action, reason) = planner
                    .decide(&record.entry, record.manifest.as_ref())
                    .await?;
                if action.writes() {
                    if let Some(m) = &record.manifest {
                        survey.needed.extend(blobs_of(m));
                    }
                }
                survey.plan.push((ObjectHash::of(&json), action));
                survey
                    .report
                    .snapshots
                    .push(transferred(&record, action, reason));
            }
            Frame::End(_) => break,
        }
    }
    survey.report.blobs_needed = survey.needed.len() as u64;
    Ok(survey)
}

#[allow(clippy::too_many_arguments)]
async fn write_file(
    dest: &Archive,
    path: &Path,
    name: &str,
    key: Option<&RepoKey>,
    plan: &[(ObjectHash, Action)],
    needed: &HashSet<BlobId>,
    lease: &StoreLease,
    report: &mut TransferReport,
) -> Result<()> {
    let changed = || {
        Error::Refused(format!(
            "{name} changed since it was checked; the snapshots written so far are complete — run the import again"
        ))
    };
    let mut reader = open(path, name, key)?;
    let mut next = plan.iter();
    // Blob writes in flight; drained before each snapshot's manifest.
    let mut puts = FuturesUnordered::new();
    let settle = |done: Option<Result<Option<u64>>>, report: &mut TransferReport| -> Result<()> {
        if let Some(len) = done.transpose()?.flatten() {
            report.blobs_written += 1;
            report.bytes_written += len;
        }
        Ok(())
    };
    loop {
        match reader.next_frame()? {
            Frame::Blob { id, bytes } => {
                if !needed.contains(&id) {
                    continue;
                }
                let store = Arc::clone(&dest.store);
                puts.push(async move {
                    let stored = blob::compress(&bytes);
                    let len = stored.len() as u64;
                    let outcome = store.put_deferred(&id.key(), Bytes::from(stored)).await?;
                    Ok::<_, Error>((outcome == PutOutcome::Written).then_some(len))
                });
                if puts.len() >= WRITES_IN_FLIGHT {
                    settle(puts.next().await, report)?;
                }
            }
            Frame::Snapshot(json) => {
                while let Some(done) = puts.next().await {
                    settle(Some(done), report)?;
                }
                let (hash, action) = next.next().ok_or_else(changed)?;
                if *hash != ObjectHash::of(&json) {
                    return Err(changed());
                }
                if action.writes() {
                    let record: SnapshotRecord =
                        serde_json::from_slice(&json).map_err(|_| changed())?;
                    report.bytes_written += commit(dest, record, *action, lease).await?;
                }
            }
            Frame::End(_) => return Ok(()),
        }
    }
}

/// Copies `entries` (from [`super::Selection::select`] on `source`) into `dest`: the same
/// plan and writes as an import, without the file. Blobs the destination already holds are
/// not read again, so a copy run again after an interruption only does what is left.
pub async fn copy(
    source: &Archive,
    dest: &Archive,
    entries: &[SnapshotEntry],
    opts: &ImportOptions,
) -> Result<TransferReport> {
    let planner = Planner {
        dest,
        policy: opts.on_duplicate,
    };
    let mut report = TransferReport {
        from: source.store_location(),
        to: dest.store_location(),
        on_duplicate: opts.on_duplicate,
        executed: false,
        snapshots: Vec::with_capacity(entries.len()),
        blobs_needed: 0,
        blobs_written: 0,
        bytes_written: 0,
        encrypted_with: None,
        encrypts_store: false,
    };
    let mut needed: HashSet<BlobId> = HashSet::new();
    for entry in entries {
        let manifest = match entry.status {
            SnapshotStatus::Completed => Some(source.load_manifest(entry).await?),
            _ => None,
        };
        let record = SnapshotRecord {
            entry: entry.clone(),
            manifest,
        };
        let (action, reason) = planner
            .decide(&record.entry, record.manifest.as_ref())
            .await?;
        if action.writes() {
            if let Some(m) = &record.manifest {
                needed.extend(blobs_of(m));
            }
        }
        report.snapshots.push(transferred(&record, action, reason));
    }
    report.blobs_needed = needed.len() as u64;
    drop(needed);
    if !opts.execute {
        return Ok(report);
    }
    if let Some(refusal) = report.refusal() {
        return Err(refusal);
    }
    let lease = StoreLease::capture(
        Arc::clone(&dest.catalog),
        &lease::holder("copy"),
        opts.lease,
    )
    .await?;
    let result = copy_planned(source, dest, entries, &lease, &mut report).await;
    if let Err(e) = lease.release().await {
        tracing::warn!(error = %e, "could not release the copy's store lease; it expires on its own");
    }
    result?;
    report.executed = true;
    Ok(report)
}

async fn copy_planned(
    source: &Archive,
    dest: &Archive,
    entries: &[SnapshotEntry],
    lease: &StoreLease,
    report: &mut TransferReport,
) -> Result<()> {
    let mut copied: HashSet<BlobId> = HashSet::new();
    for (i, entry) in entries.iter().enumerate() {
        let action = report.snapshots[i].action;
        if !action.writes() {
            continue;
        }
        let manifest = match entry.status {
            SnapshotStatus::Completed => Some(source.load_manifest(entry).await?),
            _ => None,
        };
        if let Some(m) = &manifest {
            let todo: Vec<BlobId> = blobs_of(m).filter(|b| copied.insert(b.clone())).collect();
            let written: Vec<Option<u64>> = stream::iter(todo)
                .map(|id| async move {
                    if dest.store.exists(&id.key()).await? {
                        return Ok::<_, Error>(None);
                    }
                    let stored = blob::compress(&read_canonical(source, &id).await?);
                    let len = stored.len() as u64;
                    Ok(
                        match dest
                            .store
                            .put_deferred(&id.key(), Bytes::from(stored))
                            .await?
                        {
                            PutOutcome::Written => Some(len),
                            PutOutcome::Existed => None,
                        },
                    )
                })
                .buffer_unordered(COPIES_IN_FLIGHT)
                .try_collect()
                .await?;
            for len in written.into_iter().flatten() {
                report.blobs_written += 1;
                report.bytes_written += len;
            }
        }
        let record = SnapshotRecord {
            entry: entry.clone(),
            manifest,
        };
        report.bytes_written += commit(dest, record, action, lease).await?;
    }
    Ok(())
}
