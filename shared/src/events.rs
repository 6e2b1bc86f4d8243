//! What outside events ask for: a GitHub webhook delivery classified (a push to the default
//! branch or a merged pull request takes a snapshot; everything else is ignored), the
//! identity that makes a redelivered event the same event whatever its delivery id, the name
//! of the snapshot it takes, and the allow-list of repositories webhooks may snapshot at
//! all.
//!
//! The function that receives webhooks checks the signature (the transport's concern) and
//! then asks this module everything else, so the rules are written once and tested without
//! a Lambda. Jira's webhooks (issues created, updated, deleted) are in [`jira`]: they come in
//! floods, so they are debounced rather than taken one snapshot per event.

pub mod jira;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::manifest::Trigger;
use crate::sanitize::quote;
use crate::scope::Scope;
use crate::snapshot::SnapshotName;

/// Characters of a commit id a push's snapshot name keeps (as `git log --oneline` shows).
const SHORT_SHA_CHARS: usize = 7;

/// A snapshot a delivery asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSnapshot {
    pub scope: Scope,
    pub trigger: Trigger,
    /// Made from the event, and valid by construction (see [`SnapshotName::for_event`]).
    pub name: SnapshotName,
    /// What happened, independent of how it was delivered (see [`EventSnapshot::claim_key`]).
    pub identity: String,
}

impl EventSnapshot {
    /// The key a claim on this event is taken under: one snapshot per event, however many
    /// deliveries carry it. The delivery id is not covered by the signature (anyone who
    /// captured a signed body can replay it with a new id), the event's content is. Hashed,
    /// so the key has a fixed length whatever the payload holds.
    pub fn claim_key(&self) -> String {
        let kind = match self.scope.tracker() {
            crate::scope::TrackerKind::GitHub => "github-event",
            crate::scope::TrackerKind::Jira => "jira-event",
        };
        format!(
            "{kind}#{}",
            hex::encode(Sha256::digest(self.identity.as_bytes()))
        )
    }
}

/// The key a claim on a delivery id is taken under (GitHub's "Redeliver" resends the same id).
pub fn delivery_claim_key(delivery: &str) -> String {
    format!("github-delivery#{delivery}")
}

/// What a verified delivery asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookAction {
    Snapshot(Box<EventSnapshot>),
    /// Nothing to do, and why.
    Ignore(String),
}

/// Decides what a delivery of `event` (the `X-GitHub-Event` header) asks for: a push to the
/// repository's default branch, or a merged pull request, takes a snapshot; anything else
/// (other branches, tags, deleted branches, unmerged pull requests, other events) is ignored.
pub fn classify(event: &str, payload: &Value) -> WebhookAction {
    let repo = payload
        .pointer("/repository/full_name")
        .and_then(Value::as_str);
    let scope = match repo.map(|r| format!("github:{r}").parse::<Scope>()) {
        Some(Ok(scope)) => scope,
        Some(Err(e)) => return WebhookAction::Ignore(format!("unusable repository: {e}")),
        None => {
            return WebhookAction::Ignore(format!("{} event without a repository", quote(event)))
        }
    };
    let text = |pointer: &str| payload.pointer(pointer).and_then(Value::as_str);
    match event {
        "push" => {
            let default = text("/repository/default_branch").unwrap_or("main");
            let git_ref = text("/ref").unwrap_or("");
            if git_ref != format!("refs/heads/{default}") {
                return WebhookAction::Ignore(format!(
                    "push to {}, not the default branch {}",
                    quote(git_ref),
                    quote(default)
                ));
            }
            if payload.get("deleted").and_then(Value::as_bool) == Some(true) {
                return WebhookAction::Ignore("push that deleted the branch".into());
            }
            let Some(after) = text("/after").filter(|a| !a.is_empty()) else {
                return WebhookAction::Ignore("push without an `after` commit".into());
            };
            WebhookAction::Snapshot(Box::new(EventSnapshot {
                identity: format!("push {} {after}", scope.key()),
                name: SnapshotName::for_event("push", after, SHORT_SHA_CHARS),
                scope,
                trigger: Trigger::Push,
            }))
        }
        "pull_request" => {
            let action = text("/action").unwrap_or("");
            let merged = payload
                .pointer("/pull_request/merged")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if action != "closed" || !merged {
                return WebhookAction::Ignore(format!(
                    "pull_request {}{}",
                    quote(action),
                    if action == "closed" {
                        " without merge"
                    } else {
                        ""
                    }
                ));
            }
            let Some(number) = payload
                .pointer("/pull_request/number")
                .or_else(|| payload.get("number"))
                .and_then(Value::as_u64)
            else {
                return WebhookAction::Ignore("merged pull_request without a number".into());
            };
            let merge_commit = text("/pull_request/merge_commit_sha").unwrap_or("");
            WebhookAction::Snapshot(Box::new(EventSnapshot {
                identity: format!("merge {} #{number} {merge_commit}", scope.key()),
                name: SnapshotName::for_event(&format!("pr-{number}-merged"), "", 0),
                scope,
                trigger: Trigger::Merge,
            }))
        }
        other => WebhookAction::Ignore(format!("{} events take no snapshot", quote(other))),
    }
}

/// The repositories webhooks may snapshot: owners (every repository of `acme`) and single
/// repositories (`acme/widgets`), compared case-insensitively as GitHub compares them; and
/// the Jira scopes Jira webhooks may snapshot (`jira:PROJ`, `jira:PROJ-123`, exactly those).
/// A delivery for anything else is acknowledged and ignored before any tracker request, so
/// the answer is the same for repositories the token can read and those it cannot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    /// Lowercase `owner` or `owner/repo`.
    entries: BTreeSet<String>,
    /// Jira scopes by their key (`jira:PROJ`, `jira:PROJ-123`).
    jira: BTreeMap<String, Scope>,
}

impl AllowList {
    /// Parses `acme, beta/gadgets, jira:PROJ` (commas or whitespace between entries), or a
    /// JSON array of the same; `github:` prefixes are accepted. Refuses entries that are not
    /// a GitHub owner, `owner/repo` or a Jira scope, naming them.
    pub fn parse(text: &str) -> Result<AllowList, String> {
        let items: Vec<String> = match serde_json::from_str::<Vec<String>>(text) {
            Ok(items) => items,
            Err(_) if text.trim_start().starts_with('[') => {
                return Err("the allow-list is not a JSON array of strings".into())
            }
            Err(_) => text
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        };
        let mut entries = BTreeSet::new();
        let mut jira = BTreeMap::new();
        for item in &items {
            let item = item.trim();
            if item.starts_with("jira:") {
                let scope = item.parse::<Scope>().map_err(|e| {
                    format!("allow-list entry {} is not a Jira scope ({e})", quote(item))
                })?;
                jira.insert(scope.key(), scope);
                continue;
            }
            let bare = item.strip_prefix("github:").unwrap_or(item);
            let valid = match bare.split_once('/') {
                Some((owner, repo)) => format!("github:{owner}/{repo}").parse::<Scope>().is_ok(),
                None => Scope::github(bare, "x").is_ok(),
            };
            if !valid {
                return Err(format!(
                    "allow-list entry {} is not a GitHub owner, OWNER/REPO, jira:PROJ or jira:PROJ-123",
                    quote(item)
                ));
            }
            entries.insert(bare.to_ascii_lowercase());
        }
        Ok(AllowList { entries, jira })
    }

    /// The owners of `scopes`, and their Jira scopes themselves (the default: webhooks for
    /// the organisations and Jira scopes the schedule already snapshots).
    pub fn owners_of<'a>(scopes: impl IntoIterator<Item = &'a Scope>) -> AllowList {
        let mut list = AllowList::default();
        for scope in scopes {
            match scope.github_repo() {
                Some((owner, _)) => {
                    list.entries.insert(owner.to_ascii_lowercase());
                }
                None => {
                    list.jira.insert(scope.key(), scope.clone());
                }
            }
        }
        list
    }

    /// The webhooks' allow-list from the deployment's settings: `explicit` when given, or
    /// else the owners of the `scheduled` scopes (a JSON array, as the schedule's input
    /// holds them). Empty when neither names anything: then no delivery is acted on.
    pub fn for_webhooks(explicit: Option<&str>, scheduled: Option<&str>) -> Result<Self, String> {
        if let Some(text) = explicit.filter(|t| !t.trim().is_empty()) {
            return AllowList::parse(text);
        }
        let Some(text) = scheduled.filter(|t| !t.trim().is_empty()) else {
            return Ok(AllowList::default());
        };
        let scopes: Vec<String> = serde_json::from_str(text)
            .map_err(|e| format!("the scheduled scopes are not a JSON array of strings ({e})"))?;
        let scopes = scopes
            .iter()
            .map(|s| s.parse::<Scope>().map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AllowList::owners_of(&scopes))
    }

    /// Whether a delivery for `scope` may be acted on.
    pub fn allows(&self, scope: &Scope) -> bool {
        if scope.github_repo().is_none() {
            return self.jira.contains_key(&scope.key());
        }
        scope.github_repo().is_some_and(|(owner, repo)| {
            let owner = owner.to_ascii_lowercase();
            self.entries.contains(&owner)
                || self
                    .entries
                    .contains(&format!("{owner}/{}", repo.to_ascii_lowercase()))
        })
    }

    /// The allowed Jira scopes in `project` (upper case): the project's own scope and its
    /// epics' scopes, whichever are listed.
    pub fn jira_scopes_in(&self, project: &str) -> Vec<Scope> {
        self.jira
            .values()
            .filter(|s| s.jira_project_key().as_deref() == Some(project))
            .cloned()
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.jira.is_empty()
    }
}

impl fmt::Display for AllowList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("(nothing)");
        }
        let list: Vec<&str> = self
            .entries
            .iter()
            .chain(self.jira.keys())
            .map(String::as_str)
            .collect();
        f.write_str(&list.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn push(after: &str) -> Value {
        json!({"ref": "refs/heads/main", "after": after,
               "repository": {"full_name": "Acme/Widgets", "default_branch": "main"}})
    }

    fn snapshot(action: WebhookAction) -> EventSnapshot {
        match action {
            WebhookAction::Snapshot(s) => *s,
            WebhookAction::Ignore(why) => panic!("ignored: {why}"),
        }
    }

    #[test]
    fn a_push_to_the_default_branch_is_named_after_its_commit() {
        let s = snapshot(classify(
            "push",
            &push("6113728f27ae82c7b1a177c8d03f9e96e0adf246"),
        ));
        assert_eq!(s.name.as_str(), "push-6113728");
        assert_eq!(s.trigger, Trigger::Push);
        assert_eq!(s.scope.to_string(), "github:Acme/Widgets");
    }

    /// Issue 22 item 4: a byte slice of a non-ASCII `after` made a 315-character name holding
    /// a newline, BEL and U+202E. Whatever `after` holds, the name is short and valid.
    #[test]
    fn any_after_yields_a_valid_short_name() {
        let hostile = format!("é\n\u{7}\u{202e}{}", "x".repeat(300));
        for after in [
            hostile.as_str(),
            "ééééééééé",
            "\u{1b}[2J",
            "ab",
            "日本語のコミット",
        ] {
            let s = snapshot(classify("push", &push(after)));
            let name = s.name.as_str();
            assert!(SnapshotName::parse(name).is_ok(), "{name:?}");
            assert!(name.chars().count() <= 20, "{name:?}");
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
                "{name:?}"
            );
        }
        // Different commits still get different names.
        let a = snapshot(classify("push", &push("éé"))).name;
        let b = snapshot(classify("push", &push("èè"))).name;
        assert_ne!(a, b);
    }

    #[test]
    fn the_identity_is_the_event_not_the_delivery() {
        let one = snapshot(classify("push", &push("abc1234")));
        let same = snapshot(classify("push", &push("abc1234")));
        let other = snapshot(classify("push", &push("abc1235")));
        assert_eq!(one.claim_key(), same.claim_key());
        assert_ne!(one.claim_key(), other.claim_key());
        // The repository is part of it, case-insensitively.
        let mut lower = push("abc1234");
        lower["repository"]["full_name"] = json!("acme/widgets");
        assert_eq!(
            snapshot(classify("push", &lower)).claim_key(),
            one.claim_key()
        );

        let merged = |n: u64, sha: &str| {
            json!({"action": "closed", "pull_request": {"number": n, "merged": true,
                   "merge_commit_sha": sha}, "repository": {"full_name": "acme/widgets"}})
        };
        let pr = snapshot(classify("pull_request", &merged(7, "aaa")));
        assert_eq!(pr.name.as_str(), "pr-7-merged");
        assert_eq!(pr.trigger, Trigger::Merge);
        assert_eq!(
            pr.claim_key(),
            snapshot(classify("pull_request", &merged(7, "aaa"))).claim_key()
        );
        assert_ne!(
            pr.claim_key(),
            snapshot(classify("pull_request", &merged(8, "aaa"))).claim_key()
        );
        assert_ne!(
            pr.claim_key(),
            snapshot(classify("pull_request", &merged(7, "bbb"))).claim_key()
        );
    }

    #[test]
    fn other_events_are_ignored_with_a_reason() {
        let mut tag = push("abc");
        tag["ref"] = json!("refs/tags/v1");
        let mut deleted = push("0000000000000000000000000000000000000000");
        deleted["deleted"] = json!(true);
        let unmerged = json!({"action": "closed", "pull_request": {"number": 1, "merged": false},
                              "repository": {"full_name": "acme/widgets"}});
        for (event, payload) in [
            ("push", tag),
            ("push", deleted),
            ("pull_request", unmerged),
            ("issues", push("abc")),
            ("push", json!({"zen": "no repository"})),
        ] {
            assert!(
                matches!(classify(event, &payload), WebhookAction::Ignore(_)),
                "{event} {payload}"
            );
        }
    }

    #[test]
    fn the_allow_list_takes_owners_and_repositories_case_insensitively() {
        let scope = |s: &str| s.parse::<Scope>().unwrap();
        let list = AllowList::parse("Acme, beta/Gadgets").unwrap();
        assert!(list.allows(&scope("github:acme/anything")));
        assert!(list.allows(&scope("github:ACME/Widgets")));
        assert!(list.allows(&scope("github:Beta/gadgets")));
        assert!(!list.allows(&scope("github:beta/other")));
        assert!(!list.allows(&scope("github:mallory/acme")));
        assert_eq!(
            AllowList::parse(r#"["github:acme/widgets"]"#).unwrap(),
            AllowList::parse("acme/widgets").unwrap()
        );
        let e = AllowList::parse("acme, bad owner!").unwrap_err();
        assert!(e.contains("\"owner!\""), "{e}");
        assert!(AllowList::parse("[1]").is_err());

        // The default: the scheduled scopes' owners; nothing when there are none.
        let list =
            AllowList::for_webhooks(None, Some(r#"["github:Acme/widgets","github:beta/x"]"#))
                .unwrap();
        assert_eq!(list.to_string(), "acme, beta");
        assert!(list.allows(&scope("github:acme/gadgets")));
        let explicit =
            AllowList::for_webhooks(Some("gamma"), Some(r#"["github:acme/w"]"#)).unwrap();
        assert!(!explicit.allows(&scope("github:acme/w")));
        assert!(AllowList::for_webhooks(Some(" "), None).unwrap().is_empty());
        assert!(AllowList::for_webhooks(None, Some("not json")).is_err());
    }
}
