//! The issue model beyond an issue's own fields: types, sub-issues, dependencies, lock,
//! reactions, pins, and the events each write records with the actor of its token.

use serde_json::{json, Value};

use super::{call, get, opts, send, start, REPO};
use crate::github::{SandboxOptions, TokenUser};

const BOT: (&str, &str) = ("Authorization", "token bot-token");

fn with_bot() -> SandboxOptions {
    SandboxOptions {
        issues: 12,
        comments: 20,
        tokens: vec![TokenUser {
            token: "bot-token".into(),
            login: "sync-bot[bot]".into(),
        }],
        ..opts()
    }
}

fn events_of(list: &Value, number: u64) -> Vec<(String, String)> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["issue"]["number"] == number)
        .map(|e| {
            (
                e["event"].as_str().unwrap_or("").to_owned(),
                e["actor"]["login"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn sandbox_model_writes_and_their_events() {
    let sb = start(with_bot()).await;
    let a = sb.local_addr();
    let id =
        |n: u64| async move { get(a, &format!("{REPO}/issues/{n}")).await.json()["id"].clone() };
    let bot = |method: &'static str, path: String, body: Value| async move {
        call(a, method, &path, &[BOT], Some(&body)).await
    };

    // The bot retypes #1, makes #2 and #3 sub-issues of #1, reorders them, adds a blocker
    // and locks; the admin renames #4.
    let r = bot("PATCH", format!("{REPO}/issues/1"), json!({"type": "Bug"})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["type"]["name"], "Bug");
    let stamp = |n: u64| async move {
        get(a, &format!("{REPO}/issues/{n}")).await.json()["updated_at"].clone()
    };
    let stamps = (stamp(1).await, stamp(2).await);
    for n in [2, 3] {
        let r = bot(
            "POST",
            format!("{REPO}/issues/1/sub_issues"),
            json!({"sub_issue_id": id(n).await}),
        )
        .await;
        assert_eq!(r.status, 201);
    }
    let r = bot(
        "PATCH",
        format!("{REPO}/issues/1/sub_issues/priority"),
        json!({"sub_issue_id": id(3).await, "before_id": id(2).await}),
    )
    .await;
    assert_eq!(r.status, 200);
    let kids = get(a, &format!("{REPO}/issues/1/sub_issues")).await.json();
    let order: Vec<&Value> = kids
        .as_array()
        .unwrap()
        .iter()
        .map(|k| &k["number"])
        .collect();
    assert_eq!(order, [&json!(3), &json!(2)]);
    // As on GitHub, links and their order move no issue's `updated_at`.
    assert_eq!((stamp(1).await, stamp(2).await), stamps);
    assert_eq!(r.json()["sub_issues_summary"]["total"], 2);
    let two = get(a, &format!("{REPO}/issues/2")).await.json();
    assert!(two["parent_issue_url"]
        .as_str()
        .unwrap()
        .ends_with("/issues/1"));

    // A second parent needs replace_parent; a cycle is refused.
    let r = bot(
        "POST",
        format!("{REPO}/issues/5/sub_issues"),
        json!({"sub_issue_id": id(2).await}),
    )
    .await;
    assert_eq!(r.status, 422);
    let r = bot(
        "POST",
        format!("{REPO}/issues/2/sub_issues"),
        json!({"sub_issue_id": id(1).await}),
    )
    .await;
    assert_eq!(r.status, 422);
    let r = bot(
        "POST",
        format!("{REPO}/issues/5/sub_issues"),
        json!({"sub_issue_id": id(2).await, "replace_parent": true}),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        get(a, &format!("{REPO}/issues/1")).await.json()["sub_issues_summary"]["total"],
        1
    );

    let r = bot(
        "POST",
        format!("{REPO}/issues/6/dependencies/blocked_by"),
        json!({"issue_id": id(7).await}),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        r.json()["issue_dependencies_summary"]["total_blocked_by"],
        1
    );
    let blocking = get(a, &format!("{REPO}/issues/7/dependencies/blocking"))
        .await
        .json();
    assert_eq!(blocking[0]["number"], 6);
    let r = bot(
        "POST",
        format!("{REPO}/issues/7/dependencies/blocked_by"),
        json!({"issue_id": id(6).await}),
    )
    .await;
    assert_eq!(r.status, 422, "a circular dependency is refused");

    let r = bot(
        "PUT",
        format!("{REPO}/issues/8/lock"),
        json!({"lock_reason": "spam"}),
    )
    .await;
    assert_eq!(r.status, 204);
    let eight = get(a, &format!("{REPO}/issues/8")).await.json();
    assert_eq!(
        (eight["locked"].clone(), eight["active_lock_reason"].clone()),
        (json!(true), json!("spam"))
    );
    let r = send(
        a,
        "PATCH",
        &format!("{REPO}/issues/4"),
        json!({"title": "Renamed by a human"}),
    )
    .await;
    assert_eq!(r.status, 200);

    // Filters: by type, by mention.
    let bugs = get(a, &format!("{REPO}/issues?type=bug&state=all"))
        .await
        .json();
    assert_eq!(bugs.as_array().map(Vec::len), Some(1));
    let r = send(
        a,
        "POST",
        &format!("{REPO}/issues/9/comments"),
        json!({"body": "cc @alice"}),
    )
    .await;
    assert_eq!(r.status, 201);
    let mentioning = get(a, &format!("{REPO}/issues?mentioned=alice&state=all"))
        .await
        .json();
    assert!(mentioning
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["number"] == 9));

    // Every write above is an event, by the token's user, newest first.
    let events = get(a, &format!("{REPO}/issues/events?per_page=100"))
        .await
        .json();
    let bot_login = "sync-bot[bot]".to_owned();
    assert_eq!(
        events_of(&events, 8),
        [("locked".into(), bot_login.clone())]
    );
    assert_eq!(
        events_of(&events, 4)[0],
        ("renamed".into(), "sandbox-admin".into())
    );
    let one = events_of(&events, 1);
    assert!(
        one.contains(&("issue_type_added".into(), bot_login.clone())),
        "{one:?}"
    );
    assert!(
        one.contains(&("sub_issue_removed".into(), bot_login.clone())),
        "{one:?}"
    );
    assert_eq!(
        events_of(&events, 2)[0],
        ("parent_issue_added".into(), bot_login.clone())
    );
    assert!(events_of(&events, 6).contains(&("blocked_by_added".into(), bot_login.clone())));
    let first = &events[0];
    let by_id = get(a, &format!("{REPO}/issues/events/{}", first["id"])).await;
    assert_eq!(by_id.status, 200);
    assert_eq!(by_id.json()["event"], first["event"]);

    // Reactions: one per user and content; the rollup counts them.
    let r = bot(
        "POST",
        format!("{REPO}/issues/10/reactions"),
        json!({"content": "eyes"}),
    )
    .await;
    assert_eq!(r.status, 201);
    let again = bot(
        "POST",
        format!("{REPO}/issues/10/reactions"),
        json!({"content": "eyes"}),
    )
    .await;
    assert_eq!(
        (again.status, again.json()["id"].clone()),
        (200, r.json()["id"].clone())
    );
    let ten = get(a, &format!("{REPO}/issues/10")).await.json();
    assert_eq!(
        (
            ten["reactions"]["eyes"].clone(),
            ten["reactions"]["total_count"].clone()
        ),
        (json!(1), json!(1))
    );
    let bad = bot(
        "POST",
        format!("{REPO}/issues/10/reactions"),
        json!({"content": "clap"}),
    )
    .await;
    assert_eq!(bad.status, 422);
}
