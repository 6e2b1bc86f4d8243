//! The [`ObjectStore`] contract: create-if-absent puts, exact reads, raw-prefix sorted
//! listings past one page, idempotent deletes, and key validation.

use std::sync::Arc;

use bytes::Bytes;
use futures::{stream, StreamExt};

use super::{join_all, ok, run_id};
use crate::store::{ObjectInfo, ObjectStore, PutOutcome, StoreError};

/// More than one S3 `ListObjectsV2` page (1,000 keys), so pagination is exercised.
const LIST_COUNT: usize = 1_100;

/// How many requests the suite keeps in flight when it writes many objects.
const PARALLELISM: usize = 32;

/// Runs the whole object store contract against `store`, under a fresh `conformance/<ulid>/`
/// prefix that it removes again at the end.
pub async fn object_store(store: Arc<dyn ObjectStore>) {
    let run = format!("conformance/{}", run_id());
    let store_ref: &dyn ObjectStore = &*store;
    round_trip(store_ref, &run).await;
    put_is_create_if_absent(store_ref, &run).await;
    missing_keys(store_ref, &run).await;
    delete_is_idempotent(store_ref, &run).await;
    invalid_keys_are_rejected(store_ref).await;
    listing(store_ref, &run).await;
    concurrent_puts_have_one_winner(store.clone(), &run).await;
    deferred_puts_exist_after_flush(store_ref, &run).await;
    cleanup(store_ref, &run).await;
}

/// `put_deferred` keeps create-if-absent, and after `flush` the object reads back exactly.
async fn deferred_puts_exist_after_flush(store: &dyn ObjectStore, run: &str) {
    let key = format!("{run}/deferred/new");
    let step = format!("deferred put of new key {key}");
    assert_eq!(
        ok(
            store.put_deferred(&key, Bytes::from_static(b"later")).await,
            &step
        ),
        PutOutcome::Written,
        "{step} must report Written"
    );
    let existing = format!("{run}/deferred/existing");
    ok(
        store.put(&existing, Bytes::from_static(b"first")).await,
        "put",
    );
    assert_eq!(
        ok(
            store
                .put_deferred(&existing, Bytes::from_static(b"second"))
                .await,
            "deferred put"
        ),
        PutOutcome::Existed,
        "a deferred put of an existing key must report Existed"
    );
    ok(store.flush().await, "flush");
    assert_eq!(&ok(store.get(&key).await, "get after flush")[..], b"later");
    assert_eq!(&ok(store.get(&existing).await, "get")[..], b"first");
}

async fn round_trip(store: &dyn ObjectStore, run: &str) {
    let binary: Bytes = (0..=255u8).cycle().take(70_000).collect::<Vec<u8>>().into();
    for (name, bytes) in [
        ("binary", binary),
        ("empty", Bytes::new()),
        ("text", Bytes::from_static(b"hello")),
    ] {
        let key = format!("{run}/round-trip/{name}");
        let step = format!("put of new key {key}");
        assert_eq!(
            ok(store.put(&key, bytes.clone()).await, &step),
            PutOutcome::Written,
            "{step} must report Written"
        );
        let got = ok(store.get(&key).await, &format!("get of {key}"));
        assert!(
            got == bytes,
            "get of {key} must return exactly the bytes put ({} bytes put, {} returned)",
            bytes.len(),
            got.len()
        );
        assert!(
            ok(store.exists(&key).await, &format!("exists of {key}")),
            "exists of {key} must be true after put"
        );
    }
    // Layout keys as the engine writes them.
    let blob = crate::BlobId::of(run.as_bytes());
    let key = format!("{run}/{}", blob.key());
    ok(store.put(&key, Bytes::from_static(b"z")).await, "put blob");
    assert_eq!(&ok(store.get(&key).await, "get blob")[..], b"z");
}

async fn put_is_create_if_absent(store: &dyn ObjectStore, run: &str) {
    let key = format!("{run}/once/object");
    ok(
        store.put(&key, Bytes::from_static(b"first")).await,
        "first put",
    );
    let second = ok(
        store.put(&key, Bytes::from_static(b"second, longer")).await,
        "second put of an existing key",
    );
    assert_eq!(
        second,
        PutOutcome::Existed,
        "put of an existing key must report Existed"
    );
    assert_eq!(
        &ok(store.get(&key).await, "get after second put")[..],
        b"first",
        "put of an existing key must not change its content"
    );
}

async fn missing_keys(store: &dyn ObjectStore, run: &str) {
    let key = format!("{run}/missing/never-written");
    match store.get(&key).await {
        Err(StoreError::NotFound { key: k, .. }) => {
            assert_eq!(k, key, "NotFound must name the missing key")
        }
        Err(e) => panic!("get of a missing key must be NotFound, got error: {e}"),
        Ok(_) => panic!("get of a missing key must be NotFound, got an object"),
    }
    assert!(
        !ok(store.exists(&key).await, "exists of a missing key"),
        "exists of a missing key must be false"
    );
    // A key that is only a prefix of real keys is not an object either.
    ok(
        store
            .put(&format!("{run}/missing/dir/child"), Bytes::new())
            .await,
        "put child",
    );
    assert!(
        !ok(
            store.exists(&format!("{run}/missing/dir")).await,
            "exists of a prefix"
        ),
        "a prefix of existing keys is not itself an object"
    );
}

async fn delete_is_idempotent(store: &dyn ObjectStore, run: &str) {
    let key = format!("{run}/delete/object");
    ok(store.put(&key, Bytes::from_static(b"v1")).await, "put");
    ok(store.delete(&key).await, "delete of an existing key");
    assert!(
        !ok(store.exists(&key).await, "exists after delete"),
        "exists must be false after delete"
    );
    assert!(
        matches!(store.get(&key).await, Err(StoreError::NotFound { .. })),
        "get after delete must be NotFound"
    );
    ok(store.delete(&key).await, "second delete of the same key");
    ok(
        store.delete(&format!("{run}/delete/never-written")).await,
        "delete of a key that never existed",
    );
    // Garbage collection deletes blobs that a later snapshot may write again.
    assert_eq!(
        ok(
            store.put(&key, Bytes::from_static(b"v2")).await,
            "put after delete"
        ),
        PutOutcome::Written,
        "a deleted key can be written again"
    );
    assert_eq!(&ok(store.get(&key).await, "get after re-put")[..], b"v2");
}

async fn invalid_keys_are_rejected(store: &dyn ObjectStore) {
    let bad = [
        "",
        "/absolute",
        "a//b",
        "a/./b",
        "a/../b",
        "..",
        "../escape",
        "a\\b",
        "trailing/",
    ];
    for key in bad {
        let results = [
            ("put", store.put(key, Bytes::new()).await.map(|_| ())),
            ("get", store.get(key).await.map(|_| ())),
            ("exists", store.exists(key).await.map(|_| ())),
            ("delete", store.delete(key).await),
        ];
        for (op, result) in results {
            assert!(
                matches!(result, Err(StoreError::InvalidKey { .. })),
                "{op} of invalid key {key:?} must fail with InvalidKey, got {result:?}"
            );
        }
    }
    for prefix in ["/absolute", "../escape/", "a/../b/"] {
        let result = store.list(prefix).await;
        assert!(
            matches!(result, Err(StoreError::InvalidKey { .. })),
            "list of invalid prefix {prefix:?} must fail with InvalidKey, got {result:?}"
        );
    }
}

fn keys(objects: &[ObjectInfo]) -> Vec<&str> {
    objects.iter().map(|o| o.key.as_str()).collect()
}

#[track_caller]
fn assert_sorted(objects: &[ObjectInfo], what: &str) {
    for pair in objects.windows(2) {
        assert!(
            pair[0].key < pair[1].key,
            "{what}: list must be sorted by key without duplicates ({:?} before {:?})",
            pair[0].key,
            pair[1].key
        );
    }
}

async fn listing(store: &dyn ObjectStore, run: &str) {
    let base = format!("{run}/list");
    let expected: Vec<(String, Bytes)> = (0..LIST_COUNT)
        .map(|i| {
            (
                format!("{base}/item-{i:04}"),
                Bytes::from(format!("object {i}")),
            )
        })
        .collect();
    let outcomes: Vec<_> = stream::iter(expected.iter().cloned())
        .map(|(key, bytes)| async move { (store.put(&key, bytes).await, key) })
        .buffer_unordered(PARALLELISM)
        .collect()
        .await;
    for (outcome, key) in outcomes {
        ok(outcome, &format!("put of {key}"));
    }
    // Neighbours that a correct raw-prefix listing of `list/` must leave out.
    ok(
        store
            .put(&format!("{run}/list-sibling/x"), Bytes::from_static(b"s"))
            .await,
        "put sibling",
    );
    ok(
        store
            .put(&format!("{run}/lis"), Bytes::from_static(b"l"))
            .await,
        "put short sibling",
    );

    let listed = ok(store.list(&format!("{base}/")).await, "list of a prefix");
    assert_sorted(&listed, "list of a prefix");
    assert_eq!(
        listed.len(),
        LIST_COUNT,
        "list must return every object under the prefix, past one page"
    );
    for (info, (key, bytes)) in listed.iter().zip(&expected) {
        assert_eq!(&info.key, key, "list must return full keys in order");
        assert_eq!(
            info.size,
            bytes.len() as u64,
            "list must report the size of {key}"
        );
    }

    // Prefixes are raw strings, not folder names.
    let partial = ok(
        store.list(&format!("{base}/item-10")).await,
        "list of a partial name",
    );
    assert_eq!(
        keys(&partial),
        expected[1000..]
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>(),
        "a prefix that ends inside a name matches by string prefix"
    );
    let with_sibling = ok(store.list(&base).await, "list without trailing slash");
    assert_sorted(&with_sibling, "list without trailing slash");
    assert_eq!(
        with_sibling.len(),
        LIST_COUNT + 1,
        "listing {base:?} must include {base}-sibling/x and nothing else extra"
    );
    assert_eq!(
        with_sibling.first().map(|o| o.key.clone()),
        Some(format!("{run}/list-sibling/x")),
        "keys sort by bytes and `-` sorts before `/`, so the sibling comes first"
    );
    let whole_run = ok(store.list(&format!("{run}/")).await, "list of the run");
    assert_sorted(&whole_run, "list of the run");
    assert!(
        whole_run.iter().any(|o| o.key == format!("{run}/lis")) && whole_run.len() > LIST_COUNT + 2,
        "list of the run prefix must include every object of the run"
    );
    let nothing = ok(
        store.list(&format!("{run}/no-such-prefix/")).await,
        "list of an unused prefix",
    );
    assert!(
        nothing.is_empty(),
        "list of an unused prefix must be empty, got {:?}",
        keys(&nothing)
    );
}

async fn concurrent_puts_have_one_winner(store: Arc<dyn ObjectStore>, run: &str) {
    let key = format!("{run}/race/object");
    let tasks = (0..8u8)
        .map(|i| {
            let store = store.clone();
            let key = key.clone();
            let bytes = Bytes::from(vec![i; 64 * 1024]);
            tokio::spawn(async move { (i, store.put(&key, bytes).await) })
        })
        .collect();
    let results = join_all(tasks, "concurrent puts").await;
    let mut winners = Vec::new();
    for (i, result) in results {
        match ok(result, "concurrent put of one key") {
            PutOutcome::Written => winners.push(i),
            PutOutcome::Existed => {}
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "concurrent puts of one key: exactly one must report Written, got writers {winners:?}"
    );
    let stored = ok(store.get(&key).await, "get after concurrent puts");
    assert!(
        stored.len() == 64 * 1024 && stored.iter().all(|b| *b == winners[0]),
        "after concurrent puts the object must be exactly the winner's bytes"
    );
}

async fn cleanup(store: &dyn ObjectStore, run: &str) {
    let objects = ok(store.list(&format!("{run}/")).await, "list for cleanup");
    let results: Vec<_> = stream::iter(objects)
        .map(|o| async move { store.delete(&o.key).await })
        .buffer_unordered(PARALLELISM)
        .collect()
        .await;
    for result in results {
        ok(result, "delete during cleanup");
    }
    let left = ok(store.list(&format!("{run}/")).await, "list after cleanup");
    assert!(
        left.is_empty(),
        "every deleted object must disappear from list, {} remain",
        left.len()
    );
}
