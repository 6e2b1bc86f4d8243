//! The repository's issue events since a time: who changed what (see
//! [`crate::attribution`]). One listing, `GET /repos/{o}/{r}/issues/events`, newest first,
//! 100 events a page, read until an event older than the window's start: a quiet day costs one
//! request, a bot's 1,000 writes ten.

use chrono::{DateTime, Utc};

use super::{page_items, GitHubTracker, PER_PAGE};
use crate::attribution::{Activity, IssueEvent, ACTIVITY_FORMAT};
use crate::tracker::TrackerError;

impl GitHubTracker {
    /// The issue events after `since` (all of them the listing serves, without it).
    pub async fn issue_events(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Activity, TrackerError> {
        let until = Utc::now();
        let mut next = Some(self.repo_path(&format!("/issues/events?per_page={PER_PAGE}")));
        let mut events = Vec::new();
        let mut reached = false;
        let mut cut = false;
        while let Some(target) = next.take() {
            let reply = match self.client.get(&target, None).await {
                Ok(reply) => reply,
                // GitHub refuses pages past the depth it serves: what was read stands, and
                // the log says it is incomplete.
                Err(TrackerError::Http { status: 422, .. }) if !events.is_empty() => {
                    cut = true;
                    break;
                }
                Err(e) => return Err(e),
            };
            for raw in page_items(&reply, &target)? {
                let Some(event) = IssueEvent::from_github(&raw) else {
                    continue;
                };
                if since.is_some_and(|s| event.created_at <= s) {
                    reached = true;
                    break;
                }
                events.push(event);
            }
            if !reached {
                next = reply.next_link();
            }
        }
        // A listing that ends on its own holds every event the repository has.
        Ok(Activity {
            format: ACTIVITY_FORMAT,
            since,
            until,
            complete: reached || !cut,
            events,
        })
    }
}
