//! Test-only builders for record sets, and the golden-file helper.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test, with its location.

use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};

use crate::record::{Comment, Issue, Label, Milestone, MilestoneRef, RecordSet, State};

/// A fixed instant plus `days`, so golden output never depends on the clock.
pub fn at(days: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_736_780_400 + days * 86_400, 0).unwrap()
}

/// Builds a [`RecordSet`] by hand; each adder returns the record for tweaking.
#[derive(Debug, Default)]
pub struct Builder {
    pub set: RecordSet,
}

impl Builder {
    pub fn new() -> Self {
        Builder::default()
    }

    pub fn label(&mut self, id: u64, name: &str, color: &str) -> &mut Label {
        self.set.labels.insert(
            id,
            Label {
                id,
                name: name.into(),
                color: color.into(),
                description: None,
                raw: serde_json::Value::Null,
            },
        );
        self.set.labels.get_mut(&id).unwrap()
    }

    pub fn milestone(&mut self, number: u64, title: &str) -> &mut Milestone {
        self.set.milestones.insert(
            number,
            Milestone {
                number,
                id: 5000 + number,
                title: title.into(),
                state: State::Open,
                description: None,
                due_on: None,
                created_at: Some(at(0)),
                updated_at: Some(at(0)),
                closed_at: None,
                raw: serde_json::Value::Null,
            },
        );
        self.set.milestones.get_mut(&number).unwrap()
    }

    pub fn issue(&mut self, number: u64, title: &str) -> &mut Issue {
        self.set.issues.insert(
            number,
            Issue {
                number,
                id: 100_000 + number,
                title: title.into(),
                body: None,
                state: State::Open,
                state_reason: None,
                labels: Vec::new(),
                assignees: Vec::new(),
                milestone: None,
                author: Some("octocat".into()),
                locked: false,
                pull_request: false,
                comments: 0,
                created_at: at(0),
                updated_at: at(0),
                closed_at: None,
                html_url: Some(format!("https://github.com/acme/widgets/issues/{number}")),
                model: Default::default(),
                raw: serde_json::Value::Null,
            },
        );
        self.set.issues.get_mut(&number).unwrap()
    }

    pub fn comment(&mut self, id: u64, issue: u64, author: &str, body: &str) -> &mut Comment {
        self.set.comments.insert(
            id,
            Comment {
                id,
                issue_number: issue,
                body: body.into(),
                author: Some(author.into()),
                created_at: at(1),
                updated_at: at(1),
                html_url: None,
                raw: serde_json::Value::Null,
            },
        );
        self.set.comments.get_mut(&id).unwrap()
    }

    pub fn build(&self) -> RecordSet {
        self.set.clone()
    }
}

/// Sets an issue's milestone reference by title (numbers only matter for identity).
pub fn milestone_ref(number: u64, title: &str) -> Option<MilestoneRef> {
    Some(MilestoneRef {
        number,
        title: title.into(),
    })
}

/// `vec!["a", "b"]` as owned strings.
pub fn names(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Compares `actual` with a golden file's contents; with `BACKTRACK_BLESS=1` rewrites the
/// file instead (review the change with `git diff` before committing it).
pub fn golden(name: &str, expected: &str, actual: &str) {
    if std::env::var_os("BACKTRACK_BLESS").is_some_and(|v| v == "1") {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/diff/golden")
            .join(name);
        std::fs::write(&path, actual).unwrap();
        return;
    }
    if actual != expected {
        let first = actual
            .lines()
            .zip(expected.lines())
            .position(|(a, e)| a != e)
            .unwrap_or_else(|| actual.lines().count().min(expected.lines().count()));
        panic!(
            "golden file {name} differs from line {}:\n  actual:   {:?}\n  expected: {:?}\n\
             If the new output is right, rerun with BACKTRACK_BLESS=1 and review the change.",
            first + 1,
            actual.lines().nth(first),
            expected.lines().nth(first),
        );
    }
}
