//! Whether output may carry colour: one rule for every place the CLI styles text (the diff,
//! the demo, log lines). Colour only on a terminal, never when `NO_COLOR` is set to anything
//! but the empty string (<https://no-color.org>), never on a `dumb` terminal; pipes, files
//! and CI logs get plain text.

use std::io::IsTerminal;

/// Whether text written to stdout may be coloured.
pub fn stdout_color() -> bool {
    allowed(std::io::stdout().is_terminal())
}

/// Whether text written to stderr may be coloured.
pub fn stderr_color() -> bool {
    allowed(std::io::stderr().is_terminal())
}

fn allowed(terminal: bool) -> bool {
    terminal && !set_non_empty("NO_COLOR") && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

fn set_non_empty(var: &str) -> bool {
    std::env::var_os(var).is_some_and(|v| !v.is_empty())
}

/// SGR styling that is a no-op when colour is off.
#[derive(Debug, Clone, Copy)]
pub struct Paint {
    pub on: bool,
}

impl Paint {
    /// Styling for stdout under the rule above.
    pub fn stdout() -> Paint {
        Paint { on: stdout_color() }
    }

    fn sgr(self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    pub fn bold(self, text: &str) -> String {
        self.sgr("1", text)
    }

    pub fn dim(self, text: &str) -> String {
        self.sgr("2", text)
    }

    pub fn green(self, text: &str) -> String {
        self.sgr("32", text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_escapes_when_off() {
        let off = Paint { on: false };
        assert_eq!(off.bold("a") + &off.dim("b") + &off.green("c"), "abc");
        assert_eq!(Paint { on: true }.bold("a"), "\x1b[1ma\x1b[0m");
    }

    #[test]
    fn never_colour_off_a_terminal() {
        assert!(!allowed(false));
    }
}
