//! Untrusted text on its way out. Tracker text (titles, label and milestone names, bodies,
//! error bodies) and user input reach a terminal, a Markdown comment or an error message only
//! through these functions, so one set of rules decides what a hostile string can do there.
//!
//! - [`visible`]: characters that would act instead of print are shown as visible stand-ins:
//!   C0 controls and DEL as their Unicode control pictures (`ESC` → `␛`, `BEL` → `␇`, NUL →
//!   `␀`, a line break inside a one-line field → `␊`), so `ESC [ 2 J` or an OSC 52 clipboard
//!   write prints instead of acting; C1 controls, bidirectional overrides and isolates
//!   (Trojan Source), and invisible characters (zero-width space, word joiner, BOM, tag
//!   characters, interlinear annotations…) as `<U+202E>`, the form `less` uses, so two names
//!   that look alike do not print alike. Tab is kept. Zero-width joiners and non-joiners are
//!   kept between two non-ASCII letters or symbols, where they shape emoji sequences and
//!   Persian or Indic script, and shown elsewhere (`ad<U+200D>min`).
//! - [`quote`]: user input quoted in an error message, shortened past
//!   [`QUOTE_MAX_CHARS`] with its full length said, so a 10,000-character argument does not
//!   flood the terminal.
//! - [`redact_url`] / [`redact_urls`]: credentials inside URLs (`https://user:pass@host`, and
//!   `access_token=`-style query values) become `***`.
//! - [`error_line`]: the last line of defence for a whole error message (all of the above).

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::units::thousands;

/// Characters of user input quoted whole in an error message; longer input is cut.
pub const QUOTE_MAX_CHARS: usize = 80;

/// A run without whitespace longer than this, in an error message, is shortened by
/// [`error_line`] (no legitimate path, URL or identifier is that long).
pub const ERROR_RUN_MAX_CHARS: usize = 200;

/// What replaces a secret.
pub const REDACTED: &str = "***";

/// How [`visible`] treats one character, given its neighbours and whether it continues a
/// flag emoji's tag sequence.
fn stand_in(prev: Option<char>, c: char, next: Option<char>, in_flag: bool) -> Option<StandIn> {
    match c {
        '\t' => None,
        '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + c as u32).map(StandIn::Picture),
        '\u{7f}' => Some(StandIn::Picture('␡')),
        '\u{80}'..='\u{9f}' => Some(StandIn::Code),
        // Bidirectional formatting: marks, embeddings, overrides, isolates.
        '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
            Some(StandIn::Code)
        }
        // Invisible or blank-looking characters with no role in running text.
        '\u{ad}'
        | '\u{34f}'
        | '\u{115f}'
        | '\u{1160}'
        | '\u{180e}'
        | '\u{200b}'
        | '\u{2028}'
        | '\u{2029}'
        | '\u{2060}'..='\u{2064}'
        | '\u{3164}'
        | '\u{feff}'
        | '\u{ffa0}'
        | '\u{fff9}'..='\u{fffb}' => Some(StandIn::Code),
        // Tag characters: invisible copies of ASCII. Only flag emoji (🏴 + tags) use them.
        '\u{e0000}'..='\u{e007f}' => (!in_flag).then_some(StandIn::Code),
        '\u{200c}' | '\u{200d}' => {
            let joins = |n: Option<char>| {
                n.is_some_and(|n| !n.is_ascii() && !n.is_whitespace() && !n.is_control())
            };
            (!(joins(prev) && joins(next))).then_some(StandIn::Code)
        }
        _ => None,
    }
}

enum StandIn {
    /// One visible character in its place.
    Picture(char),
    /// `<U+XXXX>`.
    Code,
}

/// `s` with every character that could act on a terminal or hide in plain sight replaced
/// by a visible stand-in (see the module docs). Borrows when nothing needs replacing.
pub fn visible(s: &str) -> Cow<'_, str> {
    let mut out: Option<String> = None;
    let mut prev = None;
    let mut in_flag = false;
    let mut chars = s.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        // Tag characters belong to a flag only right after 🏴 or after each other.
        in_flag = c == '\u{1f3f4}' || (in_flag && ('\u{e0000}'..='\u{e007f}').contains(&c));
        let flag_tag = in_flag && c != '\u{1f3f4}';
        match stand_in(prev, c, chars.peek().map(|&(_, n)| n), flag_tag) {
            None => {
                if let Some(o) = out.as_mut() {
                    o.push(c);
                }
            }
            Some(stand_in) => {
                let o = out.get_or_insert_with(|| {
                    let mut o = String::with_capacity(s.len() + 16);
                    o.push_str(&s[..at]);
                    o
                });
                match stand_in {
                    StandIn::Picture(p) => o.push(p),
                    StandIn::Code => {
                        let _ = write!(o, "<U+{:04X}>", c as u32);
                    }
                }
            }
        }
        prev = Some(c);
    }
    match out {
        Some(o) => Cow::Owned(o),
        None => Cow::Borrowed(s),
    }
}

/// Like [`visible`], for multi-line text: line breaks are kept (and only they).
pub fn visible_lines(s: &str) -> Cow<'_, str> {
    if matches!(visible(s), Cow::Borrowed(_)) {
        return Cow::Borrowed(s);
    }
    let lines: Vec<Cow<'_, str>> = s.split('\n').map(visible).collect();
    Cow::Owned(lines.join("\n"))
}

/// The first `max` characters of `s`, with `…` when something was cut.
pub fn shorten(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some((end, _)) => Cow::Owned(format!("{}…", &s[..end])),
    }
}

/// User input quoted for an error message: `"acme"`, or `"aaaa…" (10,000 characters)` when
/// longer than [`QUOTE_MAX_CHARS`]. Control characters are escaped as Rust escapes them.
pub fn quote(s: &str) -> String {
    let total = s.chars().count();
    let shown = visible(s);
    if total <= QUOTE_MAX_CHARS {
        return format!("{shown:?}");
    }
    let head: String = shown.chars().take(QUOTE_MAX_CHARS).collect();
    format!(
        "\"{}…\" ({} characters)",
        head.escape_debug(),
        thousands(total)
    )
}

/// Query parameters whose values are secrets wherever they appear in a URL.
fn secret_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "token",
        "secret",
        "password",
        "passwd",
        "signature",
        "credential",
        "api_key",
        "apikey",
    ]
    .iter()
    .any(|s| n.contains(s))
        || n == "key"
        || n == "sig"
}

/// A URL with its credentials replaced by `***`: the user information
/// (`https://user:pass@host/` → `https://***@host/`) and the values of query parameters
/// named like secrets (`?access_token=…`). Works on text that does not parse as a URL too.
pub fn redact_url(url: &str) -> Cow<'_, str> {
    let Some(scheme_end) = url.find("://") else {
        return Cow::Borrowed(url);
    };
    let after = scheme_end + 3;
    let rest = &url[after..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let mut out: Option<String> = None;
    if let Some(at) = rest[..authority_end].rfind('@') {
        out = Some(format!("{}{REDACTED}{}", &url[..after], &rest[at..]));
    }
    let current = out.as_deref().unwrap_or(url);
    if let Some(q) = current.find('?') {
        let (base, query) = current.split_at(q + 1);
        let (query, fragment) = match query.find('#') {
            Some(h) => query.split_at(h),
            None => (query, ""),
        };
        let mut changed = false;
        let parts: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) if secret_param(k) && !v.is_empty() => {
                    changed = true;
                    format!("{k}={REDACTED}")
                }
                _ => kv.to_string(),
            })
            .collect();
        if changed {
            out = Some(format!("{base}{}{fragment}", parts.join("&")));
        }
    }
    match out {
        Some(o) => Cow::Owned(o),
        None => Cow::Borrowed(url),
    }
}

/// Whether a URL carries user information (`user:pass@`).
pub fn has_credentials(url: &str) -> bool {
    url.split_once("://").is_some_and(|(_, rest)| {
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        rest[..end].contains('@')
    })
}

/// Every URL inside `text` redacted as [`redact_url`] does.
pub fn redact_urls(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        // URLs end at whitespace or at a closing quote or bracket around them.
        let start = word.find("://").map_or(0, |p| {
            word[..p]
                .char_indices()
                .rev()
                .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
                .map_or(0, |(q, c)| q + c.len_utf8())
        });
        let end = word[start..]
            .find(['"', '\'', ')', '>', ']', ','])
            .map_or(word.len(), |e| start + e);
        let red = redact_url(&word[start..end]);
        if let Cow::Owned(r) = &red {
            changed = true;
            out.push_str(&word[..start]);
            out.push_str(r);
            out.push_str(&word[end..]);
        } else {
            out.push_str(word);
        }
    }
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    }
}

/// Runs of non-whitespace longer than [`ERROR_RUN_MAX_CHARS`] shortened, with their length.
fn shorten_runs(text: &str) -> Cow<'_, str> {
    let long = |w: &str| w.chars().nth(ERROR_RUN_MAX_CHARS).is_some();
    if !text.split_whitespace().any(long) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(ERROR_RUN_MAX_CHARS * 2);
    let mut rest = text;
    while !rest.is_empty() {
        let ws = rest
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(rest.len());
        out.push_str(&rest[..ws]);
        rest = &rest[ws..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = &rest[..end];
        if long(word) {
            let _ = write!(
                out,
                "{} ({} characters)",
                shorten(word, QUOTE_MAX_CHARS),
                thousands(word.chars().count())
            );
        } else {
            out.push_str(word);
        }
        rest = &rest[end..];
    }
    Cow::Owned(out)
}

/// Double-quoted strings (as `{:?}` writes them) longer than [`QUOTE_MAX_CHARS`] shortened,
/// with their length: what [`quote`] does, for messages built without it.
fn shorten_quoted(text: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut done = 0; // bytes of `text` already in `out`
    let mut changed = false;
    let mut iter = text.char_indices();
    while let Some((open, c)) = iter.next() {
        if c != '"' {
            continue;
        }
        // Find the closing quote, skipping escapes.
        let mut close = None;
        let mut count = 0usize;
        while let Some((i, c)) = iter.next() {
            match c {
                '\\' => {
                    iter.next();
                    count += 1;
                }
                '"' => {
                    close = Some(i);
                    break;
                }
                _ => count += 1,
            }
        }
        let Some(close) = close else { break };
        if count > QUOTE_MAX_CHARS {
            let inner = &text[open + 1..close];
            let keep = inner
                .char_indices()
                .nth(QUOTE_MAX_CHARS)
                .map_or(inner.len(), |(i, _)| i);
            // Do not leave a dangling backslash escape at the cut.
            let head = inner[..keep].trim_end_matches('\\');
            out.push_str(&text[done..open]);
            let _ = write!(out, "\"{head}…\" ({} characters)", thousands(count));
            done = close + 1;
            changed = true;
        }
    }
    if !changed {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[done..]);
    Cow::Owned(out)
}

/// A whole error message made safe to print on one terminal line: URL credentials redacted,
/// overlong quoted inputs and runs shortened (with their length), and control,
/// bidirectional and invisible characters (line breaks included) made visible.
pub fn error_line(message: &str) -> String {
    let redacted = redact_urls(message);
    let quoted = shorten_quoted(&redacted);
    let short = shorten_runs(&quoted);
    visible(&short).into_owned()
}

/// Whether JSON output spells `c` as a `\uXXXX` escape: what serde_json already escapes (C0
/// controls), plus DEL, C1 controls, and the bidirectional and invisible characters
/// [`visible`] shows. The JSON means the same; a terminal showing it is not driven by it.
fn json_escaped(c: char) -> bool {
    matches!(c, '\u{7f}'..='\u{9f}')
        || stand_in(None, c, None, false).is_some()
        || matches!(c, '\u{200c}' | '\u{200d}')
}

/// serde_json's pretty printer with [`json_escaped`] characters written as escapes.
struct SafeJson(serde_json::ser::PrettyFormatter<'static>);

impl serde_json::ser::Formatter for SafeJson {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if json_escaped(c) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

/// Pretty JSON, like `serde_json::to_string_pretty`, with control, bidirectional and invisible
/// characters inside strings written as `\uXXXX` escapes (serde_json escapes only C0
/// controls): the same JSON to a parser, inert on a terminal.
pub fn json_pretty<T: serde::Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let mut out = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::with_formatter(
        &mut out,
        SafeJson(serde_json::ser::PrettyFormatter::new()),
    );
    value.serialize(&mut ser)?;
    // The formatter writes only valid UTF-8 (whole fragments and ASCII escapes).
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_become_pictures() {
        assert_eq!(visible("plain text\tok"), "plain text\tok");
        assert!(matches!(visible("plain"), Cow::Borrowed(_)));
        assert_eq!(visible("a\u{1b}[2Jb"), "a␛[2Jb");
        assert_eq!(visible("\u{0}\u{7}\u{8}\u{7f}"), "␀␇␈␡");
        assert_eq!(visible("one\ntwo\r"), "one␊two␍");
        assert_eq!(visible_lines("one\n\u{1b}two\n"), "one\n␛two\n");
        // OSC 52: ESC ] 52 ; c ; payload BEL
        assert_eq!(visible("\u{1b}]52;c;aGk=\u{7}"), "␛]52;c;aGk=␇");
        // C1 CSI acts like ESC [ on some terminals.
        assert_eq!(visible("\u{9b}2J"), "<U+009B>2J");
    }

    #[test]
    fn bidi_and_invisible_characters_are_shown() {
        assert_eq!(visible("abc\u{202e}fed"), "abc<U+202E>fed");
        assert_eq!(visible("\u{2066}x\u{2069}"), "<U+2066>x<U+2069>");
        assert_eq!(visible("ad\u{200b}min"), "ad<U+200B>min");
        assert_eq!(visible("ad\u{200d}min"), "ad<U+200D>min");
        assert_eq!(visible("\u{feff}bom"), "<U+FEFF>bom");
        assert_eq!(visible("x\u{e0041}\u{e0042}"), "x<U+E0041><U+E0042>");
    }

    #[test]
    fn joiners_inside_emoji_and_scripts_are_kept() {
        let family = "👨\u{200d}👩\u{200d}👧";
        assert_eq!(visible(family), family);
        let persian = "می\u{200c}خواهم";
        assert_eq!(visible(persian), persian);
        let scotland = "🏴\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f}";
        assert_eq!(visible(scotland), scotland);
        assert_eq!(visible("emoji\u{200d}"), "emoji<U+200D>");
    }

    #[test]
    fn json_escapes_what_would_act_and_means_the_same() {
        let v = serde_json::json!({"name": "a\u{1b}[2J\u{9b}\u{7f}\u{202e}x\u{200d}y😀\u{e0041}", "n": [1, 2]});
        let text = json_pretty(&v).unwrap();
        assert!(
            text.contains(r#""a\u001b[2J\u009b\u007f\u202ex\u200dy😀\udb40\udc41""#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), v);
        // Same layout as serde_json's pretty printer.
        let plain = serde_json::json!({"a": [1, {"b": "c"}], "d": {}});
        assert_eq!(
            json_pretty(&plain).unwrap(),
            serde_json::to_string_pretty(&plain).unwrap()
        );
    }

    #[test]
    fn quotes_are_short_and_say_the_length() {
        assert_eq!(quote("acme"), "\"acme\"");
        assert_eq!(quote("a\u{1b}b"), "\"a␛b\"");
        let long = "x".repeat(10_000);
        let q = quote(&long);
        assert!(q.ends_with("…\" (10,000 characters)"), "{q}");
        assert!(q.chars().count() < 120, "{q}");
        // Cut on a character boundary.
        let wide = "é".repeat(500);
        assert!(quote(&wide).contains("(500 characters)"));
    }

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            redact_url("https://user:pass@ghe.example/api/v3"),
            "https://***@ghe.example/api/v3"
        );
        assert_eq!(redact_url("https://tok@h"), "https://***@h");
        assert_eq!(
            redact_url("https://h/x?access_token=abc&page=2#f"),
            "https://h/x?access_token=***&page=2#f"
        );
        assert_eq!(redact_url("https://h/a@b"), "https://h/a@b");
        assert!(matches!(
            redact_url("https://api.github.com"),
            Cow::Borrowed(_)
        ));
        // Not a valid URL, still redacted.
        assert_eq!(redact_url("http://u:p w@[bad"), "http://***@[bad");
        assert!(has_credentials("http://u:p@h"));
        assert!(!has_credentials("http://h/x@y"));
        assert_eq!(
            redact_urls("cannot reach GitHub at \"http://u:p@127.0.0.1:9/api\" (refused)"),
            "cannot reach GitHub at \"http://***@127.0.0.1:9/api\" (refused)"
        );
    }

    #[test]
    fn error_lines_are_one_short_safe_line() {
        let long = "y".repeat(10_000);
        let line = error_line(&format!("bad --name {long} see\nhttps://a:b@h/x \u{1b}[2J"));
        assert!(line.contains("(10,000 characters)"), "{line}");
        assert!(line.chars().count() < 200, "{line}");
        assert!(!line.contains('\n') && !line.contains('\u{1b}'), "{line}");
        assert!(line.contains("https://***@h/x"), "{line}");
        // A quoted input with spaces, as `{:?}` writes it.
        let name = "a b ".repeat(2_500);
        let line = error_line(&format!(
            "--name {name:?} must be 1–100 printable characters"
        ));
        assert!(line.contains("…\" (10,000 characters) must be"), "{line}");
        assert!(line.chars().count() < 200, "{line}");
        let line = error_line(r#"unknown "x\"y" and an unclosed " quote"#);
        assert_eq!(line, r#"unknown "x\"y" and an unclosed " quote"#);
    }
}
