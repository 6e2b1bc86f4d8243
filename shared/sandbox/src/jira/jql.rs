//! A JQL subset: parsing into a tree, compiling it against the store (values resolved and
//! validated once, refused in Jira's words), then filtering and ordering issues.
//!
//! Dates compare at millisecond precision against the instant a value names; Jira's formats
//! only name minutes (`"2024/05/01 10:05"`), which is why clients that search by `updated`
//! must overlap their windows by a minute.

use std::cmp::Ordering;
use std::collections::HashSet;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime};

use super::state::{Cat, Issue, Ms, State};
use super::EpicStyle;

/// A JQL refusal: Jira's message, and whether it is a warning under `validateQuery=warn`
/// (values that don't exist) rather than an error in any mode (syntax, unknown fields).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JqlError {
    pub message: String,
    pub soft: bool,
}

fn hard(message: String) -> JqlError {
    JqlError {
        message,
        soft: false,
    }
}

fn soft(message: String) -> JqlError {
    JqlError {
        message,
        soft: true,
    }
}

// ----- lexing -----

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Quoted(String),
    LParen,
    RParen,
    Comma,
    Op(&'static str),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// 1-based character position, as Jira reports it.
    pos: usize,
}

fn lex(q: &str) -> Result<Vec<Token>, JqlError> {
    let chars: Vec<char> = q.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let pos = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
        let op = match two.as_str() {
            "!=" => Some("!="),
            ">=" => Some(">="),
            "<=" => Some("<="),
            "!~" => Some("!~"),
            "&&" => Some("AND"),
            "||" => Some("OR"),
            _ => None,
        };
        if let Some(op) = op {
            out.push(Token {
                tok: if op == "AND" || op == "OR" {
                    Tok::Word(op.to_owned())
                } else {
                    Tok::Op(op)
                },
                pos,
            });
            i += 2;
            continue;
        }
        match c {
            '(' => out.push(Token {
                tok: Tok::LParen,
                pos,
            }),
            ')' => out.push(Token {
                tok: Tok::RParen,
                pos,
            }),
            ',' => out.push(Token {
                tok: Tok::Comma,
                pos,
            }),
            '=' => out.push(Token {
                tok: Tok::Op("="),
                pos,
            }),
            '>' => out.push(Token {
                tok: Tok::Op(">"),
                pos,
            }),
            '<' => out.push(Token {
                tok: Tok::Op("<"),
                pos,
            }),
            '~' => out.push(Token {
                tok: Tok::Op("~"),
                pos,
            }),
            '!' => out.push(Token {
                tok: Tok::Word("NOT".into()),
                pos,
            }),
            '"' | '\'' => {
                let quote = c;
                let mut s = String::new();
                i += 1;
                let mut closed = false;
                while i < chars.len() {
                    match chars[i] {
                        '\\' if i + 1 < chars.len() => {
                            s.push(chars[i + 1]);
                            i += 2;
                            continue;
                        }
                        ch if ch == quote => {
                            closed = true;
                            break;
                        }
                        ch => s.push(ch),
                    }
                    i += 1;
                }
                if !closed {
                    return Err(hard(format!(
                        "Error in the JQL Query: The quoted string '{s}' has not been completed. \
                         (line 1, character {pos})"
                    )));
                }
                out.push(Token {
                    tok: Tok::Quoted(s),
                    pos,
                });
            }
            _ if word_char(c) => {
                let mut s = String::new();
                while i < chars.len() && word_char(chars[i]) {
                    // `cf[10016]` is one word.
                    if chars[i] == '[' {
                        while i < chars.len() && chars[i] != ']' {
                            s.push(chars[i]);
                            i += 1;
                        }
                        if i < chars.len() {
                            s.push(']');
                            i += 1;
                        }
                        continue;
                    }
                    s.push(chars[i]);
                    i += 1;
                }
                out.push(Token {
                    tok: Tok::Word(s),
                    pos,
                });
                continue;
            }
            _ => {
                return Err(hard(format!(
                    "Error in the JQL Query: The character '{c}' is a reserved JQL character. \
                     You must enclose it in a string or use the escape '\\u{:04x}' instead. \
                     (line 1, character {pos})",
                    c as u32
                )))
            }
        }
        i += 1;
    }
    Ok(out)
}

fn word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/' | '@' | '+' | '*' | '[')
}

// ----- parsing -----

#[derive(Debug, Clone, PartialEq)]
enum Val {
    Str(String),
    Func(String),
    Empty,
}

#[derive(Debug, Clone)]
struct Clause {
    field: String,
    op: String,
    values: Vec<Val>,
}

#[derive(Debug, Clone)]
enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Clause(Clause),
}

/// A parsed query: the condition (if any) and the ordering.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    expr: Option<Expr>,
    order: Vec<(String, bool)>,
}

impl Query {
    /// Whether the query restricts anything (Cloud refuses searches that don't).
    pub(crate) fn has_condition(&self) -> bool {
        self.expr.is_some()
    }
}

struct Parser {
    toks: Vec<Token>,
    i: usize,
    /// Length of the query + 1, for "end of query" positions.
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.i)
    }

    fn peek_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Word(x), .. }) if x.eq_ignore_ascii_case(w))
    }

    fn pos(&self) -> usize {
        self.peek().map_or(self.end, |t| t.pos)
    }

    fn shown(&self) -> String {
        match self.peek() {
            None => "end of query".to_owned(),
            Some(t) => match &t.tok {
                Tok::Word(w) => format!("'{w}'"),
                Tok::Quoted(q) => format!("'{q}'"),
                Tok::LParen => "'('".into(),
                Tok::RParen => "')'".into(),
                Tok::Comma => "','".into(),
                Tok::Op(o) => format!("'{o}'"),
            },
        }
    }

    fn err(&self, what: &str) -> JqlError {
        hard(format!(
            "Error in the JQL Query: {what} but got {}. (line 1, character {})",
            self.shown(),
            self.pos()
        ))
    }

    fn or(&mut self) -> Result<Expr, JqlError> {
        let mut parts = vec![self.and()?];
        while self.peek_word("OR") {
            self.i += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Expr, JqlError> {
        let mut parts = vec![self.not()?];
        while self.peek_word("AND") {
            self.i += 1;
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::And(parts)
        })
    }

    fn not(&mut self) -> Result<Expr, JqlError> {
        if self.peek_word("NOT") {
            self.i += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        if matches!(
            self.peek(),
            Some(Token {
                tok: Tok::LParen,
                ..
            })
        ) {
            self.i += 1;
            let e = self.or()?;
            match self.peek() {
                Some(Token {
                    tok: Tok::RParen, ..
                }) => {
                    self.i += 1;
                    Ok(e)
                }
                _ => Err(self.err("Expecting ')'")),
            }
        } else {
            self.clause()
        }
    }

    fn field(&mut self) -> Result<String, JqlError> {
        match self.peek().map(|t| t.tok.clone()) {
            Some(Tok::Word(w)) if !is_keyword(&w) => {
                self.i += 1;
                Ok(w)
            }
            Some(Tok::Quoted(q)) => {
                self.i += 1;
                Ok(q)
            }
            _ => Err(self.err("Expecting a field name")),
        }
    }

    fn clause(&mut self) -> Result<Expr, JqlError> {
        let field = self.field()?;
        let op = match self.peek().map(|t| t.tok.clone()) {
            Some(Tok::Op(o)) => {
                self.i += 1;
                o.to_owned()
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("IN") => {
                self.i += 1;
                "in".to_owned()
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("IS") => {
                self.i += 1;
                if self.peek_word("NOT") {
                    self.i += 1;
                    "is not".to_owned()
                } else {
                    "is".to_owned()
                }
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("NOT") => {
                self.i += 1;
                if self.peek_word("IN") {
                    self.i += 1;
                    "not in".to_owned()
                } else {
                    return Err(self.err("Expecting 'IN'"));
                }
            }
            _ => return Err(self.err("Expecting operator")),
        };
        let values = if op == "in" || op == "not in" {
            self.list()?
        } else {
            vec![self.value()?]
        };
        Ok(Expr::Clause(Clause { field, op, values }))
    }

    fn list(&mut self) -> Result<Vec<Val>, JqlError> {
        if !matches!(
            self.peek(),
            Some(Token {
                tok: Tok::LParen,
                ..
            })
        ) {
            // `key in openSprints()`-style functions stand alone.
            let v = self.value()?;
            return Ok(vec![v]);
        }
        self.i += 1;
        let mut out = vec![self.value()?];
        loop {
            match self.peek().map(|t| t.tok.clone()) {
                Some(Tok::Comma) => {
                    self.i += 1;
                    out.push(self.value()?);
                }
                Some(Tok::RParen) => {
                    self.i += 1;
                    return Ok(out);
                }
                _ => return Err(self.err("Expecting ')' or ','")),
            }
        }
    }

    fn value(&mut self) -> Result<Val, JqlError> {
        match self.peek().map(|t| t.tok.clone()) {
            Some(Tok::Quoted(q)) => {
                self.i += 1;
                Ok(Val::Str(q))
            }
            Some(Tok::Word(w))
                if w.eq_ignore_ascii_case("EMPTY") || w.eq_ignore_ascii_case("NULL") =>
            {
                self.i += 1;
                Ok(Val::Empty)
            }
            Some(Tok::Word(w)) if !is_keyword(&w) => {
                self.i += 1;
                if matches!(
                    self.peek(),
                    Some(Token {
                        tok: Tok::LParen,
                        ..
                    })
                ) {
                    self.i += 1;
                    // Arguments are accepted and ignored (the functions here take none that
                    // matter).
                    while !matches!(
                        self.peek(),
                        Some(Token {
                            tok: Tok::RParen,
                            ..
                        }) | None
                    ) {
                        self.i += 1;
                    }
                    if self.peek().is_none() {
                        return Err(self.err("Expecting ')'"));
                    }
                    self.i += 1;
                    return Ok(Val::Func(w.to_ascii_lowercase()));
                }
                Ok(Val::Str(w))
            }
            _ => Err(self.err("Expecting either a value, list or function")),
        }
    }

    fn order(&mut self) -> Result<Vec<(String, bool)>, JqlError> {
        let mut out = Vec::new();
        loop {
            let f = self.field()?;
            let mut desc = false;
            if self.peek_word("ASC") {
                self.i += 1;
            } else if self.peek_word("DESC") {
                self.i += 1;
                desc = true;
            }
            out.push((f, desc));
            match self.peek().map(|t| t.tok.clone()) {
                Some(Tok::Comma) => self.i += 1,
                None => return Ok(out),
                _ => return Err(self.err("Expecting ',' or end of query")),
            }
        }
    }
}

fn is_keyword(w: &str) -> bool {
    [
        "AND", "OR", "NOT", "IN", "IS", "ORDER", "BY", "EMPTY", "NULL", "ASC", "DESC",
    ]
    .iter()
    .any(|k| k.eq_ignore_ascii_case(w))
}

/// Parses a query. An empty query matches everything.
pub(crate) fn parse(q: &str) -> Result<Query, JqlError> {
    let toks = lex(q)?;
    let mut p = Parser {
        toks,
        i: 0,
        end: q.chars().count() + 1,
    };
    let mut expr = None;
    if p.peek().is_some() && !p.peek_word("ORDER") {
        expr = Some(p.or()?);
    }
    let mut order = Vec::new();
    if p.peek_word("ORDER") {
        p.i += 1;
        if !p.peek_word("BY") {
            return Err(p.err("Expecting 'by'"));
        }
        p.i += 1;
        order = p.order()?;
    }
    if p.peek().is_some() {
        return Err(p.err("Expecting either 'OR' or 'AND'"));
    }
    Ok(Query { expr, order })
}

// ----- compiling -----

type Pred = Box<dyn Fn(&State, &Issue) -> bool + Send + Sync>;

/// A query compiled against the store, with the warnings `validateQuery=warn` collects.
pub(crate) struct Compiled {
    pred: Option<Pred>,
    order: Vec<(SortKey, bool)>,
    pub warnings: Vec<String>,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled")
            .field("order", &self.order)
            .field("warnings", &self.warnings)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortKey {
    Key,
    Created,
    Updated,
    Resolved,
    Due,
    Priority,
    Status,
    Rank,
    Summary,
    IssueType,
    StoryPoints,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum F {
    Project,
    Key,
    Parent,
    EpicLink,
    IssueType,
    Status,
    StatusCategory,
    Priority,
    Resolution,
    Assignee,
    Reporter,
    Creator,
    Labels,
    Component,
    FixVersion,
    AffectedVersion,
    Sprint,
    Summary,
    Description,
    Text,
    Created,
    Updated,
    Resolved,
    Due,
    StoryPoints,
}

fn field_of(st: &State, name: &str) -> Option<F> {
    let n = name.trim().to_ascii_lowercase();
    let cf = |id: u64| n == format!("cf[{id}]") || n == format!("customfield_{id}");
    let epic_link = st.epic_style == EpicStyle::EpicLink;
    Some(match n.as_str() {
        "project" => F::Project,
        "key" | "issuekey" | "id" | "issue" => F::Key,
        "parent" => F::Parent,
        "epic link" if epic_link => F::EpicLink,
        "issuetype" | "type" => F::IssueType,
        "status" => F::Status,
        "statuscategory" => F::StatusCategory,
        "priority" => F::Priority,
        "resolution" => F::Resolution,
        "assignee" => F::Assignee,
        "reporter" => F::Reporter,
        "creator" => F::Creator,
        "labels" | "label" => F::Labels,
        "component" => F::Component,
        "fixversion" => F::FixVersion,
        "affectedversion" => F::AffectedVersion,
        "sprint" => F::Sprint,
        "summary" => F::Summary,
        "description" => F::Description,
        "text" => F::Text,
        "created" | "createddate" => F::Created,
        "updated" | "updateddate" => F::Updated,
        "resolved" | "resolutiondate" => F::Resolved,
        "due" | "duedate" => F::Due,
        "story points" => F::StoryPoints,
        _ if cf(st.fields.story_points) => F::StoryPoints,
        _ if cf(st.fields.sprint) => F::Sprint,
        _ if epic_link && cf(st.fields.epic_link) => F::EpicLink,
        _ => return None,
    })
}

fn sort_key_of(st: &State, name: &str) -> Option<SortKey> {
    let n = name.trim().to_ascii_lowercase();
    Some(match n.as_str() {
        "key" | "issuekey" | "id" => SortKey::Key,
        "created" | "createddate" => SortKey::Created,
        "updated" | "updateddate" => SortKey::Updated,
        "resolved" | "resolutiondate" => SortKey::Resolved,
        "due" | "duedate" => SortKey::Due,
        "priority" => SortKey::Priority,
        "status" => SortKey::Status,
        "rank" => SortKey::Rank,
        "summary" => SortKey::Summary,
        "issuetype" | "type" => SortKey::IssueType,
        "story points" => SortKey::StoryPoints,
        _ if n == format!("cf[{}]", st.fields.rank) => SortKey::Rank,
        _ if n == format!("cf[{}]", st.fields.story_points) => SortKey::StoryPoints,
        _ => return None,
    })
}

fn no_field(name: &str) -> JqlError {
    hard(format!(
        "Field '{name}' does not exist or you do not have permission to view it."
    ))
}

fn no_value(v: &str, field: &str) -> JqlError {
    soft(format!(
        "The value '{v}' does not exist for the field '{field}'."
    ))
}

/// Options of a search that change how values are checked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Validate {
    /// `validateQuery=strict` (the default): values that don't exist are errors; otherwise
    /// they are warnings and match nothing.
    pub strict: bool,
    /// The caller, for `currentUser()`.
    pub me: usize,
    /// The sandbox's now, for relative dates and `now()`.
    pub now: Ms,
}

/// Compiles a parsed query against the store.
pub(crate) fn compile(st: &State, q: &Query, v: Validate) -> Result<Compiled, JqlError> {
    let mut warnings = Vec::new();
    let pred = match &q.expr {
        None => None,
        Some(e) => Some(compile_expr(st, e, v, &mut warnings)?),
    };
    let mut order = Vec::new();
    for (name, desc) in &q.order {
        match sort_key_of(st, name) {
            Some(k) => order.push((k, *desc)),
            None if field_of(st, name).is_some() => {
                return Err(hard(format!("Not able to sort using field '{name}'.")))
            }
            None => return Err(no_field(name)),
        }
    }
    Ok(Compiled {
        pred,
        order,
        warnings,
    })
}

fn compile_expr(
    st: &State,
    e: &Expr,
    v: Validate,
    warnings: &mut Vec<String>,
) -> Result<Pred, JqlError> {
    Ok(match e {
        Expr::And(parts) => {
            let ps = parts
                .iter()
                .map(|p| compile_expr(st, p, v, warnings))
                .collect::<Result<Vec<_>, _>>()?;
            Box::new(move |s, i| ps.iter().all(|p| p(s, i)))
        }
        Expr::Or(parts) => {
            let ps = parts
                .iter()
                .map(|p| compile_expr(st, p, v, warnings))
                .collect::<Result<Vec<_>, _>>()?;
            Box::new(move |s, i| ps.iter().any(|p| p(s, i)))
        }
        Expr::Not(inner) => {
            let p = compile_expr(st, inner, v, warnings)?;
            Box::new(move |s, i| !p(s, i))
        }
        Expr::Clause(c) => match compile_clause(st, c, v, warnings) {
            Ok(p) => p,
            Err(e) if e.soft && !v.strict => {
                warnings.push(e.message);
                Box::new(|_, _| false)
            }
            Err(e) => return Err(e),
        },
    })
}

/// How an operator applies to a value set: membership, or its negation that also excludes
/// empty fields (Jira's `!=` and `NOT IN` never match an empty field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetOp {
    In,
    NotIn,
    IsEmpty,
    IsNotEmpty,
}

fn set_op(c: &Clause) -> Result<SetOp, JqlError> {
    let empty = c.values.contains(&Val::Empty);
    Ok(match (c.op.as_str(), empty) {
        ("=" | "in", false) => SetOp::In,
        ("!=" | "not in", false) => SetOp::NotIn,
        ("is" | "=", true) => SetOp::IsEmpty,
        ("is not" | "!=", true) => SetOp::IsNotEmpty,
        ("is" | "is not", false) => {
            return Err(hard(format!(
                "The operator '{}' can only be used with the value EMPTY or NULL (field '{}').",
                c.op.to_uppercase(),
                c.field
            )))
        }
        _ => return Err(bad_op(c)),
    })
}

fn bad_op(c: &Clause) -> JqlError {
    hard(format!(
        "The operator '{}' is not supported by the '{}' field.",
        c.op.to_uppercase(),
        c.field
    ))
}

fn strs(c: &Clause) -> Vec<&str> {
    c.values
        .iter()
        .filter_map(|v| match v {
            Val::Str(s) => Some(s.as_str()),
            _ => None,
        })
        .collect()
}

/// A predicate from "the field's values" and a resolved set.
fn set_pred<T, G>(op: SetOp, set: HashSet<T>, get: G) -> Pred
where
    T: std::hash::Hash + Eq + Send + Sync + 'static,
    G: Fn(&State, &Issue) -> Vec<T> + Send + Sync + 'static,
{
    Box::new(move |s, i| {
        let vals = get(s, i);
        match op {
            SetOp::In => vals.iter().any(|x| set.contains(x)),
            SetOp::NotIn => !vals.is_empty() && !vals.iter().any(|x| set.contains(x)),
            SetOp::IsEmpty => vals.is_empty(),
            SetOp::IsNotEmpty => !vals.is_empty(),
        }
    })
}

/// Resolves each value with `find`; unknown ones are Jira's "does not exist" refusal.
fn resolve<T: std::hash::Hash + Eq>(
    c: &Clause,
    field: &str,
    mut find: impl FnMut(&Val) -> Result<Vec<T>, JqlError>,
) -> Result<HashSet<T>, JqlError> {
    let mut set = HashSet::new();
    for v in c.values.iter().filter(|v| **v != Val::Empty) {
        let found = find(v)?;
        if found.is_empty() {
            let shown = match v {
                Val::Str(s) => s.clone(),
                Val::Func(f) => format!("{f}()"),
                Val::Empty => String::new(),
            };
            return Err(no_value(&shown, field));
        }
        set.extend(found);
    }
    Ok(set)
}

fn unknown_function(f: &str, field: &str) -> JqlError {
    hard(format!(
        "Unable to find JQL function '{f}()' for the field '{field}'."
    ))
}

/// Resolves an issue reference (key or id); strict validation refuses missing ones.
fn issue_ref(st: &State, s: &str, field: &str) -> Result<u64, JqlError> {
    if let Some(id) = st.find(s) {
        return Ok(id);
    }
    let looks_like_key = s.split_once('-').is_some_and(|(p, n)| {
        !p.is_empty()
            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && n.parse::<u64>().is_ok()
    });
    if looks_like_key || s.parse::<u64>().is_ok() {
        Err(soft(format!(
            "An issue with key '{}' does not exist for field '{field}'.",
            s.to_ascii_uppercase()
        )))
    } else {
        Err(hard(format!(
            "The issue key '{s}' for field '{field}' is invalid."
        )))
    }
}

/// Resolves issue references; outside strict validation a missing one is a warning and the
/// rest still count.
fn issue_refs(
    st: &State,
    c: &Clause,
    field: &str,
    v: Validate,
    warnings: &mut Vec<String>,
) -> Result<HashSet<u64>, JqlError> {
    let mut set = HashSet::new();
    for s in strs(c) {
        match issue_ref(st, s, field) {
            Ok(id) => {
                set.insert(id);
            }
            Err(e) if e.soft && !v.strict => warnings.push(e.message),
            Err(e) => return Err(e),
        }
    }
    Ok(set)
}

fn compile_clause(
    st: &State,
    c: &Clause,
    v: Validate,
    warnings: &mut Vec<String>,
) -> Result<Pred, JqlError> {
    let Some(f) = field_of(st, &c.field) else {
        return Err(no_field(&c.field));
    };
    let name = c.field.as_str();
    match f {
        F::Project => {
            let op = set_op(c)?;
            resolve(c, "project", |val| match val {
                Val::Str(s) if st.is_project(s) || st.project.name.eq_ignore_ascii_case(s) => {
                    Ok(vec![()])
                }
                _ => Ok(vec![]),
            })?;
            Ok(Box::new(move |_, _| {
                matches!(op, SetOp::In | SetOp::IsNotEmpty)
            }))
        }
        F::Key => {
            if matches!(c.op.as_str(), "<" | "<=" | ">" | ">=") {
                let s = strs(c).first().copied().unwrap_or("").to_owned();
                let id = issue_ref(st, &s, name)?;
                let num = st.issues.get(&id).map_or(0, |i| i.num);
                let op = c.op.clone();
                return Ok(Box::new(move |_, i| cmp_op(&op, i.num.cmp(&num))));
            }
            let op = set_op(c)?;
            let set = issue_refs(st, c, name, v, warnings)?;
            Ok(set_pred(op, set, |_, i| vec![i.id]))
        }
        F::Parent | F::EpicLink => {
            let op = set_op(c)?;
            let set = issue_refs(st, c, name, v, warnings)?;
            if f == F::Parent {
                Ok(set_pred(op, set, |_, i| i.parent.into_iter().collect()))
            } else {
                Ok(set_pred(op, set, |_, i| i.epic_link.into_iter().collect()))
            }
        }
        F::IssueType => {
            let op = set_op(c)?;
            let set = resolve(c, "issuetype", |val| match val {
                Val::Str(s) => Ok(st.type_by_ref(s).into_iter().collect()),
                Val::Func(f) if f == "standardissuetypes" => Ok((0..st.types.len())
                    .filter(|t| !st.types[*t].subtask)
                    .collect()),
                Val::Func(f) if f == "subtaskissuetypes" => Ok((0..st.types.len())
                    .filter(|t| st.types[*t].subtask)
                    .collect()),
                Val::Func(f) => Err(unknown_function(f, name)),
                Val::Empty => Ok(vec![]),
            })?;
            Ok(set_pred(op, set, |_, i| vec![i.itype]))
        }
        F::Status => {
            let op = set_op(c)?;
            let set = resolve(c, "status", |val| match val {
                Val::Str(s) => Ok(st.status_by_name(s).into_iter().collect()),
                Val::Func(f) => Err(unknown_function(f, name)),
                Val::Empty => Ok(vec![]),
            })?;
            Ok(set_pred(op, set, |_, i| vec![i.status]))
        }
        F::StatusCategory => {
            let op = set_op(c)?;
            let set = resolve(c, "statusCategory", |val| match val {
                Val::Str(s) => Ok(Cat::ALL
                    .into_iter()
                    .filter(|cat| {
                        let (id, key, _, n) = cat.parts();
                        n.eq_ignore_ascii_case(s)
                            || key.eq_ignore_ascii_case(s)
                            || id.to_string() == *s
                    })
                    .map(|cat| cat as u8)
                    .collect()),
                Val::Func(f) => Err(unknown_function(f, name)),
                Val::Empty => Ok(vec![]),
            })?;
            Ok(set_pred(op, set, |s, i| {
                vec![s.statuses[i.status].category as u8]
            }))
        }
        F::Priority => {
            let op = set_op(c)?;
            let set = resolve(c, "priority", |val| match val {
                Val::Str(s) => Ok(st.priority_by_ref(s).into_iter().collect()),
                Val::Func(f) => Err(unknown_function(f, name)),
                Val::Empty => Ok(vec![]),
            })?;
            Ok(set_pred(op, set, |_, i| vec![i.priority]))
        }
        F::Resolution => {
            let unresolved = c
                .values
                .iter()
                .any(|x| matches!(x, Val::Str(s) if s.eq_ignore_ascii_case("Unresolved")));
            let mut c2 = c.clone();
            if unresolved {
                c2.values = c
                    .values
                    .iter()
                    .map(|x| match x {
                        Val::Str(s) if s.eq_ignore_ascii_case("Unresolved") => Val::Empty,
                        o => o.clone(),
                    })
                    .collect();
                if c2.op == "=" {
                    c2.op = "is".into();
                } else if c2.op == "!=" {
                    c2.op = "is not".into();
                }
            }
            let op = set_op(&c2)?;
            let set = resolve(&c2, "resolution", |val| match val {
                Val::Str(s) => Ok(st.resolution_by_ref(s).into_iter().collect()),
                Val::Func(f) => Err(unknown_function(f, name)),
                Val::Empty => Ok(vec![]),
            })?;
            Ok(set_pred(op, set, |_, i| i.resolution.into_iter().collect()))
        }
        F::Assignee | F::Reporter | F::Creator => {
            let op = set_op(c)?;
            let field = match f {
                F::Assignee => "assignee",
                F::Reporter => "reporter",
                _ => "creator",
            };
            let set = resolve(c, field, |val| match val {
                Val::Str(s) => Ok(st
                    .user_by_ref(s)
                    .or_else(|| {
                        // Email addresses and display names work in JQL too.
                        st.users.iter().position(|u| {
                            u.email.eq_ignore_ascii_case(s) || u.display.eq_ignore_ascii_case(s)
                        })
                    })
                    .into_iter()
                    .collect()),
                Val::Func(f) if f == "currentuser" => Ok(vec![v.me]),
                Val::Func(f) => Err(unknown_function(f, name)),
                Val::Empty => Ok(vec![]),
            })?;
            Ok(match f {
                F::Assignee => set_pred(op, set, |_, i| i.assignee.into_iter().collect()),
                F::Reporter => set_pred(op, set, |_, i| vec![i.reporter]),
                _ => set_pred(op, set, |_, i| vec![i.creator]),
            })
        }
        F::Labels => {
            let op = set_op(c)?;
            let set: HashSet<String> = strs(c).into_iter().map(str::to_owned).collect();
            Ok(set_pred(op, set, |_, i| i.labels.clone()))
        }
        F::Component => {
            let op = set_op(c)?;
            let set = resolve(c, "component", |val| match val {
                Val::Str(s) => Ok(st
                    .component_by_name(s)
                    .or_else(|| s.parse().ok().filter(|id| st.components.contains_key(id)))
                    .into_iter()
                    .collect()),
                Val::Func(f) => Err(unknown_function(f, name)),
                Val::Empty => Ok(vec![]),
            })?;
            Ok(set_pred(op, set, |_, i| i.components.clone()))
        }
        F::FixVersion | F::AffectedVersion => {
            let op = set_op(c)?;
            let field = if f == F::FixVersion {
                "fixVersion"
            } else {
                "affectedVersion"
            };
            let set = resolve(c, field, |val| match val {
                Val::Str(s) => Ok(st
                    .version_by_name(s)
                    .or_else(|| s.parse().ok().filter(|id| st.versions.contains_key(id)))
                    .into_iter()
                    .collect()),
                Val::Func(f) if f == "releasedversions" => Ok(st
                    .versions
                    .values()
                    .filter(|v| v.released)
                    .map(|v| v.id)
                    .collect()),
                Val::Func(f) if f == "unreleasedversions" => Ok(st
                    .versions
                    .values()
                    .filter(|v| !v.released)
                    .map(|v| v.id)
                    .collect()),
                Val::Func(f) => Err(unknown_function(f, name)),
                Val::Empty => Ok(vec![]),
            })?;
            if f == F::FixVersion {
                Ok(set_pred(op, set, |_, i| i.fix_versions.clone()))
            } else {
                Ok(set_pred(op, set, |_, i| i.versions.clone()))
            }
        }
        F::Sprint => {
            let op = set_op(c)?;
            let set = resolve(c, "sprint", |val| match val {
                Val::Str(s) => Ok(st
                    .sprints
                    .iter()
                    .filter(|sp| sp.name.eq_ignore_ascii_case(s) || sp.id.to_string() == *s)
                    .map(|sp| sp.id)
                    .collect()),
                Val::Func(f) => {
                    let state = match f.as_str() {
                        "opensprints" => "active",
                        "closedsprints" => "closed",
                        "futuresprints" => "future",
                        _ => return Err(unknown_function(f, name)),
                    };
                    // A function with no sprint to return is not an error.
                    Ok(st
                        .sprints
                        .iter()
                        .filter(|sp| sp.state == state)
                        .map(|sp| sp.id)
                        .chain(std::iter::once(0))
                        .collect())
                }
                Val::Empty => Ok(vec![]),
            })?;
            Ok(set_pred(op, set, |_, i| i.sprints.clone()))
        }
        F::Summary | F::Description | F::Text => {
            let negate = match c.op.as_str() {
                "~" => false,
                "!~" => true,
                "is" | "is not" => {
                    let op = set_op(c)?;
                    return Ok(set_pred(op, HashSet::<u8>::new(), move |_, i| match f {
                        F::Description => i.description.iter().map(|_| 0u8).collect(),
                        _ => vec![0u8],
                    }));
                }
                _ => return Err(bad_op(c)),
            };
            let words: Vec<String> = strs(c)
                .first()
                .map(|s| {
                    s.split(|ch: char| !ch.is_alphanumeric())
                        .filter(|w| !w.is_empty())
                        .map(|w| w.trim_end_matches('*').to_lowercase())
                        .collect()
                })
                .unwrap_or_default();
            Ok(Box::new(move |_, i| {
                let mut hay = String::new();
                if f != F::Description {
                    hay.push_str(&i.summary.to_lowercase());
                    hay.push(' ');
                }
                if f != F::Summary {
                    if let Some(d) = &i.description {
                        hay.push_str(&d.plain().to_lowercase());
                    }
                }
                let hit = words.iter().all(|w| hay.contains(w.as_str()));
                hit != negate
            }))
        }
        F::StoryPoints => {
            if matches!(c.op.as_str(), "is" | "is not") {
                let op = set_op(c)?;
                return Ok(set_pred(op, HashSet::<u8>::new(), |_, i| {
                    i.story_points.iter().map(|_| 0u8).collect()
                }));
            }
            let n: f64 = strs(c)
                .first()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| hard(format!("The value for field '{name}' must be a number.")))?;
            let op = c.op.clone();
            if !matches!(op.as_str(), "=" | "!=" | "<" | "<=" | ">" | ">=") {
                return Err(bad_op(c));
            }
            Ok(Box::new(move |_, i| {
                i.story_points
                    .is_some_and(|p| cmp_op(&op, p.partial_cmp(&n).unwrap_or(Ordering::Equal)))
            }))
        }
        F::Created | F::Updated | F::Resolved | F::Due => {
            let get = move |i: &Issue| -> Option<Ms> {
                match f {
                    F::Created => Some(i.created),
                    F::Updated => Some(i.updated),
                    F::Resolved => i.resolution_date,
                    _ => i
                        .due
                        .map(|d| d.and_time(NaiveTime::MIN).and_utc().timestamp_millis()),
                }
            };
            if matches!(c.op.as_str(), "is" | "is not") {
                let op = set_op(c)?;
                return Ok(set_pred(op, HashSet::<u8>::new(), move |_, i| {
                    get(i).iter().map(|_| 0u8).collect()
                }));
            }
            let op = c.op.clone();
            if !matches!(
                op.as_str(),
                "=" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not in"
            ) {
                return Err(bad_op(c));
            }
            let mut at = Vec::new();
            for val in &c.values {
                at.push(date_value(val, name, v.now)?);
            }
            Ok(Box::new(move |_, i| {
                let Some(t) = get(i) else {
                    return false;
                };
                match op.as_str() {
                    "in" => at.contains(&t),
                    "not in" => !at.contains(&t),
                    _ => at.first().is_some_and(|a| cmp_op(&op, t.cmp(a))),
                }
            }))
        }
    }
}

fn cmp_op(op: &str, o: Ordering) -> bool {
    match op {
        "=" => o == Ordering::Equal,
        "!=" => o != Ordering::Equal,
        "<" => o == Ordering::Less,
        "<=" => o != Ordering::Greater,
        ">" => o == Ordering::Greater,
        ">=" => o != Ordering::Less,
        _ => false,
    }
}

/// A date value: `yyyy/MM/dd HH:mm`, `yyyy-MM-dd HH:mm`, a date alone (midnight), a relative
/// period (`-5d`, `-2w`, `4h`, `-30m`, `-1w 2d`), or `now()`, `startOfDay()`, `endOfDay()`,
/// `startOfWeek()`, `startOfMonth()`. The sandbox's time zone is UTC.
fn date_value(v: &Val, field: &str, now_ms: Ms) -> Result<Ms, JqlError> {
    let now = chrono::DateTime::from_timestamp_millis(now_ms).unwrap_or_else(chrono::Utc::now);
    let bad = |s: &str| {
        hard(format!(
            "Date value '{s}' for field '{field}' is invalid. Valid formats include: \
             'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period \
             format e.g. '-5d', '4w 2d'."
        ))
    };
    match v {
        Val::Func(f) => {
            let today = now.date_naive();
            let midnight = |d: NaiveDate| d.and_time(NaiveTime::MIN).and_utc().timestamp_millis();
            match f.as_str() {
                "now" => Ok(now.timestamp_millis()),
                "startofday" => Ok(midnight(today)),
                "endofday" => Ok(midnight(today) + 86_400_000 - 1),
                "startofweek" => Ok(midnight(
                    today
                        - chrono::Duration::days(i64::from(today.weekday().num_days_from_sunday())),
                )),
                "startofmonth" => Ok(midnight(today.with_day(1).unwrap_or(today))),
                _ => Err(unknown_function(f, field)),
            }
        }
        Val::Empty => Err(bad("EMPTY")),
        Val::Str(s) => {
            let t = s.trim();
            for fmt in ["%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M"] {
                if let Ok(dt) = NaiveDateTime::parse_from_str(t, fmt) {
                    return Ok(dt.and_utc().timestamp_millis());
                }
            }
            for fmt in ["%Y/%m/%d", "%Y-%m-%d"] {
                if let Ok(d) = NaiveDate::parse_from_str(t, fmt) {
                    return Ok(d.and_time(NaiveTime::MIN).and_utc().timestamp_millis());
                }
            }
            relative(t)
                .map(|offset| now.timestamp_millis() + offset)
                .ok_or_else(|| bad(s))
        }
    }
}

/// `-1w 2d` → milliseconds (negative into the past).
fn relative(s: &str) -> Option<Ms> {
    let (sign, rest) = match s.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    let mut total: Ms = 0;
    let mut any = false;
    for part in rest.split_whitespace() {
        // The unit is the last character, whatever its width (input may be any UTF-8).
        let (num, unit) = part.split_at(part.char_indices().last()?.0);
        let n: Ms = num.parse().ok()?;
        let ms = match unit {
            "y" => 365 * 86_400_000,
            "M" => 30 * 86_400_000,
            "w" => 7 * 86_400_000,
            "d" => 86_400_000,
            "h" => 3_600_000,
            "m" => 60_000,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(ms)?)?;
        any = true;
    }
    any.then_some(sign * total)
}

impl Compiled {
    pub(crate) fn matches(&self, st: &State, i: &Issue) -> bool {
        self.pred.as_ref().is_none_or(|p| p(st, i))
    }

    /// The ids of matching issues, ordered by the query's `ORDER BY` (default: key
    /// descending), ties broken by key.
    pub(crate) fn run(&self, st: &State) -> Vec<u64> {
        let mut hits: Vec<&Issue> = st.issues.values().filter(|i| self.matches(st, i)).collect();
        if self.order.is_empty() {
            hits.sort_by_key(|i| std::cmp::Reverse(i.num));
        } else {
            hits.sort_by(|a, b| {
                for (k, desc) in &self.order {
                    let o = compare(st, *k, a, b);
                    let o = if *desc { o.reverse() } else { o };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                a.num.cmp(&b.num)
            });
        }
        hits.into_iter().map(|i| i.id).collect()
    }
}

fn compare(st: &State, k: SortKey, a: &Issue, b: &Issue) -> Ordering {
    // Jira sorts empty values last ascending (first descending).
    fn opt<T: Ord>(a: Option<T>, b: Option<T>) -> Ordering {
        match (a, b) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    }
    match k {
        SortKey::Key => a.num.cmp(&b.num),
        SortKey::Created => a.created.cmp(&b.created),
        SortKey::Updated => a.updated.cmp(&b.updated),
        SortKey::Resolved => opt(a.resolution_date, b.resolution_date),
        SortKey::Due => opt(a.due, b.due),
        // Lower index = higher priority; ascending puts the lowest priority first.
        SortKey::Priority => b.priority.cmp(&a.priority),
        SortKey::Status => a.status.cmp(&b.status),
        SortKey::Rank => a.rank.cmp(&b.rank),
        SortKey::Summary => a.summary.to_lowercase().cmp(&b.summary.to_lowercase()),
        SortKey::IssueType => st.types[a.itype].name.cmp(st.types[b.itype].name),
        SortKey::StoryPoints => match (a.story_points, b.story_points) {
            (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_precedence_lists_and_order() {
        let q = parse(
            "project = PROJ AND (status in (\"To Do\", 'In Progress') OR key = PROJ-1) \
             AND NOT labels IS EMPTY ORDER BY updated DESC, key",
        )
        .expect("parses");
        assert!(matches!(q.expr, Some(Expr::And(ref v)) if v.len() == 3));
        assert_eq!(
            q.order,
            vec![("updated".to_owned(), true), ("key".to_owned(), false)]
        );
    }

    #[test]
    fn syntax_errors_name_the_place() {
        let e = parse("project = PROJ status = Done").expect_err("refused");
        assert!(
            e.message.starts_with(
                "Error in the JQL Query: Expecting either 'OR' or 'AND' but got 'status'."
            ),
            "{}",
            e.message
        );
        assert!(
            e.message.ends_with("(line 1, character 16)"),
            "{}",
            e.message
        );
        assert!(!e.soft);
        let e = parse("summary ~ \"open").expect_err("refused");
        assert!(e.message.contains("has not been completed"));
        let e = parse("project PROJ").expect_err("refused");
        assert!(e.message.contains("Expecting operator"), "{}", e.message);
    }

    #[test]
    fn dates_take_jiras_minute_formats_and_periods() {
        let now = chrono::Utc::now().timestamp_millis();
        let v = |s: &str| date_value(&Val::Str(s.into()), "updated", now);
        let a = v("2024/05/01 10:05").expect("slash form");
        let b = v("2024-05-01 10:05").expect("dash form");
        assert_eq!(a, b);
        assert_eq!(a % 60_000, 0);
        assert_eq!(
            v("2024-05-01").expect("date") + 10 * 3_600_000 + 5 * 60_000,
            a
        );
        let d = v("-1w 2d").expect("period");
        assert_eq!(now - 9 * 86_400_000, d);
        assert!(v("2024-13-01").is_err());
        assert!(v("yesterday").is_err());
        assert!(
            v("-5д").is_err(),
            "a multibyte unit is refused, not a panic"
        );
        assert!(v("é").is_err());
    }
}
