//! A readable rendering of Atlassian Document Format, for line diffs.
//!
//! The rendering is Markdown-like plain text: one line per paragraph, heading, list item,
//! table row or code line, blocks separated by a blank line, inline marks written the way
//! Markdown writes them (`**bold**`, `*em*`, `` `code` ``, `~~strike~~`, `[text](url)`), so
//! that a formatting change shows in a diff as a changed line. Mentions render as their
//! display text, emoji as their text or short name. Nodes backtrack does not know are
//! rendered through their content (or their `text` attribute), never dropped, so an unknown
//! node cannot hide a change.
//!
//! This is for people only: the stored record keeps the ADF tree itself.

use serde_json::Value;

/// Renders an ADF document (or any ADF node) as text. Never fails: a node that is not ADF
/// renders as its JSON.
pub fn to_text(doc: &Value) -> String {
    let mut out = Vec::new();
    match doc {
        Value::Null => {}
        Value::String(s) => out.push(s.clone()),
        Value::Object(_) => {
            if node_type(doc) == "doc" {
                blocks(children(doc), "", &mut out);
            } else {
                blocks(std::slice::from_ref(doc), "", &mut out);
            }
        }
        other => out.push(other.to_string()),
    }
    // Trailing blank lines carry nothing.
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    out.join("\n")
}

fn node_type(node: &Value) -> &str {
    node.get("type").and_then(Value::as_str).unwrap_or("")
}

fn children(node: &Value) -> &[Value] {
    node.get("content")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn attr<'a>(node: &'a Value, name: &str) -> Option<&'a Value> {
    node.get("attrs").and_then(|a| a.get(name))
}

fn attr_str<'a>(node: &'a Value, name: &str) -> Option<&'a str> {
    attr(node, name).and_then(Value::as_str)
}

/// Renders block nodes, each line prefixed by `indent`, blocks separated by a blank line.
fn blocks(nodes: &[Value], indent: &str, out: &mut Vec<String>) {
    let mut first = true;
    for node in nodes {
        if !first && !matches!(out.last(), Some(l) if l.is_empty()) {
            out.push(String::new());
        }
        first = false;
        block(node, indent, out);
    }
}

fn block(node: &Value, indent: &str, out: &mut Vec<String>) {
    match node_type(node) {
        "paragraph" => lines_of(&inline(children(node)), indent, out),
        "heading" => {
            let level = attr(node, "level").and_then(Value::as_u64).unwrap_or(1);
            let hashes = "#".repeat(level.clamp(1, 6) as usize);
            let text = inline(children(node));
            lines_of(&format!("{hashes} {text}"), indent, out);
        }
        "bulletList" => list(node, indent, |_| "- ".to_string(), out),
        "orderedList" => {
            let start = attr(node, "order").and_then(Value::as_u64).unwrap_or(1);
            list(node, indent, |i| format!("{}. ", start + i as u64), out);
        }
        "taskList" => {
            for item in children(node) {
                let mark = if attr_str(item, "state") == Some("DONE") {
                    "[x] "
                } else {
                    "[ ] "
                };
                let text = inline(children(item));
                lines_of(&format!("{mark}{text}"), indent, out);
            }
        }
        "decisionList" => {
            for item in children(node) {
                let text = inline(children(item));
                lines_of(&format!("◆ {text}"), indent, out);
            }
        }
        "codeBlock" => {
            let language = attr_str(node, "language").unwrap_or("");
            out.push(format!("{indent}```{language}"));
            let code: String = children(node)
                .iter()
                .map(|t| t.get("text").and_then(Value::as_str).unwrap_or(""))
                .collect();
            for line in code.split('\n') {
                out.push(format!("{indent}{line}"));
            }
            out.push(format!("{indent}```"));
        }
        "blockquote" => blocks(children(node), &format!("{indent}> "), out),
        "panel" => {
            let kind = attr_str(node, "panelType").unwrap_or("info");
            out.push(format!("{indent}[{kind}]"));
            blocks(children(node), &format!("{indent}| "), out);
        }
        "expand" | "nestedExpand" => {
            let title = attr_str(node, "title").unwrap_or("");
            out.push(format!("{indent}▸ {title}"));
            blocks(children(node), &format!("{indent}  "), out);
        }
        "rule" => out.push(format!("{indent}---")),
        "table" => {
            for row in children(node) {
                let cells: Vec<String> = children(row)
                    .iter()
                    .map(|cell| {
                        let mut inner = Vec::new();
                        blocks(children(cell), "", &mut inner);
                        inner.retain(|l| !l.is_empty());
                        inner.join(" / ")
                    })
                    .collect();
                out.push(format!("{indent}| {} |", cells.join(" | ")));
            }
        }
        "mediaSingle" | "mediaGroup" => {
            for media in children(node) {
                out.push(format!("{indent}{}", media_text(media)));
            }
        }
        "media" => out.push(format!("{indent}{}", media_text(node))),
        "blockCard" | "embedCard" => out.push(format!(
            "{indent}{}",
            attr_str(node, "url").unwrap_or("[card]")
        )),
        // Inline content where a block was expected: render it as a paragraph.
        "text" | "mention" | "emoji" | "hardBreak" | "inlineCard" | "status" | "date" => {
            lines_of(&inline(std::slice::from_ref(node)), indent, out)
        }
        _ => {
            if let Some(text) = node.get("text").and_then(Value::as_str) {
                lines_of(text, indent, out);
            } else if !children(node).is_empty() {
                blocks(children(node), indent, out);
            } else if let Some(text) = attr_str(node, "text") {
                lines_of(text, indent, out);
            }
        }
    }
}

fn list(node: &Value, indent: &str, marker: impl Fn(usize) -> String, out: &mut Vec<String>) {
    for (i, item) in children(node).iter().enumerate() {
        let mark = marker(i);
        let mut inner = Vec::new();
        // A list item holds paragraphs and nested lists; nested ones are indented under it.
        for child in children(item) {
            match node_type(child) {
                "bulletList" | "orderedList" | "taskList" => block(child, "  ", &mut inner),
                _ => block(child, "", &mut inner),
            }
        }
        inner.retain(|l| !l.is_empty());
        let pad = " ".repeat(mark.chars().count());
        for (j, line) in inner.iter().enumerate() {
            if j == 0 {
                out.push(format!("{indent}{mark}{line}"));
            } else if line.starts_with("  ") {
                out.push(format!("{indent}{line}"));
            } else {
                out.push(format!("{indent}{pad}{line}"));
            }
        }
        if inner.is_empty() {
            out.push(format!("{indent}{}", mark.trim_end()));
        }
    }
}

fn media_text(media: &Value) -> String {
    match attr_str(media, "alt").or_else(|| attr_str(media, "id")) {
        Some(name) => format!("[attachment: {name}]"),
        None => "[attachment]".to_string(),
    }
}

/// Pushes `text`'s lines (hard breaks make several), each with `indent`.
fn lines_of(text: &str, indent: &str, out: &mut Vec<String>) {
    for line in text.split('\n') {
        out.push(format!("{indent}{line}"));
    }
}

/// Inline nodes as one string (`\n` for hard breaks).
fn inline(nodes: &[Value]) -> String {
    let mut s = String::new();
    for node in nodes {
        match node_type(node) {
            "text" => s.push_str(&marked(node)),
            "hardBreak" => s.push('\n'),
            "mention" => match attr_str(node, "text") {
                Some(t) if t.starts_with('@') => s.push_str(t),
                Some(t) => {
                    s.push('@');
                    s.push_str(t);
                }
                None => {
                    s.push('@');
                    s.push_str(attr_str(node, "id").unwrap_or("unknown"));
                }
            },
            "emoji" => s.push_str(
                attr_str(node, "text")
                    .or_else(|| attr_str(node, "shortName"))
                    .unwrap_or(""),
            ),
            "inlineCard" => s.push_str(attr_str(node, "url").unwrap_or("[card]")),
            "status" => {
                s.push('[');
                s.push_str(attr_str(node, "text").unwrap_or(""));
                s.push(']');
            }
            "date" => {
                let ms = attr(node, "timestamp").and_then(|t| match t {
                    Value::String(s) => s.parse::<i64>().ok(),
                    other => other.as_i64(),
                });
                match ms.and_then(chrono::DateTime::from_timestamp_millis) {
                    Some(d) => s.push_str(&d.date_naive().to_string()),
                    None => s.push_str("[date]"),
                }
            }
            _ => {
                if let Some(t) = node.get("text").and_then(Value::as_str) {
                    s.push_str(t);
                } else {
                    s.push_str(&inline(children(node)));
                }
            }
        }
    }
    s
}

/// A text node with its marks, Markdown style.
fn marked(node: &Value) -> String {
    let mut text = node
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let marks = node
        .get("marks")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for mark in marks {
        text = match node_type(mark) {
            "strong" => format!("**{text}**"),
            "em" => format!("*{text}*"),
            "code" => format!("`{text}`"),
            "strike" => format!("~~{text}~~"),
            "underline" => format!("_{text}_"),
            "link" => match attr_str(mark, "href") {
                Some(href) if href != text => format!("[{text}]({href})"),
                _ => text,
            },
            _ => text,
        };
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn text(t: &str) -> Value {
        json!({"type": "text", "text": t})
    }

    fn para(content: Vec<Value>) -> Value {
        json!({"type": "paragraph", "content": content})
    }

    #[test]
    fn renders_a_realistic_document() {
        let doc = json!({
            "type": "doc", "version": 1,
            "content": [
                {"type": "heading", "attrs": {"level": 2}, "content": [text("Steps")]},
                {"type": "orderedList", "attrs": {"order": 1}, "content": [
                    {"type": "listItem", "content": [para(vec![text("Open the app")])]},
                    {"type": "listItem", "content": [
                        para(vec![text("Log in as "), json!({"type": "mention", "attrs": {"id": "5b10", "text": "@Alice"}})]),
                        {"type": "bulletList", "content": [
                            {"type": "listItem", "content": [para(vec![text("twice")])]}
                        ]}
                    ]}
                ]},
                para(vec![
                    json!({"type": "text", "text": "crash", "marks": [{"type": "strong"}]}),
                    text(" "),
                    json!({"type": "emoji", "attrs": {"shortName": ":fire:", "text": "🔥"}}),
                    json!({"type": "hardBreak"}),
                    json!({"type": "text", "text": "docs", "marks": [{"type": "link", "attrs": {"href": "https://x.test/d"}}]}),
                ]),
                {"type": "codeBlock", "attrs": {"language": "rust"}, "content": [text("fn main() {\n}")]},
                {"type": "futureNode", "content": [para(vec![text("kept")])]},
            ]
        });
        assert_eq!(
            to_text(&doc),
            "## Steps\n\n1. Open the app\n2. Log in as @Alice\n  - twice\n\n**crash** 🔥\n\
             [docs](https://x.test/d)\n\n```rust\nfn main() {\n}\n```\n\nkept"
        );
    }

    #[test]
    fn formatting_changes_show_and_empty_documents_are_blank() {
        let plain = json!({"type": "doc", "version": 1, "content": [para(vec![text("a")])]});
        let bold = json!({"type": "doc", "version": 1, "content": [para(vec![
            json!({"type": "text", "text": "a", "marks": [{"type": "strong"}]})
        ])]});
        assert_ne!(to_text(&plain), to_text(&bold));
        assert_eq!(
            to_text(&json!({"type": "doc", "version": 1, "content": []})),
            ""
        );
        assert_eq!(to_text(&Value::Null), "");
    }
}
