//! A capture progress line on stderr, drawn only for people: when stderr is a terminal and
//! the output is not `--json`.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backtrack::tracker::{NoProgress, Progress};
use backtrack::RecordKind;
use indicatif::{ProgressBar, ProgressStyle};

/// Counts per record kind (indexed as [`RecordKind::ALL`], so a new kind cannot fall outside
/// it), shown as one spinner line.
#[derive(Debug)]
pub struct CaptureProgress {
    bar: ProgressBar,
    counts: [AtomicU64; RecordKind::ALL.len()],
}

impl CaptureProgress {
    /// A progress reporter fit for the current output: a spinner on a terminal, nothing
    /// otherwise.
    pub fn for_output(json: bool, quiet: bool, label: &str) -> Arc<dyn Progress> {
        if json || quiet || !std::io::stderr().is_terminal() {
            return Arc::new(NoProgress);
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix} {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(label.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        Arc::new(CaptureProgress {
            bar,
            counts: Default::default(),
        })
    }
}

impl Progress for CaptureProgress {
    fn update(&self, kind: RecordKind, fetched: u64, _total: Option<u64>) {
        if let Some(i) = RecordKind::ALL.iter().position(|k| *k == kind) {
            self.counts[i].store(fetched, Ordering::Relaxed);
        }
        self.bar.set_message(self.line());
    }
}

impl CaptureProgress {
    /// Issues and comments (of whichever tracker), then each definition kind met so far:
    /// `120 issues · 600 comments · 14 labels · 3 milestones`.
    fn line(&self) -> String {
        let count = |pick: fn(RecordKind) -> bool| -> u64 {
            RecordKind::ALL
                .iter()
                .zip(&self.counts)
                .filter(|(k, _)| pick(**k))
                .map(|(_, c)| c.load(Ordering::Relaxed))
                .sum()
        };
        let mut parts = vec![
            format!("{} issues", count(RecordKind::is_issue)),
            format!("{} comments", count(RecordKind::is_comment)),
        ];
        for (kind, c) in RecordKind::ALL.iter().zip(&self.counts) {
            let n = c.load(Ordering::Relaxed);
            if kind.is_definition() && n > 0 {
                parts.push(format!("{n} {}s", kind.as_str()));
            }
        }
        parts.join(" · ")
    }
}

impl Drop for CaptureProgress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_counter_and_the_line_names_what_was_met() {
        let p = CaptureProgress {
            bar: ProgressBar::hidden(),
            counts: Default::default(),
        };
        for (n, kind) in RecordKind::ALL.iter().enumerate() {
            p.update(*kind, n as u64 + 1, None);
        }
        assert_eq!(
            p.line(),
            "12 issues · 14 comments · 1 labels · 2 milestones · 3 components · 4 versions"
        );
    }
}
