//! Several tokens, several users: each token authenticates as its own user, writes record that
//! user, and a bot's token answers `GET /user` the way an installation token does.

use serde_json::{json, Value};

use super::{call, get, opts, start, AUTH, REPO};
use crate::github::{SandboxOptions, TokenUser};

const MALLORY: (&str, &str) = ("Authorization", "token mallory-token");
const BOT: (&str, &str) = ("Authorization", "Bearer bot-token");
const ALICE: (&str, &str) = ("Authorization", "token alice-token");

fn with_tokens() -> SandboxOptions {
    let t = |token: &str, login: &str| TokenUser {
        token: token.into(),
        login: login.into(),
    };
    SandboxOptions {
        tokens: vec![
            t("mallory-token", "mallory"),
            t("bot-token", "github-actions[bot]"),
            t("alice-token", "Alice"),
        ],
        ..opts()
    }
}

#[tokio::test]
async fn sandbox_each_token_is_its_own_user() {
    let sb = start(with_tokens()).await;
    let addr = sb.local_addr();
    let me = |auth| async move { call(addr, "GET", "/user", &[auth], None).await };

    let admin = me(AUTH).await;
    assert_eq!(admin.status, 200);
    assert_eq!(admin.json()["login"], "sandbox-admin");
    let mallory = me(MALLORY).await.json();
    assert_eq!(mallory["login"], "mallory");
    assert_eq!(mallory["type"], "User");
    assert_ne!(mallory["id"], admin.json()["id"]);
    // A seeded login (any case) is that seeded user, not a new one.
    let alice = me(ALICE).await.json();
    assert_eq!(alice["login"], "alice");
    assert_eq!(alice["name"], "Alice Martin");
    assert_eq!(get(addr, "/users/mallory").await.json()["login"], "mallory");
    assert_eq!(
        call(
            addr,
            "GET",
            "/user",
            &[("Authorization", "token nope")],
            None
        )
        .await
        .status,
        401
    );

    // GITHUB_TOKEN in Actions: an installation token has no user to show.
    let bot = me(BOT).await;
    assert_eq!(bot.status, 403);
    assert_eq!(
        bot.json(),
        json!({
            "message": "Resource not accessible by integration",
            "documentation_url": "https://docs.github.com/rest/users/users#get-the-authenticated-user",
            "status": "403",
        })
    );
    // …but the bot is a user others can look up, shaped as GitHub shows it.
    let shown = get(addr, "/users/github-actions%5Bbot%5D").await;
    assert_eq!(shown.status, 200);
    let shown = shown.json();
    assert_eq!(shown["type"], "Bot");
    assert_eq!(shown["id"], 41_898_282);
    assert_eq!(shown["node_id"], "MDM6Qm90NDE4OTgyODI=");
    assert_eq!(
        shown["avatar_url"],
        "https://avatars.githubusercontent.com/in/15368?v=4"
    );
    assert!(shown["url"]
        .as_str()
        .is_some_and(|u| u.ends_with("/users/github-actions%5Bbot%5D")));
    assert!(shown["html_url"]
        .as_str()
        .is_some_and(|u| u.ends_with("/apps/github-actions")));
    sb.shutdown().await;
}

#[tokio::test]
async fn sandbox_writes_record_the_tokens_user() {
    let sb = start(with_tokens()).await;
    let addr = sb.local_addr();
    let send = |auth, method: &'static str, path: String, body: Value| async move {
        call(addr, method, &path, &[auth], Some(&body)).await
    };

    // A hostile user plants a comment; it is theirs, with no association to the repository.
    let c = send(
        MALLORY,
        "POST",
        format!("{REPO}/issues/3/comments"),
        json!({"body": "planted"}),
    )
    .await;
    assert_eq!(c.status, 201, "{:?}", c.json());
    assert_eq!(c.json()["user"]["login"], "mallory");
    assert_eq!(c.json()["author_association"], "NONE");

    // The bot opens an issue: its author is the bot.
    let i = send(
        BOT,
        "POST",
        format!("{REPO}/issues"),
        json!({"title": "From a workflow"}),
    )
    .await;
    assert_eq!(i.status, 201, "{:?}", i.json());
    assert_eq!(i.json()["user"]["login"], "github-actions[bot]");
    assert_eq!(i.json()["user"]["type"], "Bot");
    let n = i.json()["number"].as_u64().unwrap_or(0);

    // Alice closes it: closed_by is Alice, not the token the sandbox started with.
    let closed = send(
        ALICE,
        "PATCH",
        format!("{REPO}/issues/{n}"),
        json!({"state": "closed"}),
    )
    .await;
    assert_eq!(closed.status, 200);
    assert_eq!(closed.json()["closed_by"]["login"], "alice");
    assert_eq!(closed.json()["user"]["login"], "github-actions[bot]");

    // A milestone's creator is whoever created it.
    let m = send(
        MALLORY,
        "POST",
        format!("{REPO}/milestones"),
        json!({"title": "Mallory's"}),
    )
    .await;
    assert_eq!(m.json()["creator"]["login"], "mallory");

    // Someone outside the repository cannot be assigned; a seeded person can.
    let bad = send(
        AUTH,
        "PATCH",
        format!("{REPO}/issues/{n}"),
        json!({"assignees": ["mallory"]}),
    )
    .await;
    assert_eq!(bad.status, 422, "{:?}", bad.json());
    let ok = send(
        AUTH,
        "PATCH",
        format!("{REPO}/issues/{n}"),
        json!({"assignees": ["alice"]}),
    )
    .await;
    assert_eq!(ok.status, 200);

    // Extra tokens do not change the seeded data.
    let plain = start(opts()).await;
    let first = |a| async move { get(a, &format!("{REPO}/issues/1")).await.json() };
    assert_eq!(
        first(plain.local_addr()).await["title"],
        first(addr).await["title"]
    );
    plain.shutdown().await;
    sb.shutdown().await;
}

#[tokio::test]
async fn sandbox_refuses_bad_token_options() {
    let bad = |tokens: Vec<(&str, &str)>| {
        let opts = SandboxOptions {
            tokens: tokens
                .into_iter()
                .map(|(t, l)| TokenUser {
                    token: t.into(),
                    login: l.into(),
                })
                .collect(),
            ..opts()
        };
        async move { crate::github::Sandbox::start(opts).await.err() }
    };
    for case in [
        vec![("t1", "not a login")],
        vec![("t1", "-dash")],
        vec![("t1", "double--dash")],
        vec![("t1", "acme")],
        vec![("sandbox-token", "mallory")],
        vec![("t1", "mallory"), ("t1", "eve")],
        vec![("has space", "mallory")],
    ] {
        let err = bad(case.clone()).await;
        assert!(err.is_some(), "{case:?} should be refused");
        // A token never appears in the error.
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            !text.contains("t1") && !text.contains("sandbox-token"),
            "{text}"
        );
    }
}
