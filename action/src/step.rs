//! `--github-output`: results written straight into a GitHub Actions step, as step outputs
//! (`$GITHUB_OUTPUT`) and Markdown for the job summary (`$GITHUB_STEP_SUMMARY`), so the
//! Action's scripts pass inputs through and never parse what the CLI prints for people.
//!
//! Outputs use the file's heredoc form with a random delimiter, so a value may hold any text
//! (newlines, `=`) without ending early or setting a second output.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};

/// The summary's code blocks are cut here: GitHub refuses a step summary over 1 MiB.
const CODE_BLOCK_CAP: usize = 400_000;

/// Where a step's outputs and summary go.
#[derive(Debug, Clone)]
pub struct StepOutputs {
    output: PathBuf,
    summary: Option<PathBuf>,
}

impl StepOutputs {
    /// From the runner's environment. `GITHUB_OUTPUT` must be set (the flag makes no sense
    /// elsewhere); a missing `GITHUB_STEP_SUMMARY` only skips the summary.
    pub fn from_env() -> Result<StepOutputs> {
        let output = match std::env::var_os("GITHUB_OUTPUT") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => bail!(
                "--github-output needs GITHUB_OUTPUT, the step output file GitHub Actions sets; run it in a workflow step or leave the flag out"
            ),
        };
        let summary = std::env::var_os("GITHUB_STEP_SUMMARY")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from);
        Ok(StepOutputs { output, summary })
    }

    /// Sets step output `name` to `value`.
    pub fn set(&self, name: &str, value: &str) -> Result<()> {
        // Any delimiter the value does not contain will do; the runner only needs it unique
        // within this one value.
        let delimiter = (0u64..)
            .map(|n| format!("BACKTRACK_EOF_{n}"))
            .find(|d| !value.contains(d.as_str()))
            .unwrap_or_default();
        append(
            &self.output,
            &format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"),
        )
        .context("cannot write the step outputs ($GITHUB_OUTPUT)")
    }

    /// Appends Markdown to the job summary (nothing when the runner gives no summary file).
    pub fn summary(&self, markdown: &str) -> Result<()> {
        let Some(path) = &self.summary else {
            return Ok(());
        };
        let mut text = markdown.to_string();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        append(path, &text).context("cannot write the job summary ($GITHUB_STEP_SUMMARY)")
    }
}

fn append(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(text.as_bytes())
}

/// `text` as inline code, whatever backticks it holds (CommonMark: a longer fence).
pub fn code(text: &str) -> String {
    let longest = text
        .split(|c| c != '`')
        .map(str::len)
        .max()
        .unwrap_or_default();
    let fence = "`".repeat(longest + 1);
    if longest > 0 {
        format!("{fence} {text} {fence}")
    } else {
        format!("{fence}{text}{fence}")
    }
}

/// `text` as a fenced text block, cut at a line boundary under the summary's size limit.
pub fn code_block(text: &str) -> String {
    let mut body = text;
    let mut note = String::new();
    if text.len() > CODE_BLOCK_CAP {
        let mut end = CODE_BLOCK_CAP;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        body = &text[..text[..end].rfind('\n').unwrap_or(end)];
        note = format!(
            "\n_Cut at {} of {} bytes; the step's log has all of it._\n",
            backtrack::units::thousands(body.len()),
            backtrack::units::thousands(text.len())
        );
    }
    let longest = body
        .lines()
        .map(|l| l.len() - l.trim_start_matches('`').len())
        .max()
        .unwrap_or_default();
    let fence = "`".repeat(longest.max(2) + 1);
    format!(
        "{fence}text\n{}\n{fence}\n{note}",
        body.trim_end_matches('\n')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs(dir: &std::path::Path) -> StepOutputs {
        StepOutputs {
            output: dir.join("output"),
            summary: Some(dir.join("summary")),
        }
    }

    /// Parses the output file as the runner does: `name=value` lines and heredocs.
    fn parse(text: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            if let Some((name, delimiter)) = line.split_once("<<") {
                let mut value = Vec::new();
                for l in lines.by_ref() {
                    if l == delimiter {
                        break;
                    }
                    value.push(l);
                }
                out.push((name.to_string(), value.join("\n")));
            } else if let Some((name, value)) = line.split_once('=') {
                out.push((name.to_string(), value.to_string()));
            }
        }
        out
    }

    #[test]
    fn values_with_newlines_and_equals_stay_one_output() {
        let dir = tempfile::tempdir().unwrap();
        let step = outputs(dir.path());
        step.set("snapshot-id", "01J0000000000000000000000A")
            .unwrap();
        step.set("note", "a=b\nchanges=true\nEOF").unwrap();
        let text = std::fs::read_to_string(dir.path().join("output")).unwrap();
        assert_eq!(
            parse(&text),
            vec![
                ("snapshot-id".into(), "01J0000000000000000000000A".into()),
                ("note".into(), "a=b\nchanges=true\nEOF".into()),
            ]
        );
    }

    #[test]
    fn summary_appends_and_code_survives_backticks() {
        let dir = tempfile::tempdir().unwrap();
        let step = outputs(dir.path());
        step.summary("one").unwrap();
        step.summary(&code_block("```\nx")).unwrap();
        let text = std::fs::read_to_string(dir.path().join("summary")).unwrap();
        assert_eq!(text, "one\n````text\n```\nx\n````\n");
        assert_eq!(code("pr-1"), "`pr-1`");
        assert_eq!(code("a`b"), "`` a`b ``");
    }

    #[test]
    fn long_blocks_are_cut_at_a_line_and_say_so() {
        let text = "line of text\n".repeat(50_000);
        let block = code_block(&text);
        assert!(block.len() < CODE_BLOCK_CAP + 200, "{}", block.len());
        assert!(
            block.contains("_Cut at 399,996 of 650,000 bytes"),
            "{}",
            &block[block.len() - 200..]
        );
        assert!(
            block.lines().rev().nth(2).is_some_and(|l| l == "```"),
            "the fence is closed"
        );
    }
}
