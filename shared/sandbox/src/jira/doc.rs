//! Rich text as Jira keeps it: Atlassian Document Format (ADF, Cloud's REST v3) and wiki
//! markup (Data Center, and Cloud's REST v2, which renders ADF down to wiki markup on the way
//! out and parses wiki markup into ADF on the way in).
//!
//! The seed writes [`Block`]s and renders them in the flavour's own form, so both flavours
//! carry the same backlog. A stored [`Doc`] is always in the flavour's canonical form (ADF on
//! Cloud, wiki markup on DC); the conversions here serve the other REST version, lossy where
//! Jira's own conversion is (nodes wiki markup has no syntax for become their text).

use serde_json::{json, Map, Value};

/// A stored description or comment body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Doc {
    /// An ADF document (`{"type":"doc","version":1,"content":[…]}`).
    Adf(Value),
    /// A wiki-markup string.
    Wiki(String),
}

impl Doc {
    /// As REST v3 shows it: ADF.
    pub(crate) fn to_adf(&self) -> Value {
        match self {
            Doc::Adf(v) => v.clone(),
            Doc::Wiki(s) => wiki_to_adf(s),
        }
    }

    /// As REST v2 shows it: a wiki-markup string.
    pub(crate) fn to_wiki(&self) -> String {
        match self {
            Doc::Adf(v) => adf_to_wiki(v),
            Doc::Wiki(s) => s.clone(),
        }
    }

    /// Plain text, for `~` searches and rendered fields.
    pub(crate) fn plain(&self) -> String {
        match self {
            Doc::Adf(v) => {
                let mut out = String::new();
                adf_text(v, &mut out);
                out
            }
            Doc::Wiki(s) => s.clone(),
        }
    }
}

/// A person mentioned in text: how each form names them.
#[derive(Debug, Clone)]
pub(crate) struct Mention {
    /// Cloud account id, or the DC user name.
    pub id: String,
    pub display: String,
}

/// Inline content, shared by both renderings.
#[derive(Debug, Clone)]
pub(crate) enum Inline {
    Text(String),
    Strong(String),
    Em(String),
    Code(String),
    Link {
        text: String,
        href: String,
    },
    Mention(Mention),
    /// `(short name, unicode, wiki emoticon)`.
    Emoji(&'static str, &'static str, &'static str),
}

/// Block content, shared by both renderings.
#[derive(Debug, Clone)]
pub(crate) enum Block {
    Heading(u8, Vec<Inline>),
    Para(Vec<Inline>),
    Bullets(Vec<Vec<Inline>>),
    Ordered(Vec<Vec<Inline>>),
    Code(&'static str, String),
    Quote(Vec<Inline>),
    Rule,
}

/// Renders blocks in the flavour's form: ADF when `adf`, else wiki markup (mentions as
/// `[~accountid:…]` when `cloud`, `[~name]` on DC).
pub(crate) fn render(blocks: &[Block], adf: bool, cloud: bool) -> Doc {
    if adf {
        Doc::Adf(json!({
            "type": "doc",
            "version": 1,
            "content": blocks.iter().map(block_adf).collect::<Vec<_>>(),
        }))
    } else {
        let parts: Vec<String> = blocks.iter().map(|b| block_wiki(b, cloud)).collect();
        Doc::Wiki(parts.join("\n\n"))
    }
}

fn text_node(text: &str, marks: Vec<Value>) -> Value {
    if marks.is_empty() {
        json!({"type": "text", "text": text})
    } else {
        json!({"type": "text", "text": text, "marks": marks})
    }
}

fn inline_adf(i: &Inline) -> Value {
    match i {
        Inline::Text(t) => text_node(t, vec![]),
        Inline::Strong(t) => text_node(t, vec![json!({"type": "strong"})]),
        Inline::Em(t) => text_node(t, vec![json!({"type": "em"})]),
        Inline::Code(t) => text_node(t, vec![json!({"type": "code"})]),
        Inline::Link { text, href } => {
            text_node(text, vec![json!({"type": "link", "attrs": {"href": href}})])
        }
        Inline::Mention(m) => json!({
            "type": "mention",
            "attrs": {"id": m.id, "text": format!("@{}", m.display), "accessLevel": ""}
        }),
        Inline::Emoji(short, text, _) => json!({
            "type": "emoji",
            "attrs": {"shortName": short, "text": text}
        }),
    }
}

fn para_adf(inl: &[Inline]) -> Value {
    json!({"type": "paragraph", "content": inl.iter().map(inline_adf).collect::<Vec<_>>()})
}

fn list_adf(kind: &str, items: &[Vec<Inline>]) -> Value {
    let items: Vec<Value> = items
        .iter()
        .map(|it| json!({"type": "listItem", "content": [para_adf(it)]}))
        .collect();
    if kind == "orderedList" {
        json!({"type": kind, "attrs": {"order": 1}, "content": items})
    } else {
        json!({"type": kind, "content": items})
    }
}

fn block_adf(b: &Block) -> Value {
    match b {
        Block::Heading(level, inl) => json!({
            "type": "heading",
            "attrs": {"level": level},
            "content": inl.iter().map(inline_adf).collect::<Vec<_>>(),
        }),
        Block::Para(inl) => para_adf(inl),
        Block::Bullets(items) => list_adf("bulletList", items),
        Block::Ordered(items) => list_adf("orderedList", items),
        Block::Code(lang, code) => json!({
            "type": "codeBlock",
            "attrs": {"language": lang},
            "content": [{"type": "text", "text": code}],
        }),
        Block::Quote(inl) => json!({"type": "blockquote", "content": [para_adf(inl)]}),
        Block::Rule => json!({"type": "rule"}),
    }
}

fn inline_wiki(i: &Inline, cloud: bool) -> String {
    match i {
        Inline::Text(t) => t.clone(),
        Inline::Strong(t) => format!("*{t}*"),
        Inline::Em(t) => format!("_{t}_"),
        Inline::Code(t) => format!("{{{{{t}}}}}"),
        Inline::Link { text, href } => format!("[{text}|{href}]"),
        Inline::Mention(m) if cloud => format!("[~accountid:{}]", m.id),
        Inline::Mention(m) => format!("[~{}]", m.id),
        Inline::Emoji(_, _, wiki) => (*wiki).to_owned(),
    }
}

fn line_wiki(inl: &[Inline], cloud: bool) -> String {
    inl.iter().map(|i| inline_wiki(i, cloud)).collect()
}

fn block_wiki(b: &Block, cloud: bool) -> String {
    match b {
        Block::Heading(level, inl) => format!("h{level}. {}", line_wiki(inl, cloud)),
        Block::Para(inl) => line_wiki(inl, cloud),
        Block::Bullets(items) => items
            .iter()
            .map(|it| format!("* {}", line_wiki(it, cloud)))
            .collect::<Vec<_>>()
            .join("\n"),
        Block::Ordered(items) => items
            .iter()
            .map(|it| format!("# {}", line_wiki(it, cloud)))
            .collect::<Vec<_>>()
            .join("\n"),
        Block::Code(lang, code) => format!("{{code:{lang}}}\n{code}\n{{code}}"),
        Block::Quote(inl) => format!("bq. {}", line_wiki(inl, cloud)),
        Block::Rule => "----".to_owned(),
    }
}

/// Whether `v` is an ADF document Jira would take: an object of type `doc`, version 1, with
/// a `content` array of objects that each have a `type`.
pub(crate) fn is_adf_doc(v: &Value) -> bool {
    let Some(o) = v.as_object() else {
        return false;
    };
    o.get("type").and_then(Value::as_str) == Some("doc")
        && o.get("version").and_then(Value::as_u64) == Some(1)
        && o.get("content").and_then(Value::as_array).is_some_and(|c| {
            c.iter()
                .all(|n| n.get("type").and_then(Value::as_str).is_some())
        })
}

fn children(v: &Value) -> &[Value] {
    v.get("content")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn attr<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.get("attrs").and_then(|a| a.get(name))
}

/// ADF → wiki markup, as Cloud's REST v2 shows an ADF field.
pub(crate) fn adf_to_wiki(doc: &Value) -> String {
    let blocks: Vec<String> = children(doc)
        .iter()
        .map(|b| adf_block_wiki(b, ""))
        .collect();
    blocks.join("\n\n")
}

fn adf_block_wiki(b: &Value, list_prefix: &str) -> String {
    let kind = b.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "paragraph" => adf_inline_wiki(children(b)),
        "heading" => {
            let level = attr(b, "level").and_then(Value::as_u64).unwrap_or(1);
            format!("h{level}. {}", adf_inline_wiki(children(b)))
        }
        "bulletList" | "orderedList" => {
            let mark = if kind == "bulletList" { "*" } else { "#" };
            let prefix = format!("{list_prefix}{mark}");
            children(b)
                .iter()
                .map(|item| {
                    let mut lines = Vec::new();
                    for part in children(item) {
                        let pk = part.get("type").and_then(Value::as_str).unwrap_or("");
                        if pk == "bulletList" || pk == "orderedList" {
                            lines.push(adf_block_wiki(part, &prefix));
                        } else {
                            lines.push(format!("{prefix} {}", adf_block_wiki(part, "")));
                        }
                    }
                    lines.join("\n")
                })
                .collect::<Vec<_>>()
                .join("\n")
        }
        "codeBlock" => {
            let code = adf_inline_wiki(children(b));
            match attr(b, "language").and_then(Value::as_str) {
                Some(lang) if !lang.is_empty() => format!("{{code:{lang}}}\n{code}\n{{code}}"),
                _ => format!("{{code}}\n{code}\n{{code}}"),
            }
        }
        "blockquote" => {
            let inner: Vec<String> = children(b).iter().map(|c| adf_block_wiki(c, "")).collect();
            format!("{{quote}}\n{}\n{{quote}}", inner.join("\n"))
        }
        "rule" => "----".to_owned(),
        "panel" => {
            let inner: Vec<String> = children(b).iter().map(|c| adf_block_wiki(c, "")).collect();
            format!("{{panel}}\n{}\n{{panel}}", inner.join("\n"))
        }
        _ => {
            // Unknown blocks keep their text, as Jira's renderer does for nodes wiki markup
            // cannot express.
            let inner: Vec<String> = children(b).iter().map(|c| adf_block_wiki(c, "")).collect();
            if inner.is_empty() {
                adf_inline_wiki(std::slice::from_ref(b))
            } else {
                inner.join("\n")
            }
        }
    }
}

fn adf_inline_wiki(nodes: &[Value]) -> String {
    let mut out = String::new();
    for n in nodes {
        match n.get("type").and_then(Value::as_str).unwrap_or("") {
            "text" => {
                let mut t = n
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                let marks = n.get("marks").and_then(Value::as_array);
                for m in marks.into_iter().flatten() {
                    t = match m.get("type").and_then(Value::as_str).unwrap_or("") {
                        "strong" => format!("*{t}*"),
                        "em" => format!("_{t}_"),
                        "code" => format!("{{{{{t}}}}}"),
                        "strike" => format!("-{t}-"),
                        "underline" => format!("+{t}+"),
                        "link" => match attr(m, "href").and_then(Value::as_str) {
                            Some(href) => format!("[{t}|{href}]"),
                            None => t,
                        },
                        _ => t,
                    };
                }
                out.push_str(&t);
            }
            "mention" => {
                if let Some(id) = attr(n, "id").and_then(Value::as_str) {
                    out.push_str(&format!("[~accountid:{id}]"));
                }
            }
            "emoji" => {
                let text = attr(n, "text")
                    .or_else(|| attr(n, "shortName"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                out.push_str(text);
            }
            "hardBreak" => out.push('\n'),
            "inlineCard" => {
                if let Some(url) = attr(n, "url").and_then(Value::as_str) {
                    out.push_str(&format!("[{url}|{url}|smart-link]"));
                }
            }
            _ => out.push_str(&adf_inline_wiki(children(n))),
        }
    }
    out
}

fn adf_text(v: &Value, out: &mut String) {
    match v.get("type").and_then(Value::as_str).unwrap_or("") {
        "text" => out.push_str(v.get("text").and_then(Value::as_str).unwrap_or("")),
        "mention" | "emoji" => {
            out.push_str(attr(v, "text").and_then(Value::as_str).unwrap_or(""));
        }
        "hardBreak" => out.push('\n'),
        kind => {
            for c in children(v) {
                adf_text(c, out);
            }
            if matches!(
                kind,
                "paragraph" | "heading" | "codeBlock" | "listItem" | "blockquote"
            ) {
                out.push('\n');
            }
        }
    }
}

/// Wiki markup → ADF, as Cloud stores a string written through REST v2: headings, bullet
/// and numbered lists, `{code}` blocks, `bq.` quotes, rules and paragraphs; inline text is
/// kept as written.
pub(crate) fn wiki_to_adf(s: &str) -> Value {
    let mut content: Vec<Value> = Vec::new();
    let mut para: Vec<&str> = Vec::new();
    let mut list: Option<(&'static str, Vec<Value>)> = None;
    let flush_para = |para: &mut Vec<&str>, content: &mut Vec<Value>| {
        if !para.is_empty() {
            let text = para.join("\n");
            content.push(json!({"type": "paragraph", "content": [text_node(&text, vec![])]}));
            para.clear();
        }
    };
    let flush_list = |list: &mut Option<(&'static str, Vec<Value>)>, content: &mut Vec<Value>| {
        if let Some((kind, items)) = list.take() {
            content.push(json!({"type": kind, "content": items}));
        }
    };
    let mut lines = s.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_end();
        if let Some(rest) = trimmed.strip_prefix("{code") {
            flush_para(&mut para, &mut content);
            flush_list(&mut list, &mut content);
            let lang = rest
                .trim_start_matches(':')
                .trim_end_matches('}')
                .split('|')
                .next()
                .unwrap_or("")
                .to_owned();
            let mut code = Vec::new();
            for l in lines.by_ref() {
                if l.trim_end() == "{code}" {
                    break;
                }
                code.push(l);
            }
            let mut node = Map::new();
            node.insert("type".into(), json!("codeBlock"));
            if !lang.is_empty() {
                node.insert("attrs".into(), json!({"language": lang}));
            }
            node.insert(
                "content".into(),
                json!([text_node(&code.join("\n"), vec![])]),
            );
            content.push(Value::Object(node));
            continue;
        }
        let heading = trimmed
            .strip_prefix('h')
            .and_then(|r| r.split_once(". "))
            .and_then(|(n, text)| {
                n.parse::<u8>()
                    .ok()
                    .filter(|n| (1..=6).contains(n))
                    .map(|n| (n, text))
            });
        if let Some((level, text)) = heading {
            flush_para(&mut para, &mut content);
            flush_list(&mut list, &mut content);
            content.push(json!({"type": "heading", "attrs": {"level": level},
                                "content": [text_node(text, vec![])]}));
            continue;
        }
        let item = trimmed
            .strip_prefix("* ")
            .map(|t| ("bulletList", t))
            .or_else(|| trimmed.strip_prefix("# ").map(|t| ("orderedList", t)));
        if let Some((kind, text)) = item {
            flush_para(&mut para, &mut content);
            if list.as_ref().is_some_and(|(k, _)| *k != kind) {
                flush_list(&mut list, &mut content);
            }
            let entry = json!({"type": "listItem", "content": [
                {"type": "paragraph", "content": [text_node(text, vec![])]}
            ]});
            list.get_or_insert((kind, Vec::new())).1.push(entry);
            continue;
        }
        flush_list(&mut list, &mut content);
        if let Some(text) = trimmed.strip_prefix("bq. ") {
            flush_para(&mut para, &mut content);
            content.push(json!({"type": "blockquote", "content": [
                {"type": "paragraph", "content": [text_node(text, vec![])]}
            ]}));
        } else if trimmed == "----" {
            flush_para(&mut para, &mut content);
            content.push(json!({"type": "rule"}));
        } else if trimmed.is_empty() {
            flush_para(&mut para, &mut content);
        } else {
            para.push(trimmed);
        }
    }
    flush_para(&mut para, &mut content);
    flush_list(&mut list, &mut content);
    json!({"type": "doc", "version": 1, "content": content})
}

/// Minimal HTML for `renderedFields` (Jira renders server-side; clients only show it).
pub(crate) fn html(doc: &Doc) -> String {
    let text = doc.plain();
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    escaped
        .split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .map(|p| format!("<p>{}</p>", p.trim().replace('\n', "<br/>\n")))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Block> {
        vec![
            Block::Heading(2, vec![Inline::Text("Context".into())]),
            Block::Para(vec![
                Inline::Text("Ping ".into()),
                Inline::Mention(Mention {
                    id: "abc".into(),
                    display: "Alice".into(),
                }),
                Inline::Text(" see ".into()),
                Inline::Link {
                    text: "docs".into(),
                    href: "https://example.com".into(),
                },
                Inline::Emoji(":smile:", "😄", ":D"),
            ]),
            Block::Bullets(vec![
                vec![Inline::Strong("one".into())],
                vec![Inline::Code("two".into())],
            ]),
            Block::Code("rust", "fn main() {}".into()),
        ]
    }

    #[test]
    fn adf_renders_as_a_valid_document_and_down_to_wiki() {
        let Doc::Adf(v) = render(&sample(), true, true) else {
            panic!("ADF expected");
        };
        assert!(is_adf_doc(&v));
        let wiki = adf_to_wiki(&v);
        assert!(wiki.starts_with("h2. Context\n\n"), "{wiki}");
        assert!(wiki.contains("[~accountid:abc]"));
        assert!(wiki.contains("[docs|https://example.com]"));
        assert!(wiki.contains("* *one*\n* {{two}}"));
        assert!(wiki.contains("{code:rust}\nfn main() {}\n{code}"));
    }

    #[test]
    fn dc_wiki_names_users_by_name_and_parses_back_into_blocks() {
        let Doc::Wiki(w) = render(&sample(), false, false) else {
            panic!("wiki expected");
        };
        assert!(w.contains("[~abc]"));
        let adf = wiki_to_adf(&w);
        assert!(is_adf_doc(&adf));
        let kinds: Vec<&str> = children(&adf)
            .iter()
            .filter_map(|n| n.get("type").and_then(Value::as_str))
            .collect();
        assert_eq!(kinds, ["heading", "paragraph", "bulletList", "codeBlock"]);
    }

    #[test]
    fn not_a_document_is_refused() {
        assert!(!is_adf_doc(&json!("text")));
        assert!(!is_adf_doc(
            &json!({"type": "doc", "version": 2, "content": []})
        ));
        assert!(!is_adf_doc(
            &json!({"type": "doc", "version": 1, "content": [1]})
        ));
    }
}
