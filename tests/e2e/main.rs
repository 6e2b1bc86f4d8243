//! The one integration test binary. Every test here drives real parts: the `backtrack`
//! binary as a user runs it, the sandbox started as `backtrack sandbox`, over HTTP on
//! loopback, and other clients (PyGithub) against the sandbox. Shared plumbing lives in
//! `util`.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test, with its location.

mod action;
mod activity;
mod attribution;
mod aws;
mod cli_errors;
mod demo;
mod diff;
mod encryption;
mod fanout;
mod faultproxy;
mod fleet;
mod functions;
mod gitstore;
mod graphql;
mod incremental;
mod integrity;
mod issue_model;
mod jira;
mod jira_model;
mod jira_restore_into;
mod jira_resume;
mod jira_rollback;
mod jira_sandbox;
mod lifecycle;
mod load;
mod model;
mod paced;
mod portable;
mod prune;
mod references;
mod release;
mod report;
mod restore_into;
mod resume;
mod rollback;
mod safety;
mod sandbox_compat;
mod snapshot;
mod sub_issues;
mod util;
