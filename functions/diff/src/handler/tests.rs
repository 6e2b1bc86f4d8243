//! The handler in-process on memory twins and an in-process sandbox.
#![allow(clippy::unwrap_used)]

use backtrack_lambda::{Function, Invocation};
use backtrack_tests::lambda::{event, http_event, response, set_header, Harness};
use serde_json::{json, Value};

use super::Diff;

const GET_DIFF: &str = include_str!("../../events/get-diff-live.json");

async fn snapshot(h: &Harness) -> String {
    h.snapshot("github:acme/widgets").await
}

async fn get(h: &Harness, path: &str, accept: Option<&str>) -> (u16, Value) {
    let mut ev = http_event(GET_DIFF, "GET", path, None);
    set_header(&mut ev, "accept", accept);
    let function = Diff {
        archive: h.archive.clone(),
        trackers: h.trackers.clone(),
    };
    response(
        &function
            .handle(event(ev), Invocation::default())
            .await
            .unwrap(),
    )
}

#[tokio::test]
async fn diffs_against_live_and_between_snapshots_as_json_or_markdown() {
    let h = Harness::start("acme", "widgets").await;
    let first = snapshot(&h).await;
    let (status, _) = h
        .api(
            "PATCH",
            "/repos/acme/widgets/issues/3",
            Some(json!({"title": "Wrecked by a script"})),
        )
        .await;
    assert_eq!(status, 200);

    let (status, body) = get(&h, &format!("/snapshots/{first}/diff/live"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["schema_version"], 1);
    assert_eq!(body["to"]["kind"], "live");
    assert_eq!(body["summary"]["issues_changed"], 1, "{body}");
    assert_eq!(body["changes"][0]["after"], "Wrecked by a script");

    let second = snapshot(&h).await;
    let (status, body) = get(&h, &format!("/snapshots/{first}/diff/{second}"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["to"]["id"], second.as_str());
    assert_eq!(body["summary"]["total"], 1, "{body}");

    let (status, body) = get(
        &h,
        &format!("/snapshots/{first}/diff/{second}"),
        Some("text/markdown"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        body.as_str().unwrap().contains("Wrecked by a script"),
        "{body}"
    );

    // A browser gets the report page, with the same diff embedded.
    let (status, body) = get(
        &h,
        &format!("/snapshots/{first}/diff/{second}"),
        Some("text/html,application/xhtml+xml,*/*;q=0.8"),
    )
    .await;
    assert_eq!(status, 200);
    let page = body.as_str().unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"), "{page:.200}");
    assert!(page.contains("Wrecked by a script"));
    assert!(page.contains(r#""total":1"#));
}

#[tokio::test]
async fn bad_ids_unknown_snapshots_and_routes() {
    let h = Harness::start("acme", "widgets").await;
    let (status, body) = get(&h, "/snapshots/nope/diff/live", None).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("id")),
        "{body}"
    );
    let id = snapshot(&h).await;
    let (status, body) = get(&h, &format!("/snapshots/{id}/diff/nope"), None).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("other")),
        "{body}"
    );
    let (status, _) = get(&h, "/snapshots/01JH0000000000000000000000/diff/live", None).await;
    assert_eq!(status, 404);
    let (status, _) = get(&h, &format!("/snapshots/{id}/patch/live"), None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_sticky_pr_comment_is_not_a_change() {
    let h = Harness::start("acme", "widgets").await;
    let first = snapshot(&h).await;
    // The Action's comment, as `backtrack comment upsert --marker "diff SCOPE"` writes it,
    // and a person's comment quoting the marker (which is a change).
    let sticky =
        "<!-- backtrack:diff github:acme/widgets -->\n### backtrack diff\n2 issues changed";
    let quoting = "the bot writes <!-- backtrack:diff github:acme/widgets --> first";
    for body in [sticky, quoting] {
        let (status, reply) = h
            .api(
                "POST",
                "/repos/acme/widgets/issues/2/comments",
                Some(json!({ "body": body })),
            )
            .await;
        assert_eq!(status, 201, "{reply}");
    }
    let (status, body) = get(&h, &format!("/snapshots/{first}/diff/live"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["summary"]["comments_added"], 1, "{body}");
    assert!(body.to_string().contains("the bot writes"), "{body}");
    assert!(!body.to_string().contains("### backtrack diff"), "{body}");
    // Stored on both sides (the comment was captured too): still not a change.
    let second = snapshot(&h).await;
    let (_, body) = get(&h, &format!("/snapshots/{first}/diff/{second}"), None).await;
    assert!(!body.to_string().contains("### backtrack diff"), "{body}");
    let (_, markdown) = get(
        &h,
        &format!("/snapshots/{first}/diff/{second}"),
        Some("text/markdown"),
    )
    .await;
    assert!(
        !markdown.as_str().unwrap().contains("### backtrack diff"),
        "{markdown}"
    );
}

#[tokio::test]
async fn other_takes_any_reference_and_markdown_takes_a_cap() {
    let h = Harness::start("acme", "widgets").await;
    let first = snapshot(&h).await;
    let second = snapshot(&h).await;
    let (status, body) = get(&h, &format!("/snapshots/{first}/diff/latest"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["to"]["id"], second.as_str());
    assert_eq!(body["to"]["reference"], "latest");
    let (status, body) = get(
        &h,
        &format!("/snapshots/{first}/diff/{}", &second[..20]),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["to"]["id"], second.as_str());
    let (status, body) = get(
        &h,
        &format!("/snapshots/{first}/diff/live?max_chars=10"),
        Some("text/markdown"),
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("max_chars")),
        "{body}"
    );
}
