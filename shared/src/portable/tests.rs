//! The portable-archive contract on the in-memory twins and on the embedded backends (a
//! folder with SQLite); the AWS pair runs the same suite in the e2e tests, against moto.

use std::sync::Arc;

use super::*;
use crate::catalog::{MemoryCatalog, SqliteCatalog};
use crate::store::{LocalStore, MemoryStore};

fn memory() -> Archive {
    Archive::new(Arc::new(MemoryStore::new()), Arc::new(MemoryCatalog::new()))
}

fn folder(dir: &std::path::Path) -> Archive {
    let store = LocalStore::create(dir.to_path_buf()).unwrap();
    let catalog = SqliteCatalog::create(&dir.join("catalog.sqlite")).unwrap();
    Archive::new(Arc::new(store), Arc::new(catalog))
}

#[tokio::test]
async fn archives_round_trip_between_memory_archives() {
    crate::conformance::portable(memory(), memory(), memory()).await;
}

#[tokio::test]
async fn archives_round_trip_between_folders_with_sqlite() {
    let dirs = [(); 3].map(|()| tempfile::tempdir().unwrap());
    crate::conformance::portable(
        folder(dirs[0].path()),
        folder(dirs[1].path()),
        folder(dirs[2].path()),
    )
    .await;
}

#[test]
fn globs_match_like_a_shell() {
    assert!(glob_match("nightly-*", "nightly-2026-11-30"));
    assert!(glob_match("*", ""));
    assert!(glob_match("a?c*", "abcdef"));
    assert!(glob_match("*-rc*", "v1-rc2"));
    assert!(!glob_match("nightly-*", "weekly-1"));
    assert!(!glob_match("a?c", "ac"));
}

#[test]
fn times_parse_in_three_forms() {
    assert_eq!(
        parse_time("2026-11-30").unwrap().to_rfc3339(),
        "2026-11-30T00:00:00+00:00"
    );
    assert_eq!(
        parse_time("2026-11-30T12:00:00+01:00")
            .unwrap()
            .to_rfc3339(),
        "2026-11-30T11:00:00+00:00"
    );
    let week = parse_time("7d").unwrap();
    assert!((Utc::now() - week).num_days() == 7);
    assert!(parse_time("last tuesday").unwrap_err().contains("RFC 3339"));
}
