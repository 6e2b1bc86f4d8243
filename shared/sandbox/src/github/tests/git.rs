//! The Git Data API over HTTP: objects with git's own ids, trees built on a base, commits,
//! and refs that only move forward unless forced — with GitHub's refusals.

use serde_json::{json, Value};

use super::{get, opts, send, start, REPO};
use crate::github::SandboxOptions;

async fn post(addr: std::net::SocketAddr, path: &str, body: Value) -> (u16, Value) {
    let r = send(addr, "POST", &format!("{REPO}{path}"), body).await;
    (r.status, r.json())
}

async fn patch(addr: std::net::SocketAddr, path: &str, body: Value) -> (u16, Value) {
    let r = send(addr, "PATCH", &format!("{REPO}{path}"), body).await;
    (r.status, r.json())
}

#[tokio::test]
async fn sandbox_git_objects_have_gits_ids_and_trees_build_on_a_base() {
    let sb = start(opts()).await;
    let addr = sb.local_addr();
    let main = get(addr, &format!("{REPO}/git/ref/heads/main")).await;
    assert_eq!(main.status, 200);
    let head = main.json()["object"]["sha"].as_str().unwrap().to_owned();
    assert_eq!(main.json()["object"]["type"], "commit");

    let (status, blob) = post(addr, "/git/blobs", json!({"content": "hello\n"})).await;
    assert_eq!(status, 201, "{blob}");
    assert_eq!(blob["sha"], "ce013625030ba8dba906f756967f9e9ca394464a");
    let (_, b64) = post(
        addr,
        "/git/blobs",
        json!({"content": "aGVsbG8K", "encoding": "base64"}),
    )
    .await;
    assert_eq!(b64["sha"], blob["sha"]);
    let got = get(
        addr,
        &format!("{REPO}/git/blobs/{}", blob["sha"].as_str().unwrap()),
    )
    .await;
    assert_eq!(got.json()["content"], "aGVsbG8K\n");
    assert_eq!(got.json()["encoding"], "base64");
    assert_eq!(got.json()["size"], 6);

    // A tree on the branch's tree: one file inline, one by sha, nested.
    let (status, tree) = post(
        addr,
        "/git/trees",
        json!({"base_tree": head, "tree": [
            {"path": "a/b.txt", "mode": "100644", "type": "blob", "content": "hello\n"},
            {"path": "c.txt", "mode": "100644", "type": "blob", "sha": blob["sha"]},
        ]}),
    )
    .await;
    assert_eq!(status, 201, "{tree}");
    let names: Vec<&str> = tree["tree"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["README.md", "a", "c.txt"]);
    let sha = tree["sha"].as_str().unwrap();
    let deep = get(addr, &format!("{REPO}/git/trees/{sha}?recursive=1"))
        .await
        .json();
    let paths: Vec<&str> = deep["tree"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["README.md", "a", "a/b.txt", "c.txt"]);
    assert_eq!(deep["truncated"], false);
    // The branch name resolves to its tree too.
    let by_name = get(addr, &format!("{REPO}/git/trees/main")).await.json();
    assert_eq!(by_name["tree"].as_array().map(Vec::len), Some(1));

    // Deleting with `sha: null`; deleting what is not there is refused.
    let (status, smaller) = post(
        addr,
        "/git/trees",
        json!({"base_tree": sha, "tree": [{"path": "a/b.txt", "mode": "100644", "type": "blob", "sha": null}]}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        smaller["tree"].as_array().map(Vec::len),
        Some(2),
        "a/ is gone"
    );
    let (status, _) = post(
        addr,
        "/git/trees",
        json!({"base_tree": sha, "tree": [{"path": "nope", "mode": "100644", "type": "blob", "sha": null}]}),
    )
    .await;
    assert_eq!(status, 422);
    for (bad, says) in [
        (json!({"tree": []}), "Invalid tree info"),
        (
            json!({"tree": [{"path": "x", "mode": "100644", "type": "blob"}]}),
            "Must supply either tree.sha or tree.content",
        ),
        (
            json!({"tree": [{"path": "x", "mode": "100644", "type": "blob", "sha": "0".repeat(40)}]}),
            "is not a valid blob",
        ),
        (
            json!({"tree": [{"path": "x", "mode": "644", "type": "blob", "content": "x"}]}),
            "Must supply a valid tree.mode",
        ),
        (
            json!({"base_tree": "f".repeat(40), "tree": [{"path": "x", "mode": "100644", "type": "blob", "content": "x"}]}),
            "base_tree is not a valid tree oid",
        ),
    ] {
        let (status, body) = post(addr, "/git/trees", bad).await;
        assert_eq!(status, 422, "{body}");
        assert!(body["message"].as_str().unwrap().contains(says), "{body}");
    }

    // A commit on it, by the token's user unless told otherwise.
    let (status, commit) = post(
        addr,
        "/git/commits",
        json!({"message": "add files", "tree": sha, "parents": [head]}),
    )
    .await;
    assert_eq!(status, 201, "{commit}");
    assert_eq!(commit["tree"]["sha"], sha);
    assert_eq!(commit["parents"][0]["sha"], head.as_str());
    assert_eq!(commit["author"]["name"], "Sandbox Admin");
    assert_eq!(commit["verification"]["verified"], false);
    let again = get(
        addr,
        &format!("{REPO}/git/commits/{}", commit["sha"].as_str().unwrap()),
    )
    .await;
    assert_eq!(again.json(), commit);
    let (status, body) = post(
        addr,
        "/git/commits",
        json!({"message": "m", "tree": "e".repeat(40)}),
    )
    .await;
    assert_eq!(
        (status, body["message"].clone()),
        (422, json!("Tree SHA does not exist"))
    );
    let (status, body) = post(
        addr,
        "/git/commits",
        json!({"message": "m", "tree": sha, "parents": [sha]}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        body["message"],
        "Parent SHA does not exist or is not a commit object"
    );
}

#[tokio::test]
async fn sandbox_git_refs_are_compare_and_swap() {
    let sb = start(opts()).await;
    let addr = sb.local_addr();
    let head = get(addr, &format!("{REPO}/git/ref/heads/main"))
        .await
        .json()["object"]["sha"]
        .as_str()
        .unwrap()
        .to_owned();
    let tree = get(addr, &format!("{REPO}/git/commits/{head}"))
        .await
        .json()["tree"]["sha"]
        .as_str()
        .unwrap()
        .to_owned();
    let commit = |parents: Vec<String>, message: &str| {
        let message = message.to_owned();
        let tree = tree.clone();
        async move {
            let (status, c) = post(
                addr,
                "/git/commits",
                json!({"message": message, "tree": tree, "parents": parents}),
            )
            .await;
            assert_eq!(status, 201);
            c["sha"].as_str().unwrap().to_owned()
        }
    };
    let orphan = commit(Vec::new(), "orphan").await;
    let (status, created) = post(
        addr,
        "/git/refs",
        json!({"ref": "refs/heads/archive", "sha": orphan}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["ref"], "refs/heads/archive");
    let (status, body) = post(
        addr,
        "/git/refs",
        json!({"ref": "refs/heads/archive", "sha": orphan}),
    )
    .await;
    assert_eq!(
        (status, body["message"].clone()),
        (422, json!("Reference already exists"))
    );

    // Two writers build on the same tip: the first moves it, the second is refused.
    let a = commit(vec![orphan.clone()], "a").await;
    let b = commit(vec![orphan.clone()], "b").await;
    let (status, _) = patch(addr, "/git/refs/heads/archive", json!({"sha": a})).await;
    assert_eq!(status, 200);
    let (status, body) = patch(
        addr,
        "/git/refs/heads/archive",
        json!({"sha": b, "force": false}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["message"], "Update is not a fast forward");
    assert_eq!(
        body["documentation_url"],
        "https://docs.github.com/rest/git/refs#update-a-reference"
    );
    let (status, _) = patch(
        addr,
        "/git/refs/heads/archive",
        json!({"sha": b, "force": true}),
    )
    .await;
    assert_eq!(status, 200, "force rewrites the branch");

    // Any namespace but GitHub's own.
    let (status, _) = post(
        addr,
        "/git/refs",
        json!({"ref": "refs/backtrack/archive/locks/github--acme--widgets", "sha": orphan}),
    )
    .await;
    assert_eq!(status, 201);
    let listed = get(
        addr,
        &format!("{REPO}/git/matching-refs/backtrack/archive/"),
    )
    .await
    .json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    for (name, says) in [
        ("refs/pull/1/head", "refs/pull/* is read-only."),
        ("heads/x", "Reference name must start with 'refs/'."),
        (
            "refs/x",
            "Reference name must contain at least three slash-separated components.",
        ),
        (
            "refs/heads/a..b",
            "refs/heads/a..b is not a valid ref name.",
        ),
    ] {
        let (status, body) = post(addr, "/git/refs", json!({"ref": name, "sha": orphan})).await;
        assert_eq!(
            (status, body["message"].as_str()),
            (422, Some(says)),
            "{name}"
        );
    }
    let (status, body) = patch(addr, "/git/refs/heads/nope", json!({"sha": orphan})).await;
    assert_eq!(
        (status, body["message"].clone()),
        (422, json!("Reference does not exist"))
    );
    let gone = send(
        addr,
        "DELETE",
        &format!("{REPO}/git/refs/heads/archive"),
        json!({}),
    )
    .await;
    assert_eq!(gone.status, 204);
    assert_eq!(
        get(addr, &format!("{REPO}/git/ref/heads/archive"))
            .await
            .status,
        404
    );
    let main = send(
        addr,
        "DELETE",
        &format!("{REPO}/git/refs/heads/main"),
        json!({}),
    )
    .await;
    assert_eq!(main.status, 422);
    assert_eq!(main.json()["message"], "Cannot delete the default branch");
}

#[tokio::test]
async fn sandbox_git_of_an_empty_repository_is_a_conflict_and_listings_truncate() {
    let sb = start(SandboxOptions {
        empty_repository: true,
        ..opts()
    })
    .await;
    let addr = sb.local_addr();
    for path in ["/git/ref/heads/main", "/git/trees/main"] {
        let r = get(addr, &format!("{REPO}{path}")).await;
        assert_eq!(r.status, 409, "{path}");
        assert_eq!(r.json()["message"], "Git Repository is empty.");
    }
    let (status, _) = post(addr, "/git/blobs", json!({"content": "x"})).await;
    assert_eq!(status, 409);

    let sb = start(SandboxOptions {
        git_tree_limit: 3,
        ..opts()
    })
    .await;
    let addr = sb.local_addr();
    let files: Vec<Value> = (0..5)
        .map(|i| json!({"path": format!("d/f{i}"), "mode": "100644", "type": "blob", "content": i.to_string()}))
        .collect();
    let (status, tree) = post(
        addr,
        "/git/trees",
        json!({"base_tree": "main", "tree": files}),
    )
    .await;
    assert_eq!(status, 201);
    let sha = tree["sha"].as_str().unwrap();
    let deep = get(addr, &format!("{REPO}/git/trees/{sha}?recursive=1"))
        .await
        .json();
    assert_eq!(deep["truncated"], true);
    assert_eq!(deep["tree"].as_array().map(Vec::len), Some(3));
    let top = get(addr, &format!("{REPO}/git/trees/{sha}")).await.json();
    assert_eq!(top["truncated"], false, "two entries at the top");
}
