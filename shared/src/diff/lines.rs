//! Line diffs with context, as [`Hunk`]s, on top of `similar`.
//!
//! Diffs are computed once, when the [`Diff`](super::Diff) is built, so every renderer shows the
//! same hunks and JSON consumers get them too.

use similar::{ChangeTag, TextDiff};

use super::Hunk;

/// The changed regions between `old` and `new`, each with up to `context` unchanged lines
/// around it. Empty when the texts have the same lines.
pub(crate) fn hunks(old: &str, new: &str, context: usize) -> Vec<Hunk> {
    // Myers without a deadline: a deadline would make the output depend on machine speed, and
    // tracker bodies are bounded (GitHub: 65,536 characters), which Myers handles quickly.
    let diff = TextDiff::from_lines(old, new);
    let mut out = Vec::new();
    for group in diff.grouped_ops(context) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let mut lines = Vec::new();
        let mut any_change = false;
        for op in &group {
            for change in diff.iter_changes(op) {
                let sign = match change.tag() {
                    ChangeTag::Equal => ' ',
                    ChangeTag::Delete => '-',
                    ChangeTag::Insert => '+',
                };
                any_change |= sign != ' ';
                let text = change.value().trim_end_matches(['\n', '\r']);
                let mut line = String::with_capacity(text.len() + 1);
                line.push(sign);
                line.push_str(text);
                lines.push(line);
            }
        }
        if !any_change {
            continue;
        }
        let old_range = first.old_range().start..last.old_range().end;
        let new_range = first.new_range().start..last.new_range().end;
        out.push(Hunk {
            old_start: start_of(&old_range),
            old_lines: old_range.len(),
            new_start: start_of(&new_range),
            new_lines: new_range.len(),
            lines,
        });
    }
    out
}

/// Unified-diff numbering: 1-based, except an empty range names the line before it.
fn start_of(range: &std::ops::Range<usize>) -> usize {
    if range.is_empty() {
        range.start
    } else {
        range.start + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_changed_line_with_context() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let new = "a\nb\nc\nd\nE\nf\ng\nh\n";
        let h = hunks(old, new, 2);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].header(), "@@ -3,5 +3,5 @@");
        assert_eq!(h[0].lines, vec![" c", " d", "-e", "+E", " f", " g"]);
    }

    #[test]
    fn distant_changes_make_separate_hunks_and_crlf_is_trimmed() {
        let old: String = (0..30).map(|i| format!("line {i}\r\n")).collect();
        let new = old
            .replace("line 2\r\n", "line two\r\n")
            .replace("line 25\r\n", "");
        let h = hunks(&old, &new, 3);
        assert_eq!(h.len(), 2);
        assert!(h[0].lines.contains(&"+line two".to_string()));
        assert_eq!(h[1].new_lines + 1, h[1].old_lines);
    }

    #[test]
    fn from_empty_and_to_empty() {
        let h = hunks("", "x\ny", 3);
        assert_eq!(h[0].header(), "@@ -0,0 +1,2 @@");
        let h = hunks("x\n", "", 3);
        assert_eq!(h[0].header(), "@@ -1,1 +0,0 @@");
        assert!(hunks("same\n", "same\n", 3).is_empty());
    }
}
