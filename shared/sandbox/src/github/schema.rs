//! GitHub's first line of defence on a write: the request body is checked against the
//! operation's JSON schema before anything else, and a body of the wrong shape is refused
//! with 422 and a message in GitHub's words (recorded from github.com):
//!
//! ```text
//! Invalid request.
//!
//! "title" wasn't supplied.
//! For 'properties/body', 42 is not a string or null.
//! ```
//!
//! Values are shown the way GitHub's (Ruby) validator prints them: `nil`, `"text"`,
//! `[1, 2]`, `{"k" => 1}`. Only what passes here reaches the semantic checks (blank titles,
//! unknown milestones…), which answer "Validation Failed" with an `errors` list instead.

use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::http::ApiError;

/// The JSON types GitHub names in its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    Array,
    Boolean,
    Integer,
    Null,
    Number,
    Object,
    Str,
}

use Kind::{Array, Integer, Null, Object, Str};

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Array => "array",
            Kind::Boolean => "boolean",
            Integer => "integer",
            Null => "null",
            Kind::Number => "number",
            Object => "object",
            Str => "string",
        }
    }

    fn of(v: &Value) -> Kind {
        match v {
            Value::Null => Null,
            Value::Bool(_) => Kind::Boolean,
            Value::Number(n) if n.is_i64() || n.is_u64() => Integer,
            Value::Number(_) => Kind::Number,
            Value::String(_) => Str,
            Value::Array(_) => Array,
            Value::Object(_) => Object,
        }
    }
}

/// Refuses a value of none of `kinds`: "is not a string", "is not a string or null",
/// "is not an integer, string, or null" (alphabetical, null last).
fn describe(kinds: &[Kind]) -> String {
    let mut names: Vec<&str> = kinds
        .iter()
        .filter(|k| **k != Null)
        .map(|k| k.name())
        .collect();
    names.sort_unstable();
    if kinds.contains(&Null) {
        names.push("null");
    }
    let list = match names.as_slice() {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [a, b] => format!("{a} or {b}"),
        [rest @ .., last] => format!("{}, or {last}", rest.join(", ")),
    };
    let article = if list.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("is not {article} {list}")
}

/// A JSON value as GitHub's validator prints it (Ruby's `inspect`).
pub(crate) fn inspect(v: &Value) -> String {
    match v {
        Value::Null => "nil".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
        Value::Array(items) => {
            let inner: Vec<_> = items.iter().map(inspect).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(m) if m.is_empty() => "{}".to_owned(),
        Value::Object(m) => {
            let inner: Vec<_> = m
                .iter()
                .map(|(k, v)| format!("{} => {}", inspect(&Value::String(k.clone())), inspect(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

fn invalid_request(problems: &[String]) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        &format!("Invalid request.\n\n{}", problems.join("\n")),
    )
}

/// The request body as an object, or GitHub's refusal of any other JSON.
pub(crate) fn object(v: &Value) -> Result<&Map<String, Value>, ApiError> {
    match v {
        Value::Object(o) => Ok(o),
        other => Err(invalid_request(&[format!(
            "For 'links/0/schema', {} {}.",
            inspect(other),
            describe(&[Object])
        )])),
    }
}

/// Collects every problem with a body's shape, then refuses them together.
#[derive(Debug)]
pub(crate) struct Shape<'a> {
    body: &'a Map<String, Value>,
    problems: Vec<String>,
}

impl<'a> Shape<'a> {
    pub(crate) fn of(v: &'a Value) -> Result<Shape<'a>, ApiError> {
        Ok(Shape {
            body: object(v)?,
            problems: Vec::new(),
        })
    }

    /// `key` must be present (whatever its value).
    pub(crate) fn required(&mut self, key: &str) -> &mut Self {
        if !self.body.contains_key(key) {
            self.problems.push(format!("\"{key}\" wasn't supplied."));
        }
        self
    }

    /// `key`, if present, must be one of `kinds`.
    pub(crate) fn kinds(&mut self, key: &str, kinds: &[Kind]) -> &mut Self {
        if let Some(v) = self.body.get(key) {
            if !kinds.contains(&Kind::of(v)) {
                self.problems.push(format!(
                    "For 'properties/{key}', {} {}.",
                    inspect(v),
                    describe(kinds)
                ));
            }
        }
        self
    }

    /// `key`, if present, must be an array whose items are of `items` kinds.
    pub(crate) fn array_of(&mut self, key: &str, items: &[Kind]) -> &mut Self {
        match self.body.get(key) {
            None => {}
            Some(Value::Array(list)) => {
                for item in list.iter().filter(|i| !items.contains(&Kind::of(i))) {
                    self.problems.push(format!(
                        "For 'items', {} {}.",
                        inspect(item),
                        describe(items)
                    ));
                }
            }
            Some(v) => self.problems.push(format!(
                "For 'properties/{key}', {} {}.",
                inspect(v),
                describe(&[Array])
            )),
        }
        self
    }

    /// `key`, if present, must be one of `allowed` (or null when `nullable`).
    pub(crate) fn one_of(&mut self, key: &str, allowed: &[&str], nullable: bool) -> &mut Self {
        let ok = match self.body.get(key) {
            None => true,
            Some(Value::Null) => nullable,
            Some(Value::String(s)) => allowed.contains(&s.as_str()),
            Some(_) => false,
        };
        if !ok {
            let mut members: Vec<String> = allowed
                .iter()
                .map(|a| inspect(&Value::String((*a).to_owned())))
                .collect();
            if nullable {
                members.push("nil".to_owned());
            }
            let v = self.body.get(key).map(inspect).unwrap_or_default();
            self.problems.push(format!(
                "For 'properties/{key}', {v} is not a member of [{}].",
                members.join(", ")
            ));
        }
        self
    }

    /// The body, if every check passed.
    pub(crate) fn check(&mut self) -> Result<&'a Map<String, Value>, ApiError> {
        if self.problems.is_empty() {
            Ok(self.body)
        } else {
            Err(invalid_request(&self.problems))
        }
    }
}

/// The kinds most fields take.
pub(crate) const STRING: &[Kind] = &[Str];
pub(crate) const STRING_OR_NULL: &[Kind] = &[Str, Null];
pub(crate) const INT_OR_STRING: &[Kind] = &[Integer, Str];
pub(crate) const INT_STRING_OR_NULL: &[Kind] = &[Integer, Str, Null];
pub(crate) const STRING_OR_OBJECT: &[Kind] = &[Str, Object];
pub(crate) const INTEGER: &[Kind] = &[Integer];
pub(crate) const BOOLEAN: &[Kind] = &[Kind::Boolean];

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn messages_name_types_the_way_github_does() {
        assert_eq!(describe(STRING), "is not a string");
        assert_eq!(describe(STRING_OR_NULL), "is not a string or null");
        assert_eq!(
            describe(INT_STRING_OR_NULL),
            "is not an integer, string, or null"
        );
        assert_eq!(describe(&[Array]), "is not an array");
        assert_eq!(
            inspect(&json!({"title": "", "number": 0})),
            r#"{"number" => 0, "title" => ""}"#
        );
        assert_eq!(inspect(&json!([1, "a", null])), r#"[1, "a", nil]"#);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let body = json!({"body": 42, "labels": "bug"});
        let err = Shape::of(&body)
            .and_then(|mut s| {
                s.required("title")
                    .kinds("body", STRING_OR_NULL)
                    .array_of("labels", STRING_OR_OBJECT)
                    .check()
                    .map(|_| ())
            })
            .err();
        let text = format!("{err:?}");
        assert!(text.contains("\\\"title\\\" wasn't supplied."), "{text}");
        assert!(text.contains("For 'properties/body', 42 is not a string or null."));
        assert!(text.contains("For 'properties/labels', \\\"bug\\\" is not an array."));
    }
}
