//! The JSON form of a [`Diff`]: the stable machine contract of `backtrack diff --format json`.
//!
//! The documentation below is `diff/SCHEMA.md`, included verbatim so the README, the API docs
//! and the tests (which check every documented key is produced) share one source.
//!
#![doc = include_str!("SCHEMA.md")]

use super::Diff;

/// The version of the JSON schema described in this module, in `schema_version`.
pub const SCHEMA_VERSION: u32 = 1;

/// Pretty-printed JSON in the documented schema.
pub fn render_json(diff: &Diff) -> Result<String, serde_json::Error> {
    // Pretty, with control and bidirectional characters escaped: this JSON is printed too.
    crate::sanitize::json_pretty(diff)
}
