//! Every object-store key backtrack writes, in one place.
//!
//! The layout is part of the storage format (DESIGN §5: S3 keys and local paths are the
//! same), so it is spelled once here and everything else asks for keys by what they name.
//!
//! ```text
//! blobs/<first 2 hex>/<sha256 hex>       zstd(canonical JSON of one record), or an entry table
//! dicts/<id, 8 hex>                      a scope's zstd dictionary
//! manifests/<scope-slug>/<snapshot-id>   a snapshot's manifest header
//! jobs/<scope-slug>/<job-id>/plan        a rollback job's plan
//! jobs/<scope-slug>/<job-id>/options     a queued restore job's options and confirmed plan
//! plans/<scope-slug>/<fingerprint>       a previewed rollback plan, by its fingerprint
//! ```

use crate::id::{BlobId, JobId, SnapshotId};
use crate::scope::Scope;

/// Prefix of every content-addressed blob (records and entry tables).
pub const BLOBS: &str = "blobs/";
/// Prefix of every dictionary.
pub const DICTS: &str = "dicts/";
/// Prefix of every manifest.
pub const MANIFESTS: &str = "manifests/";
/// Prefix of every rollback job's objects.
pub const JOBS: &str = "jobs/";
/// Prefix of every kept rollback preview.
pub const PLANS: &str = "plans/";

/// The key of a blob: fanned out by its first two hex digits so no folder grows huge.
pub fn blob(id: &BlobId) -> String {
    let h = id.to_hex();
    format!("{BLOBS}{}/{h}", &h[..2])
}

/// The blob a key names, if it is a blob key (`blobs/<2 hex>/<64 hex>`, fanned out right).
pub fn blob_id(key: &str) -> Option<BlobId> {
    let (fan, hex) = key.strip_prefix(BLOBS)?.split_once('/')?;
    let id: BlobId = hex.parse().ok()?;
    (hex.get(..2) == Some(fan)).then_some(id)
}

/// The key of dictionary `id`.
pub fn dict(id: u32) -> String {
    format!("{DICTS}{id:08x}")
}

/// The key of a snapshot's manifest.
pub fn manifest(scope: &Scope, id: &SnapshotId) -> String {
    format!("{MANIFESTS}{}/{id}", scope.slug())
}

/// The snapshot id a manifest key names, if it is one.
pub fn manifest_snapshot(key: &str) -> Option<SnapshotId> {
    key.strip_prefix(MANIFESTS)?
        .rsplit('/')
        .next()?
        .parse()
        .ok()
}

/// The key of a rollback job's plan.
pub fn job_plan(scope: &Scope, job: &JobId) -> String {
    format!("{JOBS}{}/{job}/plan", scope.slug())
}

/// The key of a queued restore job's options.
pub fn job_options(scope: &Scope, job: &JobId) -> String {
    format!("{JOBS}{}/{job}/options", scope.slug())
}

/// The key of a previewed rollback plan, by its fingerprint (hex), kept so that a later
/// confirmation of that fingerprint can be told what changed since.
pub fn plan_preview(scope: &Scope, fingerprint: &str) -> String {
    format!("{PLANS}{}/{fingerprint}", scope.slug())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_documented_layout() {
        let scope: Scope = "github:acme/widgets".parse().unwrap();
        let id = BlobId::of(b"x");
        assert_eq!(
            blob(&id),
            format!("blobs/{}/{}", &id.to_hex()[..2], id.to_hex())
        );
        assert_eq!(blob_id(&blob(&id)), Some(id.clone()));
        assert_eq!(blob_id(&format!("blobs/zz/{}", id.to_hex())), None);
        assert_eq!(blob_id("blobs/ab/cd"), None);
        assert_eq!(blob_id("dicts/0000001f"), None);
        assert_eq!(dict(0x1f), "dicts/0000001f");
        let snap = SnapshotId::new();
        let key = manifest(&scope, &snap);
        assert_eq!(key, format!("manifests/{}/{snap}", scope.slug()));
        assert_eq!(manifest_snapshot(&key), Some(snap));
        assert_eq!(manifest_snapshot("blobs/ab/cd"), None);
        let job = JobId::new();
        assert_eq!(
            job_plan(&scope, &job),
            format!("jobs/{}/{job}/plan", scope.slug())
        );
        assert_eq!(
            job_options(&scope, &job),
            format!("jobs/{}/{job}/options", scope.slug())
        );
        assert_eq!(
            plan_preview(&scope, "00ff"),
            format!("plans/{}/00ff", scope.slug())
        );
    }
}
