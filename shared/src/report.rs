//! `backtrack report`: one self-contained HTML page with a scope's snapshot timeline, the
//! diff between two sides, and (read-only) the rollback plan back to the older side.
//!
//! The page is what people open from a workflow artifact, an e-mail or the diff function, on
//! any machine, offline, so it carries everything inline and fetches nothing:
//! - the timeline is SVG drawn here by `plotters` ([`timeline`]), with a table beside it for
//!   screen readers and exact figures;
//! - the diff is the [`Diff`] itself, as embedded JSON (the same values `diff --format json`
//!   prints, so counts on the page are the diff's counts), plus [`Facts`] (labels and
//!   authors of the changed issues and comments, for the filters), rendered in the browser
//!   by a small script that builds issue rows in chunks as the reader scrolls and an issue's
//!   changes only when it is expanded: a 10,000-change diff paints its first screen at once;
//! - a strict Content-Security-Policy allows the page's own script (by hash) and nothing
//!   from the network.
//!
//! Everything from the tracker (titles, bodies, names) is untrusted. It only ever reaches the
//! page as JSON inside `<script type="application/json">` with `<`, `>` and `&` escaped (so
//! no text can close the element), or as HTML-escaped text here, and the script only puts it
//! in the DOM as text (`textContent`), never as markup; links are kept only when they are
//! `http(s)` addresses.

pub mod timeline;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::diff::{Change, ChangeKind, Diff, Field, Schema};
use crate::record::RecordSet;
use crate::rollback::RollbackPlan;

pub use timeline::{Timeline, TimelinePoint};

use std::sync::Arc;

use crate::compare::{self, CompareError, Comparison, DiffSides, LiveSource};
use crate::diff::DiffOptions;
use crate::error::Error;
use crate::rollback::{Rollback, RollbackOptions, RollbackRequest};
use crate::scope::Scope;
use crate::snapshot::{Archive, Resolved};
use crate::tracker::{Progress, Tracker};

/// What a report covers beyond the two sides.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    pub diff: DiffOptions,
    /// The timeline's window: snapshots taken at or after this (all of them with `None`).
    pub since: Option<DateTime<Utc>>,
}

/// A generated report: the page, and the comparison behind it (for the caller's outputs).
#[derive(Debug)]
pub struct Generated {
    pub html: String,
    pub comparison: Comparison,
    pub timeline: Timeline,
}

/// Compares the two sides of `scope` (the one path `diff` uses), collects the timeline and
/// renders the page. `plan`, when given, is shown read-only (see [`rollback_plan`]).
pub async fn generate(
    archive: &Archive,
    scope: &Scope,
    sides: &DiffSides,
    options: &ReportOptions,
    live: Option<&LiveSource>,
    plan: Option<&RollbackPlan>,
) -> Result<Generated, CompareError> {
    let comparison = compare::compare(archive, scope, sides, &options.diff, live).await?;
    let (html, timeline) = for_comparison(archive, scope, &comparison, options.since, plan).await?;
    Ok(Generated {
        html,
        comparison,
        timeline,
    })
}

/// The page of a comparison already made (`diff --report` renders the diff it computed
/// rather than reading the tracker a second time): the timeline of `scope` since `since`,
/// and the page with its timeline.
pub async fn for_comparison(
    archive: &Archive,
    scope: &Scope,
    comparison: &Comparison,
    since: Option<DateTime<Utc>>,
    plan: Option<&RollbackPlan>,
) -> Result<(String, Timeline), Error> {
    let id = |r: &Option<Resolved>| r.as_ref().map(|r| r.id.to_string());
    let (from_id, to_id) = (id(&comparison.from), id(&comparison.to));
    let timeline = timeline::collect(
        archive,
        scope,
        since,
        [from_id.as_deref(), to_id.as_deref()],
    )
    .await?;
    let html = render_html(&Report {
        diff: &comparison.diff,
        facts: &comparison.facts,
        timeline: &timeline,
        plan,
        generated_at: Utc::now(),
    })
    .map_err(|e| Error::Internal(format!("rendering the report: {e}")))?;
    Ok((html, timeline))
}

/// The rollback plan that would put the live tracker back to `target` with the default
/// options (every issue, every field): what `rollback SCOPE --to TARGET` previews.
pub async fn rollback_plan(
    archive: &Archive,
    target: &Resolved,
    tracker: Arc<dyn Tracker>,
    progress: Arc<dyn Progress>,
) -> Result<RollbackPlan, Error> {
    let records = crate::rollback::load_target(archive, &target.entry).await?;
    let options =
        RollbackOptions::validate(&RollbackRequest::default(), &target.entry, &records.records)
            .map_err(|e| Error::Invalid(format!("--{}: {}", e.field, e.message)))?;
    let wanted = Rollback {
        target: &target.entry,
        records: &records,
        options: &options,
    };
    crate::rollback::plan_against_live(tracker, &wanted, progress).await
}

const STYLE: &str = include_str!("report/page.css");
const SCRIPT: &str = include_str!("report/page.js");

/// The `Content-Type` of a report, for the diff function and anything else serving one.
pub const CONTENT_TYPE: &str = "text/html; charset=utf-8";

/// Why a report could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot encode the report's data: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("cannot draw the timeline: {0}")]
    Chart(String),
}

/// What the diff alone does not say about the changed issues and comments: their labels and
/// authors on the newer side (the older side for removed ones), for the page's filters.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Facts {
    /// By issue number (Jira: issue id).
    pub items: BTreeMap<u64, ItemFacts>,
    /// Comment author by comment id.
    pub comments: BTreeMap<String, String>,
}

/// The labels and author of one changed issue.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ItemFacts {
    pub labels: Vec<String>,
    /// GitHub: who opened it; Jira: its reporter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
}

impl Facts {
    /// Reads the facts of every issue and comment `diff` names from the two record sets it
    /// was computed from, through the tracker's schema (so Jira and GitHub need nothing
    /// of their own here).
    pub fn collect(schema: &Schema, diff: &Diff, from: &RecordSet, to: &RecordSet) -> Facts {
        let mut facts = Facts::default();
        let person = |v: &Value| -> Option<String> {
            match v {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Object(o) => ["login", "displayName", "name"]
                    .iter()
                    .find_map(|k| o.get(*k).and_then(Value::as_str))
                    .map(str::to_string),
                _ => None,
            }
        };
        for entry in &diff.issues {
            let record = to
                .get_id(schema.items.record, entry.number)
                .or_else(|| from.get_id(schema.items.record, entry.number));
            let Some(record) = record else { continue };
            let whole = (schema.items.whole)(record);
            let labels = whole["labels"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            let author = ["author", "reporter"]
                .iter()
                .find_map(|k| person(&whole[*k]));
            facts
                .items
                .insert(entry.number, ItemFacts { labels, author });
        }
        for change in diff
            .changes
            .iter()
            .filter(|c| c.kind == ChangeKind::Comment)
        {
            let Ok(id) = change.key.parse::<u64>() else {
                continue;
            };
            let record = to
                .get_id(schema.comments.record, id)
                .or_else(|| from.get_id(schema.comments.record, id));
            if let Some(author) = record.and_then(|r| person(&(schema.comments.whole)(r)["author"]))
            {
                facts.comments.insert(change.key.clone(), author);
            }
        }
        facts
    }
}

/// Everything one page shows.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    pub diff: &'a Diff,
    pub facts: &'a Facts,
    pub timeline: &'a Timeline,
    /// The rollback plan back to the `from` side, shown read-only.
    pub plan: Option<&'a RollbackPlan>,
    pub generated_at: DateTime<Utc>,
}

/// The page's embedded data: the diff as `diff --format json` has it (minus the full texts
/// of bodies whose hunks say the same), and what the filters and the plan section need.
#[derive(Serialize)]
struct Data<'a> {
    tracker: &'static str,
    generated_at: DateTime<Utc>,
    diff: Slim<'a>,
    facts: &'a Facts,
    plan: Option<PlanView>,
}

#[derive(Serialize)]
struct Slim<'a> {
    schema_version: u32,
    from: &'a crate::diff::Side,
    to: &'a crate::diff::Side,
    summary: &'a crate::diff::Summary,
    changes: Vec<SlimChange<'a>>,
    issues: &'a [crate::diff::IssueEntry],
}

/// A change as JSON, with `before`/`after` left out of body changes that carry hunks: the
/// page shows those as line diffs, and the full texts would double a report's size.
#[derive(Serialize)]
struct SlimChange<'a> {
    #[serde(flatten)]
    change: ChangeRef<'a>,
}

enum ChangeRef<'a> {
    Whole(&'a Change),
    Hunks(&'a Change),
}

impl Serialize for ChangeRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            ChangeRef::Whole(c) => c.serialize(s),
            ChangeRef::Hunks(c) => {
                let mut map = s.serialize_map(None)?;
                map.serialize_entry("kind", &c.kind)?;
                map.serialize_entry("key", &c.key)?;
                map.serialize_entry("field", &c.field)?;
                map.serialize_entry("op", &c.op)?;
                map.serialize_entry("issue", &c.issue)?;
                if let Some(k) = &c.issue_key {
                    map.serialize_entry("issue_key", k)?;
                }
                map.serialize_entry("hunks", &c.hunks)?;
                if c.pull_request {
                    map.serialize_entry("pull_request", &true)?;
                }
                map.end()
            }
        }
    }
}

/// The plan as the page shows it: each write as the preview prints it, and the losses.
#[derive(Serialize)]
struct PlanView {
    target: String,
    target_name: Option<String>,
    fingerprint: String,
    ops: Vec<PlanOp>,
    irrecoverable: Vec<crate::rollback::Irrecoverable>,
}

#[derive(Serialize)]
struct PlanOp {
    index: u64,
    text: String,
}

impl PlanView {
    fn of(plan: &RollbackPlan) -> PlanView {
        PlanView {
            target: plan.target.to_string(),
            target_name: plan.target_name.clone(),
            fingerprint: plan.fingerprint().to_string(),
            ops: plan
                .ops
                .iter()
                .map(|op| PlanOp {
                    index: op.index,
                    text: op.op.to_string(),
                })
                .collect(),
            irrecoverable: plan.irrecoverable.clone(),
        }
    }
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON that can sit inside a `<script>` element whatever its strings hold: `<`, `>` and
/// `&` only occur inside JSON strings, where their `\u` escapes mean the same.
fn script_json(value: &impl Serialize) -> Result<String, serde_json::Error> {
    let json = serde_json::to_string(value)?;
    let mut out = String::with_capacity(json.len() + json.len() / 64);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    Ok(out)
}

fn csp_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// Renders the page.
pub fn render_html(report: &Report<'_>) -> Result<String, ReportError> {
    let diff = report.diff;
    let schema = Schema::for_diff(diff);
    let tracker = match schema.tracker {
        crate::scope::TrackerKind::GitHub => "github",
        crate::scope::TrackerKind::Jira => "jira",
    };
    let data = Data {
        tracker,
        generated_at: report.generated_at,
        diff: Slim {
            schema_version: diff.schema_version,
            from: &diff.from,
            to: &diff.to,
            summary: &diff.summary,
            changes: diff
                .changes
                .iter()
                .map(|c| SlimChange {
                    change: if c.field == Field::Body || c.field == Field::Description {
                        if c.hunks.is_empty() {
                            ChangeRef::Whole(c)
                        } else {
                            ChangeRef::Hunks(c)
                        }
                    } else {
                        ChangeRef::Whole(c)
                    },
                })
                .collect(),
            issues: &diff.issues,
        },
        facts: report.facts,
        plan: report.plan.map(PlanView::of),
    };
    let json = script_json(&data)?;
    let chart = timeline::svg(report.timeline)?;
    let scope = [&diff.from.scope, &diff.to.scope]
        .into_iter()
        .find(|s| !s.is_empty())
        .cloned()
        .unwrap_or_default();
    let title = format!(
        "backtrack report — {scope}: {} → {}",
        diff.from.describe(),
        diff.to.describe()
    );

    let mut html =
        String::with_capacity(json.len() + chart.len() + STYLE.len() + SCRIPT.len() + 8192);
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src {}; base-uri 'none'; form-action 'none'",
        csp_hash(SCRIPT)
    );
    let _ = write!(
        html,
        r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="generator" content="backtrack {version}">
<title>{title}</title>
<style>{STYLE}</style>
</head>
<body>
<a class="skip" href="#changes">Skip to the changes</a>
<header>
<h1>{scope_h}</h1>
<p class="sides"><span class="side">{from}</span> <span aria-hidden="true">→</span><span class="sr">to</span> <span class="side">{to}</span></p>
<p class="meta">Generated {generated} by backtrack {version}.</p>
</header>
<main>
"##,
        version = env!("CARGO_PKG_VERSION"),
        title = escape_html(&title),
        scope_h = escape_html(&scope),
        from = escape_html(&diff.from.describe()),
        to = escape_html(&diff.to.describe()),
        generated = report.generated_at.format("%Y-%m-%d %H:%M UTC"),
    );
    timeline_section(&mut html, report.timeline, &chart);
    let _ = write!(
        html,
        r##"<section id="summary" aria-labelledby="summary-h">
<h2 id="summary-h">Summary</h2>
<div id="counts" class="counts"></div>
</section>
<section id="plan" aria-labelledby="plan-h" hidden>
<h2 id="plan-h">Rollback plan (read-only)</h2>
<div id="plan-body"></div>
</section>
<section id="changes" aria-labelledby="changes-h" tabindex="-1">
<h2 id="changes-h">Changes</h2>
<form id="filters" class="filters" role="search" onsubmit="return false">
<label>Search <input id="q" type="search" placeholder="title, key, text… ( / )" autocomplete="off"></label>
<label>Kind <select id="f-kind"><option value="">all kinds</option></select></label>
<label>Label <select id="f-label"><option value="">any label</option></select></label>
<label>Author <select id="f-author"><option value="">anyone</option></select></label>
<label class="check"><input id="f-sbs" type="checkbox"> side by side</label>
<button id="expand-all" type="button">Expand shown</button>
<button id="collapse-all" type="button">Collapse all</button>
</form>
<p id="shown" class="shown" role="status" aria-live="polite"></p>
<p class="hint">Keys: <kbd>/</kbd> search, <kbd>j</kbd>/<kbd>k</kbd> next/previous issue, <kbd>Enter</kbd> expand or collapse, <kbd>o</kbd> open on the tracker.</p>
<div id="defs"></div>
<div id="list" class="list"></div>
<div id="more" class="more" aria-hidden="true"></div>
<noscript><p>This page needs JavaScript to list the changes; the same diff is available with <code>backtrack diff --format text</code>.</p></noscript>
</section>
</main>
<script type="application/json" id="data">{json}</script>
<script>{SCRIPT}</script>
</body>
</html>
"##
    );
    Ok(html)
}

fn timeline_section(html: &mut String, timeline: &Timeline, chart: &str) {
    let _ = write!(
        html,
        r#"<section id="timeline" aria-labelledby="timeline-h">
<h2 id="timeline-h">Timeline</h2>
"#
    );
    if timeline.points.is_empty() {
        html.push_str("<p>No completed snapshots in this window.</p></section>\n");
        return;
    }
    let _ = writeln!(
        html,
        "<figure class=\"chart\"><div class=\"svg\">{chart}</div><figcaption>Changes each snapshot brought (bars) and the records it held (line); the compared snapshots in purple. {} snapshot(s){}.</figcaption></figure>",
        timeline.points.len(),
        if timeline.omitted > 0 {
            format!(", {} older one(s) not shown", timeline.omitted)
        } else {
            String::new()
        }
    );
    html.push_str("<details class=\"snapshots\"><summary>Snapshots as a table</summary><div class=\"scroll\"><table><thead><tr><th scope=\"col\">When (UTC)</th><th scope=\"col\">Name</th><th scope=\"col\">Trigger</th><th scope=\"col\" class=\"num\">Items</th><th scope=\"col\" class=\"num\">Size</th><th scope=\"col\" class=\"num\">Changes</th><th scope=\"col\">Id</th></tr></thead><tbody>\n");
    for p in timeline.points.iter().rev() {
        let _ = writeln!(
            html,
            "<tr{}><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td><code>{}</code></td></tr>",
            if p.side.is_some() { " class=\"side-row\"" } else { "" },
            p.created_at.format("%Y-%m-%d %H:%M"),
            escape_html(p.name.as_deref().unwrap_or("")),
            escape_html(&p.trigger),
            p.items,
            crate::units::human_bytes(p.bytes),
            p.changes.map_or_else(|| "—".to_string(), |n| n.to_string()),
            escape_html(&p.id),
        );
    }
    html.push_str("</tbody></table></div></details>\n</section>\n");
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::diff::{IssueEntry, Op, Side};

    const HOSTILE: &str = "</script><script>alert(1)</script><img src=x onerror=alert(2)>\u{2028}";

    fn hostile_diff() -> Diff {
        let change = Change {
            kind: ChangeKind::Issue,
            key: "7".into(),
            field: Field::Title,
            op: Op::Changed,
            before: Value::String("fine".into()),
            after: Value::String(HOSTILE.into()),
            issue: Some(7),
            issue_key: None,
            issues: Vec::new(),
            issue_keys: Vec::new(),
            hunks: Vec::new(),
            pull_request: false,
            attribution: None,
        };
        Diff {
            schema_version: crate::diff::SCHEMA_VERSION,
            from: Side::snapshot("github:acme/widgets", "01ABC", Some(HOSTILE.into()), None),
            to: Side::live("github:acme/widgets"),
            summary: crate::diff::Summary {
                issues_changed: 1,
                total: 1,
                ..Default::default()
            },
            changes: vec![change],
            issues: vec![IssueEntry {
                number: 7,
                key: None,
                title: HOSTILE.into(),
                url: Some("javascript:alert(3)".into()),
                pull_request: false,
                op: Op::Changed,
            }],
        }
    }

    fn page(diff: &Diff) -> String {
        render_html(&Report {
            diff,
            facts: &Facts::default(),
            timeline: &Timeline::default(),
            plan: None,
            generated_at: Utc::now(),
        })
        .unwrap()
    }

    #[test]
    fn tracker_text_cannot_leave_the_data_element_or_become_markup() {
        let html = page(&hostile_diff());
        // The page's own two script elements, and no other: the data's `<` are escaped.
        assert_eq!(html.matches("<script").count(), 2);
        assert_eq!(html.matches("</script>").count(), 2);
        assert!(!html.contains("<img"));
        // The name in the header is HTML-escaped.
        assert!(html.contains("&lt;/script&gt;&lt;script&gt;alert(1)"));
        // The data still says exactly what the diff says.
        let start = html.find(r#"id="data">"#).unwrap() + r#"id="data">"#.len();
        let end = start + html[start..].find("</script>").unwrap();
        let data: Value = serde_json::from_str(&html[start..end]).unwrap();
        assert_eq!(data["diff"]["issues"][0]["title"], HOSTILE);
        assert_eq!(data["diff"]["changes"][0]["after"], HOSTILE);
    }

    #[test]
    fn the_policy_allows_the_pages_own_script_and_no_network() {
        let html = page(&hostile_diff());
        assert!(html.contains(&csp_hash(SCRIPT)));
        assert!(html.contains("default-src 'none'"));
        assert!(!html.contains("'unsafe-eval'"));
        let script_start = html.rfind("<script>").unwrap() + "<script>".len();
        let script_end = script_start + html[script_start..].find("</script>").unwrap();
        assert_eq!(&html[script_start..script_end], SCRIPT);
    }

    #[test]
    fn body_texts_with_hunks_travel_as_hunks_only() {
        let mut diff = hostile_diff();
        diff.changes[0].field = Field::Body;
        diff.changes[0].before = Value::String("a long old body".repeat(100));
        diff.changes[0].hunks = vec![crate::diff::Hunk {
            old_start: 1,
            old_lines: 1,
            new_start: 1,
            new_lines: 1,
            lines: vec!["-old".into(), "+new".into()],
        }];
        let html = page(&diff);
        assert!(!html.contains("a long old body"));
        assert!(html.contains(r#""hunks":[{"old_start":1"#));
    }

    #[test]
    fn escape_html_covers_attribute_quotes() {
        assert_eq!(
            escape_html(r#"<a href="x" title='y'>&"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;"
        );
    }
}
