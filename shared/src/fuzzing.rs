//! Fuzz entry points for every parser that reads what a network, a file or a user hands
//! backtrack: stored manifests and blobs, entry tables, the diff JSON (and the renderers
//! that print a parsed diff), webhook payloads, `Link` headers, snapshot references, names,
//! ids and scopes, `--since` times, and the portable archive reader.
//!
//! Each target takes arbitrary bytes and must not panic; where a printer exists it also
//! checks the round trip (what was read prints and reads back the same). The cargo-fuzz
//! crate in `fuzz/` (nightly) calls these; the property tests below run the same targets on
//! stable in CI, on inputs mutated from the corpus in `fuzz/corpus/<target>/` (real
//! payloads) and on random bytes. Only built for tests and with the `fuzzing` feature.

use std::fmt::Debug;
use std::io::Cursor;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::blob;
use crate::diff::{render_json, render_markdown, render_text, Diff, MarkdownOptions, TextOptions};
use crate::events::{self, AllowList};
use crate::manifest::{DeltaTable, EntryTable, Manifest, ManifestEntry};
use crate::portable::{ArchiveReader, Frame};
use crate::record::{Record, RecordKey};
use crate::snapshot::{SnapshotName, SnapshotRef};
use crate::tracker::github::parse_link;
use crate::{BlobId, ObjectHash, Scope, SnapshotId};

/// A fuzz target: arbitrary bytes in, a panic on a failure.
pub type Target = fn(&[u8]);

/// Every target, by the name its cargo-fuzz binary and corpus folder have.
pub const TARGETS: &[(&str, Target)] = &[
    ("manifest", manifest),
    ("blob", blob_record),
    ("entry_table", entry_table),
    ("diff_json", diff_json),
    ("webhook_payload", webhook_payload),
    ("link_header", link_header),
    ("reference", reference),
    ("scope", scope),
    ("archive", archive),
];

fn must<T, E: Debug>(result: Result<T, E>, what: &str) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e:?}"),
    }
}

/// `value` serializes, and reads back equal.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: &T, what: &str) {
    let json = must(serde_json::to_vec(value), what);
    let again: T = must(serde_json::from_slice(&json), what);
    assert_eq!(&again, value, "{what} does not read back the same");
}

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// A stored manifest header: as stored (zstd), and as its JSON compressed.
pub fn manifest(data: &[u8]) {
    let _ = Manifest::decode_header("fuzz", data);
    if let Ok(header) = Manifest::decode_header("fuzz", &blob::compress(data)) {
        round_trip(&header, "a manifest header");
        let _ = Manifest::assemble("fuzz", header, Vec::new());
    }
}

/// A record blob: as stored (zstd, checked against its id), and as its JSON compressed.
pub fn blob_record(data: &[u8]) {
    let _ = blob::decode::<Record>(&BlobId::of(data), data);
    let _ = blob::frame_dictionary(data);
    if let Ok(record) = blob::decode::<Record>(&BlobId::of(data), &blob::compress(data)) {
        let canonical = must(blob::canonical_json(&record), "canonical JSON");
        let again: Record = must(serde_json::from_slice(&canonical), "a canonical record");
        assert_eq!(again, record, "a record does not read back the same");
        let _ = record.key();
    }
}

/// An entry table (full or delta), and a chain of deltas applied to a full table.
pub fn entry_table(data: &[u8]) {
    if let Ok(table) = serde_json::from_slice::<EntryTable>(data) {
        round_trip(&table, "an entry table");
    }
    if let Ok((full, deltas)) =
        serde_json::from_slice::<(Vec<ManifestEntry>, Vec<DeltaTable>)>(data)
    {
        let _ = Manifest::apply_chain("fuzz", full, deltas);
    }
}

/// The diff JSON, and every renderer on what it parsed to.
pub fn diff_json(data: &[u8]) {
    let Ok(diff) = serde_json::from_slice::<Diff>(data) else {
        return;
    };
    let json = must(render_json(&diff), "render_json");
    let again: Diff = must(serde_json::from_str(&json), "rendered diff JSON");
    assert_eq!(again, diff, "a diff does not read back the same");
    let _ = render_text(&diff, &TextOptions::default());
    let _ = render_text(
        &diff,
        &TextOptions {
            color: true,
            width: 1,
            max_record_lines: 0,
        },
    );
    let _ = render_markdown(&diff, &MarkdownOptions::default());
    let _ = render_markdown(
        &diff,
        &MarkdownOptions {
            max_chars: crate::diff::MIN_MAX_CHARS,
            ..MarkdownOptions::default()
        },
    );
}

/// A webhook delivery's JSON, classified as each event GitHub sends; and the allow-list's
/// text form.
pub fn webhook_payload(data: &[u8]) {
    if let Ok(payload) = serde_json::from_slice::<Value>(data) {
        for event in [
            "issues",
            "issue_comment",
            "label",
            "milestone",
            "sub_issues",
            "push",
            "ping",
            "repository",
            "installation",
            "",
        ] {
            let _ = events::classify(event, &payload);
        }
        let allow = AllowList::parse("acme/*,github:octo/hello,jira:PROJ").unwrap_or_default();
        let _ = events::jira::classify(
            &payload,
            &allow,
            events::jira::Debounce::DEFAULT,
            chrono::Utc::now(),
        );
    }
    if let Ok(allow) = AllowList::parse(&text(data)) {
        let _ = allow.is_empty();
        let _ = allow.jira_scopes_in("PROJ");
    }
}

/// An RFC 8288 `Link` header; a URL printed into one is read back.
pub fn link_header(data: &[u8]) {
    let header = text(data);
    for rel in ["next", "last", "prev", "first", ""] {
        let _ = parse_link(&header, rel);
    }
    // What GitHub prints: `<URL>; rel="next"`, URLs without `<`, `>`, `,` or `;`.
    let url: String = header
        .chars()
        .filter(|c| !matches!(c, '<' | '>' | ',' | ';') && !c.is_whitespace())
        .collect();
    if !url.is_empty() {
        let printed = format!("<{url}>; rel=\"next\", <{url}&x>; rel=\"last\"");
        assert_eq!(parse_link(&printed, "next").as_deref(), Some(url.as_str()));
    }
}

/// Snapshot references, names and ids, blob ids, hashes and record keys; each one that
/// parses prints back to itself.
pub fn reference(data: &[u8]) {
    let t = text(data);
    let _ = SnapshotRef::parse(&t);
    if let Ok(name) = SnapshotName::parse(&t) {
        let again = must(SnapshotName::parse(name.as_str()), "a snapshot name");
        assert_eq!(again, name);
    }
    fn printed<T: FromStr + ToString + PartialEq + Debug>(t: &str)
    where
        T::Err: Debug,
    {
        if let Ok(v) = t.parse::<T>() {
            let again = must(v.to_string().parse::<T>(), "a printed id");
            assert_eq!(again, v);
        }
    }
    printed::<SnapshotId>(&t);
    printed::<BlobId>(&t);
    printed::<ObjectHash>(&t);
    printed::<RecordKey>(&t);
    let _ = crate::portable::parse_time(&t);
    let _ = crate::units::parse_duration(&t);
}

/// A scope (`github:OWNER/REPO`, `jira:KEY`, …): one that parses prints back to itself.
pub fn scope(data: &[u8]) {
    let t = text(data);
    if let Ok(s) = Scope::from_str(&t) {
        let again = must(Scope::from_str(&s.to_string()), "a printed scope");
        assert_eq!(again, s);
        assert_eq!(again.key(), s.key());
        let _ = s.slug();
        let _ = s.jira_project_key();
        let _ = s.jira_epic_key();
    }
}

/// The portable archive reader, record by record to the end or the first error.
pub fn archive(data: &[u8]) {
    let Ok(mut reader) = ArchiveReader::open("fuzz", Cursor::new(data)) else {
        return;
    };
    let _ = reader.header();
    // Each record takes at least a few bytes: this bounds the loop.
    for _ in 0..=data.len() {
        match reader.next_frame() {
            Ok(Frame::End(_)) | Err(_) => return,
            Ok(Frame::Blob { .. } | Frame::Snapshot(_)) => {}
        }
    }
    panic!("the reader returned more records than the archive has bytes");
}

mod runner;
pub use runner::run_target;

#[cfg(test)]
mod tests;
