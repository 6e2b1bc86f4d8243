//! The git store (`--store git://BRANCH`) against the sandbox's Git Data API over HTTP: the
//! backend contract suites, objects too big for one blob, truncated tree listings, a clone of
//! the branch read as an archive, two captures racing on one branch, and captures killed
//! mid-write.

use std::sync::Arc;

use backtrack::config::GitTarget;
use backtrack::git::{GitArchive, GitOptions};
use backtrack::tracker::WritePace;
use backtrack::{Catalog, ObjectStore};
use backtrack_sandbox::github::{Sandbox, SandboxOptions};

use crate::util::SandboxProc;

fn target(branch: &str) -> GitTarget {
    GitTarget {
        owner: "acme".into(),
        repo: "widgets".into(),
        branch: branch.into(),
    }
}

fn archive_on(api_url: &str, token: &str, branch: &str) -> GitArchive {
    GitArchive::open(
        &target(branch),
        &GitOptions {
            api_url: api_url.to_string(),
            token: Some(token.to_string()),
            pace: WritePace::unpaced(),
        },
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gitstore_conformance_object_store() {
    let sandbox = SandboxProc::start(&["--issues", "1", "--comments", "0"]);
    let git = archive_on(
        &sandbox.url,
        crate::util::SANDBOX_TOKEN,
        "conformance-store",
    );
    let store: Arc<dyn ObjectStore> = git.store.clone();
    backtrack::conformance::object_store(store).await;
    let (commits, races) = git.commits();
    eprintln!(
        "object store suite: {} requests, {commits} commits, {races} races lost",
        git.requests()
    );
    // 1,100 listed objects and a dozen more: group commit keeps this far below one commit
    // per put.
    assert!(commits < 400, "{commits} commits");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gitstore_conformance_catalog() {
    let sandbox = SandboxProc::start(&["--issues", "1", "--comments", "0"]);
    let git = archive_on(
        &sandbox.url,
        crate::util::SANDBOX_TOKEN,
        "conformance-catalog",
    );
    let catalog: Arc<dyn Catalog> = git.catalog.clone();
    backtrack::conformance::catalog(catalog).await;
    eprintln!("catalog suite: {} requests", git.requests());
}

/// Objects over the part size are stored in parts and read back whole; a tree listing that
/// GitHub truncates is walked folder by folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gitstore_parts_and_truncated_listings() {
    let sandbox = Sandbox::start(SandboxOptions {
        issues: 1,
        comments: 0,
        git_tree_limit: 40,
        ..SandboxOptions::default()
    })
    .await
    .unwrap();
    let git = archive_on(&sandbox.base_url(), sandbox.token(), "parts");
    let store = backtrack::store::GitStore::new(git.store.branch().clone()).with_part_size(1000);
    let big: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect();
    assert_eq!(
        store
            .put("manifests/x/big", big.clone().into())
            .await
            .unwrap(),
        backtrack::store::PutOutcome::Written
    );
    assert_eq!(
        store.get("manifests/x/big").await.unwrap().as_ref(),
        &big[..]
    );
    let listed = store.list("manifests/").await.unwrap();
    assert_eq!(listed.len(), 1, "parts are not objects: {listed:?}");
    assert_eq!(listed[0].size, big.len() as u64);
    for i in 0..120 {
        store
            .put_deferred(
                &format!("blobs/{:02x}/{i:04}", i % 7),
                vec![i as u8; 10].into(),
            )
            .await
            .unwrap();
    }
    store.flush().await.unwrap();
    // A fresh process: nothing cached, and the recursive listing comes back truncated.
    let cold = archive_on(&sandbox.base_url(), sandbox.token(), "parts");
    let listed = cold.store.list("blobs/").await.unwrap();
    assert_eq!(listed.len(), 120);
    assert!(listed.iter().all(|o| o.size == 10));
    assert_eq!(
        cold.store.get("manifests/x/big").await.unwrap().as_ref(),
        &big[..]
    );
    cold.store.delete("manifests/x/big").await.unwrap();
    assert!(
        !store.exists("manifests/x/big").await.unwrap(),
        "exists reads the tip"
    );
    sandbox.shutdown().await;
}
