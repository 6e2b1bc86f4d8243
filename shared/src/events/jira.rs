//! What a Jira webhook delivery asks for: an issue created, updated or deleted (or one of its
//! comments) in a project whose scopes webhooks may snapshot takes a debounced snapshot of
//! each of those scopes.
//!
//! # Why debounced
//! Jira sends one delivery per issue change, so a sync script that rewrites 40 stories sends
//! 40 deliveries within seconds. One snapshot per delivery would queue 40 captures of the same
//! scope; one snapshot when the flood settles holds the same end state. Time is cut into
//! fixed windows ([`Debounce`]); the first delivery of a window claims the window for the
//! scope (through the same claim machinery as GitHub's event identities, keyed by scope and
//! window start) and queues a capture that runs when the window closes, so it sees every
//! change made within it. Later deliveries of the window find the claim taken and do
//! nothing. A redelivery (Jira retries on timeouts and 5xx) is the same delivery id, also
//! claimed.
//!
//! # Which scopes
//! An issue's project is in every payload; whether a subtask sits under a given epic is not
//! (its parent is the story). So a delivery reaches every allowed scope of the issue's project,
//! the project's own and its epics': the capture of an epic the change did not touch is an
//! incremental one that finds nothing to add, a search or two.
//!
//! The signature (Jira's `X-Hub-Signature`, the transport's concern) is checked by the
//! function before this module sees the payload.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{AllowList, EventSnapshot};
use crate::manifest::Trigger;
use crate::sanitize::quote;
use crate::scope::Scope;
use crate::snapshot::SnapshotName;

/// The `webhookEvent`s that take a snapshot, with the word a snapshot name uses for each.
const EVENTS: [(&str, &str); 6] = [
    ("jira:issue_created", "created"),
    ("jira:issue_updated", "updated"),
    ("jira:issue_deleted", "deleted"),
    ("comment_created", "commented"),
    ("comment_updated", "commented"),
    ("comment_deleted", "commented"),
];

/// The debounce window: at most one webhook snapshot per scope per window, taken when the
/// window closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Debounce(Duration);

impl Debounce {
    /// One minute: a sync run's deliveries fall in one or two windows, and a person editing
    /// issues by hand gets a snapshot a minute after they stop.
    pub const DEFAULT: Debounce = Debounce(Duration::from_secs(60));
    /// The longest delay SQS gives a message (15 minutes).
    pub const MAX: Duration = Duration::from_secs(900);

    /// A window of `secs` seconds, 1 to 900; `source` (a variable) is named in the error.
    pub fn from_secs_text(text: &str, source: &str) -> Result<Debounce, String> {
        match text.trim().parse::<u64>() {
            Ok(secs) if (1..=Self::MAX.as_secs()).contains(&secs) => {
                Ok(Debounce(Duration::from_secs(secs)))
            }
            _ => Err(format!(
                "{source} {} must be a whole number of seconds from 1 to {} (SQS's longest delay)",
                quote(text),
                Self::MAX.as_secs()
            )),
        }
    }

    pub fn window(self) -> Duration {
        self.0
    }

    /// How long a window's claim is kept: past the window's end, so a late delivery of the
    /// window still finds it, and not much longer (the key names the window).
    pub fn claim_ttl(self) -> Duration {
        self.0 * 2 + Duration::from_secs(60)
    }

    /// The start of the window `now` falls in (seconds since the epoch) and the time left
    /// until it closes.
    fn window_of(self, now: DateTime<Utc>) -> (i64, Duration) {
        let window_ms = i64::try_from(self.0.as_millis()).unwrap_or(i64::MAX).max(1);
        let now_ms = now.timestamp_millis();
        let start_ms = now_ms.div_euclid(window_ms) * window_ms;
        let left = u64::try_from(start_ms + window_ms - now_ms).unwrap_or(0);
        (start_ms / 1000, Duration::from_millis(left))
    }
}

impl Default for Debounce {
    fn default() -> Self {
        Debounce::DEFAULT
    }
}

/// What a verified Jira delivery asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JiraWebhookAction {
    Snapshot(Box<JiraSnapshots>),
    /// Nothing to do, and why.
    Ignore(String),
}

/// The debounced snapshots one delivery asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JiraSnapshots {
    /// `jira:issue_updated`, …
    pub event: String,
    /// The issue the delivery is about (`PROJ-12`).
    pub issue: String,
    /// One per allowed scope of the issue's project; each identity names the scope and the
    /// window, so its claim is taken once per window (see the module's doc).
    pub snapshots: Vec<EventSnapshot>,
    /// How long the capture waits: until the window closes.
    pub delay: Duration,
}

/// The key a claim on a Jira delivery is taken under (`X-Atlassian-Webhook-Identifier`, the
/// same on every retry of a delivery).
pub fn delivery_claim_key(delivery: &str) -> String {
    format!("jira-delivery#{delivery}")
}

/// Decides what a delivery (received at `now`) asks for, given the scopes webhooks may
/// snapshot.
pub fn classify(
    payload: &Value,
    allow: &AllowList,
    debounce: Debounce,
    now: DateTime<Utc>,
) -> JiraWebhookAction {
    let text = |pointer: &str| payload.pointer(pointer).and_then(Value::as_str);
    let Some(event) = text("/webhookEvent") else {
        return JiraWebhookAction::Ignore(
            "not a Jira webhook delivery (no webhookEvent); point Jira's webhook at \
             /webhooks/jira and GitHub's at /webhooks/github"
                .into(),
        );
    };
    let Some((_, verb)) = EVENTS.iter().find(|(name, _)| *name == event) else {
        return JiraWebhookAction::Ignore(format!("{} events take no snapshot", quote(event)));
    };
    let Some(issue) = text("/issue/key").filter(|k| !k.is_empty()) else {
        return JiraWebhookAction::Ignore(format!("{} without an issue key", quote(event)));
    };
    // The project's key is in the issue's fields; the issue key's prefix says the same
    // where a payload leaves the fields out.
    let project = text("/issue/fields/project/key")
        .or_else(|| issue.rsplit_once('-').map(|(p, _)| p))
        .unwrap_or_default();
    let project = match Scope::jira_project(project) {
        Ok(scope) => scope.jira_project_key().unwrap_or_default(),
        Err(e) => {
            return JiraWebhookAction::Ignore(format!("unusable project {}: {e}", quote(project)))
        }
    };
    let scopes = allow.jira_scopes_in(&project);
    if scopes.is_empty() {
        return JiraWebhookAction::Ignore(format!(
            "no scope of Jira project {project} is in the webhook allow-list"
        ));
    }
    let (start, delay) = debounce.window_of(now);
    let name = SnapshotName::for_event(&format!("jira-{issue}-{verb}"), "", 0);
    let snapshots = scopes
        .into_iter()
        .map(|scope| EventSnapshot {
            identity: format!("debounce {} {start}", scope.key()),
            name: name.clone(),
            scope,
            trigger: Trigger::Webhook,
        })
        .collect();
    JiraWebhookAction::Snapshot(Box::new(JiraSnapshots {
        event: event.to_string(),
        issue: issue.to_string(),
        snapshots,
        delay,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;
    use serde_json::json;

    /// Shaped like Jira Cloud's delivery for an issue edit (trimmed).
    fn updated(key: &str, project: &str) -> Value {
        json!({
            "timestamp": 1_764_528_000_000_u64,
            "webhookEvent": "jira:issue_updated",
            "issue_event_type_name": "issue_generic",
            "user": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Sync Bot"},
            "issue": {"id": "10012", "key": key, "self": "https://acme.atlassian.net/rest/api/2/10012",
                      "fields": {"summary": "Rewritten", "project": {"key": project, "id": "10000"},
                                 "issuetype": {"name": "Story", "subtask": false}}},
            "changelog": {"id": "10400", "items": [{"field": "summary", "fromString": "a", "toString": "b"}]}
        })
    }

    fn at(secs: i64, ms: u32) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, ms * 1_000_000).single().unwrap()
    }

    fn snapshots(action: JiraWebhookAction) -> JiraSnapshots {
        match action {
            JiraWebhookAction::Snapshot(s) => *s,
            JiraWebhookAction::Ignore(why) => panic!("ignored: {why}"),
        }
    }

    #[test]
    fn an_issue_change_reaches_every_allowed_scope_of_its_project_once_per_window() {
        let allow = AllowList::parse("jira:PROJ, jira:PROJ-1, jira:OTHER, acme").unwrap();
        let debounce = Debounce::from_secs_text("60", "X").unwrap();
        let first = snapshots(classify(
            &updated("PROJ-12", "PROJ"),
            &allow,
            debounce,
            at(1_764_528_005, 500),
        ));
        let scopes: Vec<String> = first.snapshots.iter().map(|s| s.scope.key()).collect();
        assert_eq!(scopes, ["jira:PROJ", "jira:PROJ-1"]);
        assert_eq!(first.issue, "PROJ-12");
        assert_eq!(first.delay, Duration::from_millis(54_500), "until 00:01:00");
        assert!(first
            .snapshots
            .iter()
            .all(|s| s.trigger == Trigger::Webhook));
        assert_eq!(first.snapshots[0].name.as_str(), "jira-PROJ-12-updated");

        // Another issue later in the same window: the same claims (nothing more queued).
        let same = snapshots(classify(
            &updated("PROJ-40", "PROJ"),
            &allow,
            debounce,
            at(1_764_528_059, 999),
        ));
        let keys = |s: &JiraSnapshots| {
            s.snapshots
                .iter()
                .map(|e| e.claim_key())
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(&first), keys(&same));
        assert!(keys(&first)[0].starts_with("jira-event#"));
        // The next window: new claims.
        let next = snapshots(classify(
            &updated("PROJ-40", "PROJ"),
            &allow,
            debounce,
            at(1_764_528_060, 0),
        ));
        assert_ne!(keys(&first), keys(&next));
        assert_eq!(next.delay, Duration::from_secs(60));
    }

    #[test]
    fn deliveries_outside_the_allow_list_or_of_other_events_are_ignored() {
        let allow = AllowList::parse("jira:PROJ").unwrap();
        let now = at(1_764_528_000, 0);
        let mut sprint = updated("PROJ-1", "PROJ");
        sprint["webhookEvent"] = json!("sprint_started");
        let github_push = json!({"ref": "refs/heads/main", "repository": {"full_name": "a/b"}});
        let mut no_key = updated("PROJ-1", "PROJ");
        no_key["issue"]["key"] = json!("");
        let mut bad_project = updated("PROJ-1", "PROJ");
        bad_project["issue"]["fields"]["project"]["key"] = json!("not a key!");
        for payload in [
            updated("OTHER-3", "OTHER"),
            sprint,
            github_push,
            no_key,
            bad_project,
        ] {
            let action = classify(&payload, &allow, Debounce::DEFAULT, now);
            assert!(
                matches!(action, JiraWebhookAction::Ignore(_)),
                "{payload}: {action:?}"
            );
        }
        // Without fields, the key's prefix names the project; comments count too.
        let mut bare = json!({"webhookEvent": "comment_deleted", "issue": {"key": "proj-9"}});
        let s = snapshots(classify(&bare, &allow, Debounce::DEFAULT, now));
        assert_eq!(s.snapshots[0].scope.key(), "jira:PROJ");
        assert_eq!(s.snapshots[0].name.as_str(), "jira-proj-9-commented");
        bare["webhookEvent"] = json!("jira:issue_deleted");
        assert_eq!(
            snapshots(classify(&bare, &allow, Debounce::DEFAULT, now)).snapshots[0]
                .name
                .as_str(),
            "jira-proj-9-deleted"
        );
    }

    #[test]
    fn the_window_is_1_to_900_seconds() {
        for bad in ["0", "901", "-5", "1.5", "soon", ""] {
            let e =
                Debounce::from_secs_text(bad, "BACKTRACK_JIRA_WEBHOOK_DEBOUNCE_SECS").unwrap_err();
            assert!(e.contains("BACKTRACK_JIRA_WEBHOOK_DEBOUNCE_SECS"), "{e}");
        }
        assert_eq!(
            Debounce::from_secs_text(" 900 ", "X").unwrap().window(),
            Duration::from_secs(900)
        );
    }

    #[test]
    fn jira_scopes_in_the_allow_list() {
        let scope = |s: &str| s.parse::<Scope>().unwrap();
        let list = AllowList::parse(r#"["jira:proj-7", "acme"]"#).unwrap();
        assert!(list.allows(&scope("jira:PROJ-7")));
        assert!(!list.allows(&scope("jira:PROJ")));
        assert!(list.allows(&scope("github:acme/x")));
        assert_eq!(list.to_string(), "acme, jira:PROJ-7");
        assert!(AllowList::parse("jira:1BAD").is_err());
        // The default: the scheduled Jira scopes themselves.
        let list = AllowList::for_webhooks(None, Some(r#"["jira:PROJ","github:acme/w"]"#)).unwrap();
        assert!(list.allows(&scope("jira:PROJ")));
        assert!(!list.allows(&scope("jira:OTHER")));
        assert_eq!(list.jira_scopes_in("PROJ"), vec![scope("jira:PROJ")]);
    }
}
