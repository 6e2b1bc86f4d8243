//! The contract of portable archives on a pair of backends: snapshots taken in one archive,
//! exported to a file and imported into another (or copied straight across) come back
//! whole, `verify` clean and record for record equal; every duplicate policy does what it
//! says; a damaged, cut, newer or altered file is refused, naming what is wrong, with nothing
//! written; and a copy that dies midway converges when run again.
//!
//! Unlike the other suites this one needs destinations of its own (it compares everything
//! they hold before and after a refused import): give it fresh, empty ones.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::mpsc;

use super::{ok, run_id};
use crate::attribution::{Activity, ActivityFrom, IssueEvent, ACTIVITY_FORMAT};
use crate::catalog::{SnapshotEntry, SnapshotStatus};
use crate::error::Error;
use crate::id::BlobId;
use crate::keys;
use crate::portable::{
    self, Action, ArchiveReader, ArchiveWriter, Frame, ImportOptions, OnDuplicate, Selection,
};
use crate::record::{Label, Record, RecordSet};
use crate::scope::Scope;
use crate::snapshot::{Archive, SnapshotName, SnapshotOptions};
use crate::store::{ObjectInfo, ObjectStore, PutOutcome, StoreError};
use crate::tracker::{FetchOptions, FetchReport, Tracker, TrackerError};

/// Export → import (each policy, each kind of damage) between `source` and `dest`, then
/// `copy` from `source` into `copy_dest` with an interruption. `dest` and `copy_dest` must
/// be fresh.
pub async fn portable(source: Archive, dest: Archive, copy_dest: Archive) {
    let run = run_id();
    let scope: Scope = ok(
        format!("github:conformance/portable-{run}").parse(),
        "a scope",
    );
    let tracker = Arc::new(Labels(
        scope.clone(),
        std::sync::Mutex::new(labels(40, 0)),
        AtomicU64::new(0),
    ));
    let first = capture(&source, &tracker, None).await;
    tracker.set(labels(45, 1));
    let second = capture(&source, &tracker, Some(&format!("second-{run}"))).await;
    let dir = std::env::temp_dir().join(format!("backtrack-portable-{run}"));
    ok(std::fs::create_dir_all(&dir), "a temporary folder");

    let selection = Selection {
        scopes: vec![scope.clone()],
        ..Selection::default()
    };
    let picked = ok(selection.select(&source).await, "select the scope");
    assert_eq!(
        picked.iter().map(|e| e.id).collect::<Vec<_>>(),
        [first.id, second.id],
        "a scope's snapshots, oldest first"
    );
    let named = Selection {
        name: Some(format!("sec*-{run}")),
        ..Selection::default()
    };
    let by_name = ok(named.select(&source).await, "select by name glob");
    assert_eq!(by_name.len(), 1, "the name glob picks one snapshot");

    let file = dir.join("both.btar");
    export(&source, &picked, &file).await;

    round_trip(&source, &dest, &file, &[&first, &second]).await;
    duplicates(&source, &dest, &tracker, &dir, &scope).await;
    refusals(&dest, &file, &dir).await;
    copy_interrupted(&source, &copy_dest, &picked).await;
    let _ = std::fs::remove_dir_all(&dir);
}

async fn capture(archive: &Archive, tracker: &Arc<Labels>, name: Option<&str>) -> SnapshotEntry {
    let opts = SnapshotOptions {
        name: name.map(|n| ok(SnapshotName::parse(n), "a snapshot name")),
        full: true,
        ..SnapshotOptions::default()
    };
    let report = ok(
        archive.create_snapshot(tracker.clone(), &opts).await,
        "take a snapshot",
    );
    ok(archive.entry(&report.id).await, "read the entry").expect("the snapshot just taken")
}

async fn export(archive: &Archive, entries: &[SnapshotEntry], file: &Path) {
    let out = ok(std::fs::File::create(file), "create the archive file");
    let (_, report) = ok(
        portable::export(archive, entries, &file.display().to_string(), out, false).await,
        "export",
    );
    assert_eq!(
        report.snapshots.len(),
        entries.len(),
        "every snapshot exported"
    );
}

async fn import(
    dest: &Archive,
    file: &Path,
    policy: OnDuplicate,
    execute: bool,
) -> crate::Result<portable::TransferReport> {
    let opts = ImportOptions {
        on_duplicate: policy,
        execute,
        ..ImportOptions::default()
    };
    portable::import_file(dest, file, &opts).await
}

/// Everything `archive` holds: its objects and its catalog rows.
async fn everything(archive: &Archive) -> (Vec<ObjectInfo>, Vec<SnapshotEntry>) {
    let mut objects = Vec::new();
    // The data, not bookkeeping a store may keep beside it (a SQLite catalog's files).
    for prefix in [keys::BLOBS, keys::DICTS, keys::MANIFESTS] {
        objects.extend(ok(archive.raw_store().list(prefix).await, "list the store"));
    }
    for o in &mut objects {
        o.modified = None;
    }
    let rows = ok(archive.raw_catalog().list(None).await, "list the catalog");
    (objects, rows)
}

async fn records(archive: &Archive, entry: &SnapshotEntry) -> RecordSet {
    let manifest = ok(archive.load_manifest(entry).await, "load a manifest");
    ok(archive.load_records(&manifest, true).await, "load records")
}

/// A snapshot's activity log, which every snapshot of the conformance tracker has.
async fn activity(archive: &Archive, entry: &SnapshotEntry) -> Activity {
    let manifest = ok(archive.load_manifest(entry).await, "load a manifest");
    ok(
        archive.read_activity(&manifest).await,
        "read the activity log",
    )
    .unwrap_or_else(|| panic!("snapshot {} has no activity log", entry.id))
}

async fn assert_same(source: &Archive, dest: &Archive, entries: &[&SnapshotEntry], step: &str) {
    for original in entries {
        let copy = ok(dest.entry(&original.id).await, "read the imported entry")
            .unwrap_or_else(|| panic!("{step}: snapshot {} is missing", original.id));
        assert_eq!(copy.status, SnapshotStatus::Completed, "{step}");
        assert_eq!(
            (
                &copy.scope,
                &copy.name,
                copy.trigger,
                copy.created_at,
                copy.counts,
                copy.parent
            ),
            (
                &original.scope,
                &original.name,
                original.trigger,
                original.created_at,
                original.counts,
                original.parent
            ),
            "{step}: the catalog entry comes back"
        );
        assert!(
            records(source, original).await == records(dest, &copy).await,
            "{step}: snapshot {} differs from the original",
            original.id
        );
        assert_eq!(
            activity(dest, &copy).await,
            activity(source, original).await,
            "{step}: snapshot {}'s activity log (who changed what) comes back",
            original.id
        );
    }
    let ids: Vec<SnapshotEntry> = {
        let mut v = Vec::new();
        for e in entries {
            if let Some(e) = ok(dest.entry(&e.id).await, "entry") {
                v.push(e);
            }
        }
        v
    };
    let verified = ok(dest.verify(&ids).await, "verify the destination");
    assert!(verified.is_ok(), "{step}: verify finds damage: {verified}");
}

async fn round_trip(source: &Archive, dest: &Archive, file: &Path, entries: &[&SnapshotEntry]) {
    let before = everything(dest).await;
    let preview = ok(
        import(dest, file, OnDuplicate::Error, false).await,
        "preview an import",
    );
    assert!(!preview.executed);
    assert_eq!(preview.count(Action::Add), entries.len(), "{preview}");
    assert!(preview.blobs_needed > 0);
    assert_eq!(everything(dest).await, before, "a preview writes nothing");

    let done = ok(import(dest, file, OnDuplicate::Error, true).await, "import");
    assert!(done.executed);
    assert_eq!(done.count(Action::Add), entries.len(), "{done}");
    assert_eq!(done.blobs_written, done.blobs_needed, "{done}");
    assert_same(source, dest, entries, "round trip").await;

    // Again: every policy leaves the destination as it is.
    let after = everything(dest).await;
    let refused = import(dest, file, OnDuplicate::Error, true)
        .await
        .expect_err("a second import with --on-duplicate error is refused");
    assert!(refused.is_refusal(), "{refused}");
    assert!(
        refused.to_string().contains("nothing was written"),
        "{refused}"
    );
    let skipped = ok(import(dest, file, OnDuplicate::Skip, true).await, "skip");
    assert_eq!(skipped.count(Action::Skip), entries.len(), "{skipped}");
    assert_eq!(skipped.blobs_written, 0, "skipped snapshots write no blob");
    let same = ok(
        import(dest, file, OnDuplicate::Overwrite, true).await,
        "overwrite",
    );
    assert_eq!(same.count(Action::Unchanged), entries.len(), "{same}");
    assert_eq!(everything(dest).await, after, "import is idempotent");
}

/// An archive overlapping the destination: one new snapshot, one already there, and one
/// whose id is there with other content.
async fn duplicates(
    source: &Archive,
    dest: &Archive,
    tracker: &Arc<Labels>,
    dir: &Path,
    scope: &Scope,
) {
    tracker.set(labels(50, 2));
    let third = capture(source, tracker, None).await;
    let all = ok(
        Selection {
            scopes: vec![scope.clone()],
            ..Selection::default()
        }
        .select(source)
        .await,
        "select",
    );
    assert_eq!(all.len(), 3);
    // The middle snapshot rewritten with one record fewer: same id, other content.
    let plain = dir.join("three.btar");
    export(source, &all, &plain).await;
    let overlap = dir.join("overlap.btar");
    rewrite(&plain, &overlap, |frame| match frame {
        Frame::Snapshot(json) => {
            let mut v: serde_json::Value = serde_json::from_slice(&json).expect("json");
            if v["entry"]["id"] == serde_json::json!(all[1].id.to_string()) {
                let entries = v["manifest"]["entries"].as_array_mut().expect("entries");
                entries.pop();
                let n = entries.len();
                v["entry"]["counts"]["labels"] = serde_json::json!(n);
            }
            Some(Frame::Snapshot(serde_json::to_vec(&v).expect("json")))
        }
        other => Some(other),
    });

    let before = everything(dest).await;
    let refused = import(dest, &overlap, OnDuplicate::Error, true)
        .await
        .expect_err("an overlapping import with --on-duplicate error is refused");
    assert!(
        refused.to_string().contains(&all[0].id.to_string()),
        "{refused}"
    );
    assert_eq!(everything(dest).await, before, "error writes nothing");

    let preview = ok(
        import(dest, &overlap, OnDuplicate::Overwrite, false).await,
        "preview",
    );
    assert_eq!(
        (
            preview.count(Action::Add),
            preview.count(Action::Unchanged),
            preview.count(Action::Overwrite)
        ),
        (1, 1, 1),
        "{preview}"
    );
    let skipped = ok(
        import(dest, &overlap, OnDuplicate::Skip, true).await,
        "skip",
    );
    assert_eq!(
        (skipped.count(Action::Add), skipped.count(Action::Skip)),
        (1, 2),
        "{skipped}"
    );
    assert_same(
        source,
        dest,
        &[&all[0], &all[1], &third],
        "skip keeps the destination's",
    )
    .await;

    let over = ok(
        import(dest, &overlap, OnDuplicate::Overwrite, true).await,
        "overwrite",
    );
    assert_eq!(
        (over.count(Action::Overwrite), over.count(Action::Unchanged)),
        (1, 2),
        "{over}"
    );
    let replaced = ok(dest.entry(&all[1].id).await, "entry").expect("still there");
    assert_eq!(
        replaced.counts.total(),
        all[1].counts.total() - 1,
        "overwritten"
    );
    assert_eq!(
        records(dest, &replaced).await.labels.len() as u64,
        all[1].counts.total() - 1
    );
    // Overwritten from the plain export: back to the original.
    let back = ok(
        import(dest, &plain, OnDuplicate::Overwrite, true).await,
        "overwrite back",
    );
    assert_eq!(back.count(Action::Overwrite), 1, "{back}");
    assert_same(source, dest, &[&all[0], &all[1], &third], "overwrite").await;
}

/// Copies `from` into `to`, record by record, letting `edit` change, drop or keep each.
fn rewrite(from: &Path, to: &Path, mut edit: impl FnMut(Frame) -> Option<Frame>) {
    let input = ok(std::fs::File::open(from), "open");
    let mut reader = ok(ArchiveReader::open("in", input), "read");
    let out = ok(std::fs::File::create(to), "create");
    let mut writer = ok(ArchiveWriter::new("out", out), "write");
    loop {
        match ok(reader.next_frame(), "a record") {
            Frame::End(_) => break,
            frame => match edit(frame) {
                Some(Frame::Blob { id, bytes }) => ok(writer.blob(&id, &bytes), "blob"),
                Some(Frame::Snapshot(json)) => ok(writer.snapshot(&json), "snapshot"),
                _ => {}
            },
        }
    }
    ok(writer.finish(), "finish");
}

async fn refusals(dest: &Archive, good: &Path, dir: &Path) {
    let bytes = ok(std::fs::read(good), "read the archive");
    let mut cases: Vec<(&str, PathBuf, &str)> = Vec::new();
    let write = |name: &str, data: &[u8]| {
        let p = dir.join(name);
        ok(std::fs::write(&p, data), "write a case");
        p
    };
    for (i, at) in [bytes.len() / 3, bytes.len() / 2, bytes.len() - 5]
        .into_iter()
        .enumerate()
    {
        let mut flipped = bytes.clone();
        flipped[at] ^= 0x01;
        let name = format!("flipped-{i}.btar");
        cases.push(("flipped byte", write(&name, &flipped), "damaged"));
    }
    cases.push((
        "truncated",
        write("cut.btar", &bytes[..bytes.len() * 2 / 3]),
        "truncated",
    ));
    let newer = String::from_utf8_lossy(&bytes[..80]).replacen("\"format\":1", "\"format\":9", 1);
    let mut newer = newer.into_bytes();
    newer.extend_from_slice(&bytes[80..]);
    cases.push(("newer format", write("newer.btar", &newer), "format-9"));
    // A record's content changed and every checksum the file has recomputed: the id and the
    // manifest still name the old content.
    let altered = dir.join("altered.btar");
    let mut done = false;
    rewrite(good, &altered, |frame| match frame {
        Frame::Blob { bytes, .. } if !done => {
            done = true;
            let text = String::from_utf8_lossy(&bytes).replace("label", "LABEL");
            let bytes = text.into_bytes();
            Some(Frame::Blob {
                id: BlobId::of(&bytes),
                bytes,
            })
        }
        other => Some(other),
    });
    cases.push((
        "altered content, checksum recomputed",
        altered,
        "does not hold",
    ));
    // The activity logs are checked like every other blob: changed in place, or changed with
    // its id recomputed (the manifest still names the old log).
    for (name, recompute, says) in [
        ("activity-altered.btar", false, "was altered"),
        ("activity-renamed.btar", true, "names activity log"),
    ] {
        let path = dir.join(name);
        let mut done = false;
        rewrite(good, &path, |frame| match frame {
            Frame::Blob { id, bytes } if !done && is_activity_log(&bytes) => {
                done = true;
                let text =
                    String::from_utf8_lossy(&bytes).replace("conformance-bot", "someone-else");
                let bytes = text.into_bytes();
                let id = if recompute { BlobId::of(&bytes) } else { id };
                Some(Frame::Blob { id, bytes })
            }
            other => Some(other),
        });
        assert!(done, "the archive carries an activity log");
        cases.push(("altered activity log", path, says));
    }

    let before = everything(dest).await;
    for (what, path, says) in cases {
        for execute in [false, true] {
            let err = match import(dest, &path, OnDuplicate::Overwrite, execute).await {
                Err(e) => e,
                Ok(report) => panic!("{what}: imported: {report}"),
            };
            let text = err.to_string();
            assert!(
                text.contains(says) && text.contains("nothing was written"),
                "{what}: the error should say {says:?}: {text}"
            );
            assert!(matches!(err, Error::Refused(_)), "{what}: {text}");
        }
    }
    assert_eq!(
        everything(dest).await,
        before,
        "refused files write nothing"
    );
}

async fn copy_interrupted(source: &Archive, dest: &Archive, entries: &[SnapshotEntry]) {
    // The destination store fails after a few writes, as a killed copy would stop.
    let flaky = Arc::new(Flaky {
        inner: Arc::clone(dest.raw_store()),
        budget: AtomicUsize::new(7),
    });
    let broken = Archive::new(flaky, Arc::clone(dest.raw_catalog()));
    let opts = ImportOptions {
        on_duplicate: OnDuplicate::Skip,
        execute: true,
        ..ImportOptions::default()
    };
    assert!(
        portable::copy(source, &broken, entries, &opts)
            .await
            .is_err(),
        "the interrupted copy fails"
    );
    let done = ok(
        portable::copy(source, dest, entries, &opts).await,
        "copy again",
    );
    assert_eq!(
        done.count(Action::Add) + done.count(Action::Skip),
        entries.len(),
        "{done}"
    );
    let refs: Vec<&SnapshotEntry> = entries.iter().collect();
    assert_same(source, dest, &refs, "copy").await;
    let again = ok(
        portable::copy(source, dest, entries, &opts).await,
        "copy a third time",
    );
    assert_eq!(again.count(Action::Skip), entries.len(), "{again}");
    assert_eq!(again.blobs_written, 0);
}

fn is_activity_log(bytes: &[u8]) -> bool {
    serde_json::from_slice::<Activity>(bytes).is_ok()
}

fn labels(n: u64, version: u64) -> Vec<Record> {
    (1..=n)
        .map(|id| {
            Record::Label(Label {
                id,
                name: format!("label-{id}"),
                color: format!("{:06x}", (id * 7919 + version * 104_729) % 0xffffff),
                description: (id % 5 == version % 5).then(|| format!("v{version} of {id}")),
                raw: serde_json::Value::Null,
            })
        })
        .collect()
}

/// A tracker that serves a fixed list of labels, and one issue event per snapshot (the
/// counter) so that every snapshot has an activity log to carry.
#[derive(Debug)]
struct Labels(Scope, std::sync::Mutex<Vec<Record>>, AtomicU64);

impl Labels {
    fn set(&self, records: Vec<Record>) {
        *self
            .1
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = records;
    }
}

#[async_trait]
impl Tracker for Labels {
    fn scope(&self) -> &Scope {
        &self.0
    }
    async fn check(&self) -> Result<(), TrackerError> {
        Ok(())
    }
    async fn fetch(
        &self,
        _: &FetchOptions,
        out: mpsc::Sender<Record>,
    ) -> Result<FetchReport, TrackerError> {
        let records = self
            .1
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for r in records {
            out.send(r).await.map_err(|_| TrackerError::Aborted)?;
        }
        Ok(FetchReport::default())
    }
    fn requests(&self) -> u64 {
        0
    }
    async fn activity(&self, from: ActivityFrom) -> Result<Option<Activity>, TrackerError> {
        let id = self.2.fetch_add(1, Ordering::SeqCst) + 1;
        let after_id = match from {
            ActivityFrom::AfterId(id) => Some(id),
            _ => None,
        };
        Ok(Some(Activity {
            format: ACTIVITY_FORMAT,
            since: None,
            after_id,
            newest_id: Some(id),
            until: chrono::Utc::now(),
            complete: true,
            events: vec![IssueEvent {
                id,
                issue: 1,
                actor: Some("conformance-bot".into()),
                event: "labeled".into(),
                created_at: chrono::Utc::now(),
                subject: Some("label-1".into()),
            }],
            failed: None,
        }))
    }
}

/// A store whose writes fail once a budget is spent.
#[derive(Debug)]
struct Flaky {
    inner: Arc<dyn ObjectStore>,
    budget: AtomicUsize,
}

impl Flaky {
    fn spend(&self, key: &str) -> Result<(), StoreError> {
        let left = self.budget.load(Ordering::SeqCst);
        if left == 0 {
            return Err(StoreError::Io {
                store: "flaky".into(),
                key: key.into(),
                detail: "the process was killed".into(),
            });
        }
        self.budget.store(left - 1, Ordering::SeqCst);
        Ok(())
    }
}

#[async_trait]
impl ObjectStore for Flaky {
    fn location(&self) -> String {
        self.inner.location()
    }
    async fn put(&self, key: &str, bytes: Bytes) -> Result<PutOutcome, StoreError> {
        self.spend(key)?;
        self.inner.put(key, bytes).await
    }
    async fn put_deferred(&self, key: &str, bytes: Bytes) -> Result<PutOutcome, StoreError> {
        self.spend(key)?;
        self.inner.put_deferred(key, bytes).await
    }
    async fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush().await
    }
    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        self.inner.get(key).await
    }
    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        self.inner.exists(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        self.inner.list(prefix).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }
}
