//! Jira's workflows as a rollback learns them, and what planning reads besides the records.
//!
//! A status is not set, it is reached: each issue offers the transitions out of its current
//! status (`GET /issue/{key}/transitions`), which depend on its project and issue type. No
//! API lists a whole workflow to a non-administrator, so backtrack learns the graph the way
//! a person would: from the transitions of issues that sit in each status (planning asks one
//! issue per status it needs), and while walking (each hop shows the next status's
//! transitions). [`Workflows`] caches what was learned per project, issue type and status;
//! a breadth-first search over it gives the shortest known path.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::Value;

use crate::record::jira::{JiraRef, JiraStatus};
use crate::tracker::operation::Hop;

/// Where a workflow's transitions start: project key, issue type id, status id.
pub type StatusKey = (String, String, String);

/// One transition out of a status, as `GET /issue/{key}/transitions?expand=transitions.fields`
/// describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub id: String,
    pub name: String,
    pub to: JiraStatus,
    /// Its screen requires a resolution (entering a done status).
    pub needs_resolution: bool,
    /// Its screen shows the resolution (so it may be set, or cleared).
    pub resolution_on_screen: bool,
    /// The resolutions the screen allows.
    pub resolutions: Vec<JiraRef>,
}

impl Edge {
    /// Reads one entry of a transitions listing.
    pub fn parse(t: &Value) -> Option<Edge> {
        let id = t.get("id").and_then(|v| {
            v.as_str()
                .map(str::to_string)
                .or_else(|| v.as_u64().map(|n| n.to_string()))
        })?;
        let to = t.get("to")?;
        let status = JiraStatus {
            id: to.get("id").and_then(|v| {
                v.as_str()
                    .map(str::to_string)
                    .or_else(|| v.as_u64().map(|n| n.to_string()))
            })?,
            name: to.get("name").and_then(Value::as_str)?.to_string(),
            category: to
                .get("statusCategory")
                .and_then(|c| c.get("key"))
                .and_then(Value::as_str)
                .map(str::to_string),
        };
        let resolution = t.get("fields").and_then(|f| f.get("resolution"));
        let resolutions = resolution
            .and_then(|r| r.get("allowedValues"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|r| {
                        Some(JiraRef {
                            id: r.get("id").and_then(Value::as_str)?.to_string(),
                            name: r.get("name").and_then(Value::as_str)?.to_string(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(Edge {
            id,
            name: t
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            to: status,
            needs_resolution: resolution
                .and_then(|r| r.get("required"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
            resolution_on_screen: resolution.is_some(),
            resolutions,
        })
    }

    pub fn hop(&self) -> Hop {
        Hop {
            transition: self.id.clone(),
            name: self.name.clone(),
            to: self.to.name.clone(),
        }
    }
}

/// What the learned workflow says about getting from one status to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Already there.
    Here,
    /// The shortest known path.
    Path(Vec<Edge>),
    /// Every status reachable from the start is known, and none is the target.
    Unreachable,
    /// Not found among what is known, and some reachable status's transitions are not
    /// known yet: the walk discovers them.
    Unknown,
}

/// The transitions learned so far, per project, issue type and status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Workflows {
    edges: BTreeMap<StatusKey, Vec<Edge>>,
}

impl Workflows {
    /// Records the transitions out of one status.
    pub fn learn(&mut self, from: StatusKey, edges: Vec<Edge>) {
        self.edges.insert(from, edges);
    }

    pub fn knows(&self, from: &StatusKey) -> bool {
        self.edges.contains_key(from)
    }

    /// Breadth-first search from `from` (its key) to the status `to` (an id): the shortest
    /// path over known transitions, with the first status whose transitions are unknown
    /// returned beside an unknown route.
    fn search(&self, from: &StatusKey, to: &str) -> (Route, Option<Vec<Edge>>) {
        if from.2 == to {
            return (Route::Here, None);
        }
        let (project, itype) = (&from.0, &from.1);
        let key = |status: &str| (project.clone(), itype.clone(), status.to_string());
        let mut seen: BTreeSet<String> = BTreeSet::from([from.2.clone()]);
        let mut queue: VecDeque<(String, Vec<Edge>)> = VecDeque::from([(from.2.clone(), vec![])]);
        let mut frontier: Option<Vec<Edge>> = None;
        while let Some((status, path)) = queue.pop_front() {
            let Some(edges) = self.edges.get(&key(&status)) else {
                if frontier.is_none() {
                    frontier = Some(path);
                }
                continue;
            };
            for e in edges {
                if !seen.insert(e.to.id.clone()) {
                    continue;
                }
                let mut next = path.clone();
                next.push(e.clone());
                if e.to.id == to {
                    return (Route::Path(next), None);
                }
                queue.push_back((e.to.id.clone(), next));
            }
        }
        match frontier {
            Some(path) => (Route::Unknown, Some(path)),
            None => (Route::Unreachable, None),
        }
    }

    /// The route from status `from` to status id `to`.
    pub fn route(&self, from: &StatusKey, to: &str) -> Route {
        self.search(from, to).0
    }

    /// The next transition a walk takes: the first of the shortest known path, else the
    /// first towards the nearest status whose transitions are unknown (to learn them).
    pub fn next(&self, from: &StatusKey, to: &str) -> Option<Edge> {
        match self.search(from, to) {
            (Route::Path(path), _) => path.into_iter().next(),
            (Route::Unknown, Some(path)) => path.into_iter().next(),
            _ => None,
        }
    }

    /// The statuses a search from `from` reaches whose transitions are not known yet,
    /// nearest first.
    pub fn unexplored(&self, from: &StatusKey) -> Vec<String> {
        let (project, itype) = (&from.0, &from.1);
        let mut seen: BTreeSet<String> = BTreeSet::from([from.2.clone()]);
        let mut queue = VecDeque::from([from.2.clone()]);
        let mut out = Vec::new();
        while let Some(status) = queue.pop_front() {
            match self
                .edges
                .get(&(project.clone(), itype.clone(), status.clone()))
            {
                None => out.push(status),
                Some(edges) => {
                    for e in edges {
                        if seen.insert(e.to.id.clone()) {
                            queue.push_back(e.to.id.clone());
                        }
                    }
                }
            }
        }
        out
    }
}

/// One status change a plan needs: from the issue's status to the target's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkRequest {
    pub from: StatusKey,
    pub to: String,
}

/// What planning a Jira rollback asks the site, besides the records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextRequest {
    /// Issues (id, key) whose fields change: their `editmeta`.
    pub editmeta: Vec<(u64, String)>,
    pub walks: Vec<WalkRequest>,
    /// One live issue per status (by [`StatusKey`]), whose transitions show that status's.
    pub samples: BTreeMap<StatusKey, String>,
    /// Issues (keys) that lost comments: which of their comments restore deleted ones.
    pub restored: Vec<String>,
    /// Which issues earlier rollbacks recreated (by their issue property), among those
    /// created on or after this day: asked when the target has deleted issues or the site
    /// has new ones.
    pub recreated_since: Option<chrono::NaiveDate>,
    /// Deleted issues (original ids) that had comments: on their recreations, which
    /// comments restore deleted ones.
    pub recreated_comments: BTreeSet<u64>,
    /// A restore into another project: that project's create metadata (see [`CreateMeta`]).
    pub create_meta: Option<String>,
    /// A restore into another project: people (account ids on Cloud, user names on Data
    /// Center) to look up, to know which the site knows.
    pub users: BTreeSet<String>,
    /// A restore into another project: groups comments are restricted to, to know which
    /// the site has.
    pub groups: BTreeSet<String>,
}

impl ContextRequest {
    pub fn is_empty(&self) -> bool {
        self.editmeta.is_empty()
            && self.walks.is_empty()
            && self.restored.is_empty()
            && self.recreated_since.is_none()
            && self.create_meta.is_none()
    }
}

/// An issue a rollback recreated, found by its issue property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recreation {
    /// The recreation's key.
    pub key: String,
    /// The deleted original's key.
    pub original_key: String,
}

/// What the site said: per issue, the fields this user may set (custom fields by meaning:
/// `story_points`, `epic_link`), and the workflows learned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RollbackContext {
    pub editable: BTreeMap<u64, BTreeSet<String>>,
    pub workflows: Workflows,
    /// Comments that restore deleted ones (marked by a comment property): original id →
    /// live id.
    pub restored: BTreeMap<u64, u64>,
    /// Issues that restore deleted ones (marked by an issue property): original id → the
    /// recreation.
    pub recreated: BTreeMap<u64, Recreation>,
    /// A restore into another project: what that project accepts on a create.
    pub create_meta: Option<CreateMeta>,
}

/// One issue type a project's create screen offers, with the fields it may set (custom
/// fields by meaning: `story_points`, `epic_link`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateType {
    pub id: String,
    pub name: String,
    pub subtask: bool,
    pub fields: BTreeSet<String>,
    /// Of `fields`, those a create must set (named the same way).
    pub required: BTreeSet<String>,
    /// The statuses of the type's workflow, in the order the site lists them.
    pub statuses: Vec<JiraStatus>,
}

/// What a project accepts on a create (`createmeta`), and the site's vocabulary a copy's
/// values are mapped onto by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateMeta {
    pub project: String,
    /// Rich text on this site is ADF (Cloud) rather than wiki markup (Data Center).
    pub adf: bool,
    pub types: Vec<CreateType>,
    pub priorities: Vec<JiraRef>,
    /// Issue link type names.
    pub link_types: BTreeSet<String>,
    /// Of the people asked about, those the site knows.
    pub users: BTreeSet<String>,
    /// The site's resolutions.
    pub resolutions: Vec<JiraRef>,
    /// The project's roles (what a comment can be restricted to), by name.
    pub roles: BTreeSet<String>,
    /// Of the groups asked about, those the site has.
    pub groups: BTreeSet<String>,
}

impl CreateMeta {
    /// The type of this name (case-insensitively), standard or subtask as asked.
    pub fn issue_type(&self, name: &str, subtask: bool) -> Option<&CreateType> {
        self.types
            .iter()
            .find(|t| t.subtask == subtask && t.name.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn edge(id: &str, to: &str) -> Edge {
        Edge {
            id: id.into(),
            name: format!("to {to}"),
            to: JiraStatus {
                id: to.into(),
                name: to.into(),
                category: None,
            },
            needs_resolution: false,
            resolution_on_screen: false,
            resolutions: vec![],
        }
    }

    fn key(s: &str) -> StatusKey {
        ("P".into(), "10001".into(), s.into())
    }

    #[test]
    fn shortest_paths_unknowns_and_unreachable_statuses() {
        let mut w = Workflows::default();
        w.learn(key("todo"), vec![edge("11", "prog")]);
        w.learn(
            key("prog"),
            vec![edge("21", "todo"), edge("31", "review"), edge("51", "done")],
        );
        w.learn(key("review"), vec![edge("41", "prog"), edge("51", "done")]);
        // Two hops by the shortest path, not three through review.
        let Route::Path(p) = w.route(&key("todo"), "done") else {
            panic!("no path")
        };
        assert_eq!(
            p.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["11", "51"]
        );
        assert_eq!(w.route(&key("done"), "todo"), Route::Unknown);
        assert_eq!(w.unexplored(&key("todo")), ["done"]);
        // The walk heads for the unknown status to learn it.
        assert_eq!(w.next(&key("review"), "reopened").unwrap().id, "51");
        w.learn(key("done"), vec![]);
        assert_eq!(w.route(&key("todo"), "reopened"), Route::Unreachable);
        assert_eq!(w.next(&key("todo"), "reopened"), None);
        assert_eq!(w.route(&key("todo"), "todo"), Route::Here);
    }
}
