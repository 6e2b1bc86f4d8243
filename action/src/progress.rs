//! A capture progress line on stderr, drawn only for people: when stderr is a terminal and
//! the output is not `--json`.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backtrack::tracker::{NoProgress, Progress};
use backtrack::RecordKind;
use indicatif::{ProgressBar, ProgressStyle};

/// Counts per record kind, shown as one spinner line.
#[derive(Debug)]
pub struct CaptureProgress {
    bar: ProgressBar,
    counts: [AtomicU64; 4],
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
        let i = RecordKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        self.counts[i].store(fetched, Ordering::Relaxed);
        let c: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        self.bar.set_message(format!(
            "{} issues · {} comments · {} labels · {} milestones",
            c[2], c[3], c[0], c[1]
        ));
    }
}

impl Drop for CaptureProgress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
