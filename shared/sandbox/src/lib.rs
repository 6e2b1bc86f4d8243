//! backtrack's tracker emulators: stateful HTTP servers that speak a tracker's REST API
//! faithfully enough that backtrack and clients we did not write (PyGithub, octokit, `gh`,
//! python-github-backup; PyPI `jira` and `atlassian-python-api`) work against them unchanged.
//!
//! Users rehearse rollbacks on them, `backtrack demo` runs on them and the tests drive
//! everything against them. The core library (`backtrack`) does not depend on this crate; the
//! CLI does, to serve `backtrack sandbox` and `demo`. The Lambda functions never do.
//!
//! # Layout
//! - [`github`]: the GitHub emulator ([`github::Sandbox`], [`github::SandboxOptions`]).
//! - [`jira`]: the Jira emulator, Cloud or Data Center ([`jira::Sandbox`], [`jira::Config`],
//!   [`jira::Flavor`]).
//! - [`server`]: what every emulator shares to run: listening, the public URL clients see,
//!   starting and stopping ([`ServerOptions`], [`SandboxError`]).
//! - [`meter`]: request counting (`GET /_sandbox/stats`), injected latency and faults, and
//!   the secondary write limit ([`SandboxStats`], [`WriteLimit`], [`Fault`]). Each emulator
//!   decides how a fault looks on its wire.

pub mod github;
pub mod jira;
pub mod meter;
pub mod server;

pub use meter::{Fault, SandboxStats, WriteLimit};
pub use server::{SandboxError, ServerOptions};
