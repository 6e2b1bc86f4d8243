//! The Jira sandbox's store: one project with its users, issue types, workflow, components,
//! versions, sprints, issues, comments and links, and the write semantics Jira has (`updated`
//! moves on every change to an issue, including its comments and links; a transition into
//! Done sets the resolution and its date, reopening clears them; deleting a component or a
//! version strips it from every issue).
//!
//! Every write validates first and mutates after, so a refused write changes nothing.
//! Timestamps are milliseconds (Jira's resolution) from a clock that advances at least one
//! millisecond per write, so `updated` never ties between two writes and never goes back.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;
use serde_json::Value;

use super::doc::Doc;
use super::http::JiraError;
use super::{EpicStyle, Flavor};

pub(crate) mod catalog;
pub(crate) mod edit;

pub(crate) use catalog::{Cat, CustomFields, IssueType, LinkType, Priority, Resolution, Status};
pub(crate) use edit::Changes;

/// Unix milliseconds.
pub(crate) type Ms = i64;

pub(crate) fn now_ms() -> Ms {
    chrono::Utc::now().timestamp_millis()
}

#[derive(Debug, Clone)]
pub(crate) struct User {
    /// Cloud's account id.
    pub account_id: String,
    /// DC's user name (also the login the sandbox knows the user by on both flavours).
    pub name: String,
    /// DC's user key (`JIRAUSER10100`).
    pub key: String,
    pub display: String,
    pub email: String,
    pub time_zone: &'static str,
    pub active: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Project {
    pub id: u64,
    pub key: String,
    pub name: String,
    pub description: String,
    pub lead: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Component {
    pub id: u64,
    pub name: String,
    pub description: Option<String>,
    pub lead: Option<usize>,
    pub assignee_type: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Version {
    pub id: u64,
    pub name: String,
    pub description: Option<String>,
    pub released: bool,
    pub archived: bool,
    pub start_date: Option<NaiveDate>,
    pub release_date: Option<NaiveDate>,
}

#[derive(Debug, Clone)]
pub(crate) struct Sprint {
    pub id: u64,
    pub name: String,
    /// `closed`, `active` or `future`.
    pub state: &'static str,
    pub board: u64,
    pub goal: String,
    pub start: Ms,
    pub end: Ms,
    pub complete: Option<Ms>,
}

#[derive(Debug, Clone)]
pub(crate) struct Issue {
    pub id: u64,
    /// The number in the key (`PROJ-12` → 12).
    pub num: u64,
    /// Index into `State::types`.
    pub itype: usize,
    pub summary: String,
    pub description: Option<Doc>,
    pub environment: Option<Doc>,
    /// Index into `State::statuses`.
    pub status: usize,
    pub resolution: Option<usize>,
    pub resolution_date: Option<Ms>,
    pub priority: usize,
    pub assignee: Option<usize>,
    pub reporter: usize,
    pub creator: usize,
    pub labels: Vec<String>,
    pub components: Vec<u64>,
    pub fix_versions: Vec<u64>,
    /// Affects versions.
    pub versions: Vec<u64>,
    pub due: Option<NaiveDate>,
    /// Issue id of the parent: the story of a subtask, or (in the `parent` epic style) the
    /// epic of a story.
    pub parent: Option<u64>,
    /// Issue id of the epic (the "Epic Link" epic style).
    pub epic_link: Option<u64>,
    pub epic_name: Option<String>,
    pub story_points: Option<f64>,
    pub sprints: Vec<u64>,
    pub rank: String,
    pub created: Ms,
    pub updated: Ms,
    pub status_changed: Ms,
    /// Ids of the issue's comments, ascending (= creation order).
    pub comments: Vec<u64>,
    /// Ids of the links that touch this issue, in creation order.
    pub links: Vec<u64>,
    pub watchers: Vec<usize>,
    pub votes: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct Comment {
    pub id: u64,
    pub issue: u64,
    pub author: usize,
    pub update_author: usize,
    pub body: Doc,
    pub created: Ms,
    pub updated: Ms,
    /// `(type, value)`: `("role", "Developers")` or `("group", "jira-developers")`.
    pub visibility: Option<(String, String)>,
    pub properties: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    pub id: u64,
    /// Index into `State::link_types`.
    pub ltype: usize,
    /// The issue on the inward side (`is blocked by`).
    pub inward: u64,
    /// The issue on the outward side (`blocks`).
    pub outward: u64,
}

/// One step of the workflow.
#[derive(Debug, Clone)]
pub(crate) struct Transition {
    pub id: u32,
    pub name: &'static str,
    /// Statuses (indexes) it starts from.
    pub from: Vec<usize>,
    pub to: usize,
    /// Whether its screen asks for (and requires) a resolution.
    pub needs_resolution: bool,
}

/// Live totals, for tests and the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Counts {
    pub issues: u64,
    pub epics: u64,
    pub subtasks: u64,
    pub comments: u64,
    pub components: u64,
    pub versions: u64,
    pub links: u64,
}

/// The whole store.
#[derive(Debug)]
pub(crate) struct State {
    pub flavor: Flavor,
    pub epic_style: EpicStyle,
    pub project: Project,
    pub users: Vec<User>,
    by_account: HashMap<String, usize>,
    by_name: HashMap<String, usize>,
    pub types: Vec<IssueType>,
    pub statuses: Vec<Status>,
    pub priorities: Vec<Priority>,
    pub resolutions: Vec<Resolution>,
    pub link_types: Vec<LinkType>,
    /// The project's roles and the site's groups (what a comment can be restricted to).
    pub roles: Vec<String>,
    pub groups: Vec<String>,
    pub transitions: Vec<Transition>,
    pub fields: CustomFields,
    pub components: BTreeMap<u64, Component>,
    pub versions: BTreeMap<u64, Version>,
    pub sprints: Vec<Sprint>,
    pub issues: BTreeMap<u64, Issue>,
    /// Upper-case key → issue id, for live issues.
    by_key: HashMap<String, u64>,
    /// Parent id → ids of the issues whose `parent` it is (subtasks, and stories under an epic
    /// in the `parent` style), so rendering `subtasks` never scans the project.
    children: HashMap<u64, BTreeSet<u64>>,
    pub comments: BTreeMap<u64, Comment>,
    /// Issue entity properties, per issue id (gone with the issue).
    pub issue_properties: BTreeMap<u64, BTreeMap<String, Value>>,
    pub links: BTreeMap<u64, Link>,
    pub(crate) next_num: u64,
    pub(crate) next_comment_id: u64,
    pub(crate) next_link_id: u64,
    pub(crate) next_component_id: u64,
    pub(crate) next_version_id: u64,
    /// Last timestamp handed out; see [`State::tick`].
    pub clock: Ms,
    /// How far `POST /_sandbox/clock` moved time ahead of the wall clock.
    pub offset: Ms,
}

/// Issue ids are offset from key numbers so a client can never mistake one for the other.
const ISSUE_ID_BASE: u64 = 10_000;

impl State {
    pub(crate) fn new(
        flavor: Flavor,
        epic_style: EpicStyle,
        project: Project,
        users: Vec<User>,
        fields: CustomFields,
    ) -> State {
        let by_account = users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.account_id.clone(), i))
            .collect();
        let by_name = users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.name.to_lowercase(), i))
            .collect();
        let statuses = catalog::statuses(flavor);
        let transitions = catalog::workflow(&statuses);
        State {
            types: catalog::issue_types(flavor),
            priorities: catalog::priorities(),
            resolutions: catalog::resolutions(flavor),
            link_types: catalog::link_types(),
            roles: edit::ROLES.iter().map(|r| r.to_string()).collect(),
            groups: edit::GROUPS.iter().map(|g| g.to_string()).collect(),
            statuses,
            transitions,
            flavor,
            epic_style,
            project,
            users,
            by_account,
            by_name,
            fields,
            components: BTreeMap::new(),
            versions: BTreeMap::new(),
            sprints: Vec::new(),
            issues: BTreeMap::new(),
            by_key: HashMap::new(),
            children: HashMap::new(),
            comments: BTreeMap::new(),
            issue_properties: BTreeMap::new(),
            links: BTreeMap::new(),
            next_num: 1,
            next_comment_id: 10_000,
            next_link_id: 10_000,
            next_component_id: 10_000,
            next_version_id: 10_000,
            clock: 0,
            offset: 0,
        }
    }

    pub(crate) fn cloud(&self) -> bool {
        self.flavor == Flavor::Cloud
    }

    pub(crate) fn counts(&self) -> Counts {
        let mut c = Counts {
            issues: self.issues.len() as u64,
            comments: self.comments.len() as u64,
            components: self.components.len() as u64,
            versions: self.versions.len() as u64,
            links: self.links.len() as u64,
            ..Counts::default()
        };
        for i in self.issues.values() {
            let t = &self.types[i.itype];
            if t.subtask {
                c.subtasks += 1;
            } else if t.hierarchy == 1 {
                c.epics += 1;
            }
        }
        c
    }

    /// The sandbox's now: the wall clock plus any offset `/_sandbox/clock` added.
    pub(crate) fn now(&self) -> Ms {
        now_ms() + self.offset
    }

    /// The timestamp the next write gets: now, but at least one millisecond after the last.
    pub(crate) fn tick(&mut self) -> Ms {
        self.clock = self.now().max(self.clock + 1);
        self.clock
    }

    pub(crate) fn key_of(&self, num: u64) -> String {
        format!("{}-{num}", self.project.key)
    }

    pub(crate) fn issue_key(&self, i: &Issue) -> String {
        self.key_of(i.num)
    }

    // ----- look-ups -----

    pub(crate) fn user_by_account(&self, id: &str) -> Option<usize> {
        self.by_account.get(id).copied()
    }

    pub(crate) fn user_by_name(&self, name: &str) -> Option<usize> {
        self.by_name.get(&name.to_lowercase()).copied()
    }

    /// A user as the flavour names them in request bodies and JQL: the account id on Cloud,
    /// the user name (or key) on DC.
    pub(crate) fn user_by_ref(&self, r: &str) -> Option<usize> {
        if self.cloud() {
            self.user_by_account(r)
        } else {
            self.user_by_name(r)
                .or_else(|| self.users.iter().position(|u| u.key == r))
        }
    }

    /// Adds a user (a `--token` account the seed does not have); returns its index.
    pub(crate) fn add_user(&mut self, u: User) -> usize {
        let idx = self.users.len();
        self.by_account.insert(u.account_id.clone(), idx);
        self.by_name.insert(u.name.to_lowercase(), idx);
        self.users.push(u);
        idx
    }

    /// The issue with this id or key (a key in any case, as Jira takes it).
    pub(crate) fn find(&self, id_or_key: &str) -> Option<u64> {
        let s = id_or_key.trim();
        if let Ok(id) = s.parse::<u64>() {
            return self.issues.contains_key(&id).then_some(id);
        }
        self.by_key.get(&s.to_ascii_uppercase()).copied()
    }

    /// Like [`State::find`], or Jira's 404.
    pub(crate) fn issue_id(&self, id_or_key: &str) -> Result<u64, JiraError> {
        self.find(id_or_key).ok_or_else(JiraError::issue_not_found)
    }

    pub(crate) fn issue(&self, id: u64) -> Result<&Issue, JiraError> {
        self.issues.get(&id).ok_or_else(JiraError::issue_not_found)
    }

    pub(crate) fn status_by_name(&self, name: &str) -> Option<usize> {
        self.statuses
            .iter()
            .position(|s| s.name.eq_ignore_ascii_case(name) || s.id == name)
    }

    pub(crate) fn type_by_ref(&self, name_or_id: &str) -> Option<usize> {
        self.types
            .iter()
            .position(|t| t.name.eq_ignore_ascii_case(name_or_id) || t.id == name_or_id)
    }

    pub(crate) fn priority_by_ref(&self, name_or_id: &str) -> Option<usize> {
        self.priorities
            .iter()
            .position(|p| p.name.eq_ignore_ascii_case(name_or_id) || p.id == name_or_id)
    }

    pub(crate) fn resolution_by_ref(&self, name_or_id: &str) -> Option<usize> {
        self.resolutions
            .iter()
            .position(|r| r.name.eq_ignore_ascii_case(name_or_id) || r.id == name_or_id)
    }

    pub(crate) fn link_type_by_ref(&self, name_or_id: &str) -> Option<usize> {
        self.link_types.iter().position(|t| {
            t.name.eq_ignore_ascii_case(name_or_id)
                || t.id == name_or_id
                || t.inward.eq_ignore_ascii_case(name_or_id)
                || t.outward.eq_ignore_ascii_case(name_or_id)
        })
    }

    pub(crate) fn component_by_name(&self, name: &str) -> Option<u64> {
        self.components
            .values()
            .find(|c| c.name.eq_ignore_ascii_case(name))
            .map(|c| c.id)
    }

    pub(crate) fn version_by_name(&self, name: &str) -> Option<u64> {
        self.versions
            .values()
            .find(|v| v.name.eq_ignore_ascii_case(name))
            .map(|v| v.id)
    }

    pub(crate) fn sprint(&self, id: u64) -> Option<&Sprint> {
        self.sprints.iter().find(|s| s.id == id)
    }

    /// Whether the project key names this sandbox's project (by key, in any case, or id).
    pub(crate) fn is_project(&self, key_or_id: &str) -> bool {
        self.project.key.eq_ignore_ascii_case(key_or_id.trim())
            || self.project.id.to_string() == key_or_id.trim()
    }

    pub(crate) fn check_project(&self, key_or_id: &str) -> Result<(), JiraError> {
        if self.is_project(key_or_id) {
            Ok(())
        } else {
            Err(JiraError::project_not_found(key_or_id))
        }
    }

    pub(crate) fn is_epic(&self, i: &Issue) -> bool {
        self.types[i.itype].hierarchy == 1
    }

    /// Ids of an issue's subtasks, in key order.
    pub(crate) fn subtasks_of(&self, id: u64) -> Vec<u64> {
        self.children
            .get(&id)
            .into_iter()
            .flatten()
            .filter(|c| {
                self.issues
                    .get(c)
                    .is_some_and(|c| self.types[c.itype].subtask)
            })
            .copied()
            .collect()
    }

    /// Keeps the children index in step with a change of `parent`.
    fn reparent(&mut self, id: u64, old: Option<u64>, new: Option<u64>) {
        if old == new {
            return;
        }
        if let Some(o) = old {
            if let Some(set) = self.children.get_mut(&o) {
                set.remove(&id);
            }
        }
        if let Some(n) = new {
            self.children.entry(n).or_default().insert(id);
        }
    }

    /// The transitions available from an issue's status.
    pub(crate) fn available(&self, i: &Issue) -> Vec<&Transition> {
        self.transitions
            .iter()
            .filter(|t| t.from.contains(&i.status))
            .collect()
    }

    // ----- seeding (no validation, indexes maintained) -----

    pub(crate) fn insert_component(&mut self, c: Component) {
        self.next_component_id = self.next_component_id.max(c.id + 1);
        self.components.insert(c.id, c);
    }

    pub(crate) fn insert_version(&mut self, v: Version) {
        self.next_version_id = self.next_version_id.max(v.id + 1);
        self.versions.insert(v.id, v);
    }

    /// A fresh issue with the next key and id, not yet inserted.
    pub(crate) fn blank_issue(&mut self, itype: usize, reporter: usize, at: Ms) -> Issue {
        let num = self.next_num;
        self.next_num += 1;
        Issue {
            id: ISSUE_ID_BASE + num,
            num,
            itype,
            summary: String::new(),
            description: None,
            environment: None,
            status: 0,
            resolution: None,
            resolution_date: None,
            priority: 2,
            assignee: None,
            reporter,
            creator: reporter,
            labels: Vec::new(),
            components: Vec::new(),
            fix_versions: Vec::new(),
            versions: Vec::new(),
            due: None,
            parent: None,
            epic_link: None,
            epic_name: None,
            story_points: None,
            sprints: Vec::new(),
            rank: rank_for(num),
            created: at,
            updated: at,
            status_changed: at,
            comments: Vec::new(),
            links: Vec::new(),
            watchers: vec![reporter],
            votes: 0,
        }
    }

    pub(crate) fn insert_issue(&mut self, i: Issue) {
        self.by_key.insert(self.key_of(i.num), i.id);
        self.reparent(i.id, None, i.parent);
        self.issues.insert(i.id, i);
    }

    /// Adds a seeded comment (ids ascend with insertion).
    pub(crate) fn insert_comment(&mut self, mut c: Comment) -> u64 {
        let id = self.next_comment_id;
        self.next_comment_id += 1;
        c.id = id;
        if let Some(i) = self.issues.get_mut(&c.issue) {
            i.comments.push(id);
        }
        self.comments.insert(id, c);
        id
    }

    pub(crate) fn insert_link(&mut self, ltype: usize, inward: u64, outward: u64) -> u64 {
        let id = self.next_link_id;
        self.next_link_id += 1;
        self.links.insert(
            id,
            Link {
                id,
                ltype,
                inward,
                outward,
            },
        );
        for side in [inward, outward] {
            if let Some(i) = self.issues.get_mut(&side) {
                i.links.push(id);
            }
        }
        id
    }

    // ----- writes (validated by the caller through `edit`, applied here) -----

    /// Creates an issue from validated changes; returns its id.
    pub(crate) fn create_issue(&mut self, itype: usize, actor: usize, ch: Changes) -> u64 {
        let now = self.tick();
        let mut i = self.blank_issue(itype, actor, now);
        i.reporter = ch.reporter.unwrap_or(actor);
        i.creator = actor;
        i.watchers = vec![i.reporter];
        let initial = self
            .statuses
            .iter()
            .position(|s| s.category == Cat::New)
            .unwrap_or(0);
        i.status = initial;
        let id = i.id;
        ch.apply_to(&mut i);
        self.insert_issue(i);
        id
    }

    /// Applies validated changes to an issue and moves its `updated`. Changes that set a
    /// field to what it already holds are still an edit, as in Jira (the history shows
    /// nothing, but `updated` moves).
    pub(crate) fn edit_issue(&mut self, id: u64, ch: Changes) -> Result<(), JiraError> {
        let now = self.tick();
        let i = self
            .issues
            .get_mut(&id)
            .ok_or_else(JiraError::issue_not_found)?;
        let old = i.parent;
        ch.apply_to(i);
        i.updated = now;
        let new = i.parent;
        self.reparent(id, old, new);
        Ok(())
    }

    /// Moves an issue along a transition (validated by the caller), with the resolution its
    /// screen asked for.
    pub(crate) fn transition(
        &mut self,
        id: u64,
        t: usize,
        resolution: Option<usize>,
    ) -> Result<(), JiraError> {
        let now = self.tick();
        let to = self.transitions[t].to;
        let done = self.statuses[to].category == Cat::Done;
        let i = self
            .issues
            .get_mut(&id)
            .ok_or_else(JiraError::issue_not_found)?;
        if i.status != to {
            i.status_changed = now;
        }
        i.status = to;
        if done {
            i.resolution = resolution.or(i.resolution);
            i.resolution_date = Some(now);
        } else {
            i.resolution = None;
            i.resolution_date = None;
        }
        i.updated = now;
        Ok(())
    }

    /// Deletes an issue with its comments and links (and subtasks when `with_subtasks`).
    /// Issues linking to it move their `updated`, as their `issuelinks` changed.
    pub(crate) fn delete_issue(&mut self, id: u64, with_subtasks: bool) -> Result<(), JiraError> {
        let i = self.issue(id)?;
        let subs = self.subtasks_of(id);
        if !subs.is_empty() && !with_subtasks {
            return Err(JiraError::bad_request(&format!(
                "The issue '{}' has subtasks. Set 'deleteSubtasks' to true to delete it and \
                 all its subtasks.",
                self.issue_key(i)
            )));
        }
        for s in subs {
            self.remove_issue(s);
        }
        self.remove_issue(id);
        Ok(())
    }

    fn remove_issue(&mut self, id: u64) {
        let Some(i) = self.issues.remove(&id) else {
            return;
        };
        self.by_key.remove(&self.key_of(i.num));
        self.issue_properties.remove(&id);
        self.reparent(id, i.parent, None);
        self.children.remove(&id);
        for c in &i.comments {
            self.comments.remove(c);
        }
        let now = self.tick();
        for l in &i.links {
            if let Some(link) = self.links.remove(l) {
                let other = if link.inward == id {
                    link.outward
                } else {
                    link.inward
                };
                if let Some(o) = self.issues.get_mut(&other) {
                    o.links.retain(|x| x != l);
                    o.updated = now;
                }
            }
        }
        // Children of a deleted epic lose their epic, as in Jira.
        for other in self.issues.values_mut() {
            if other.epic_link == Some(id) {
                other.epic_link = None;
            }
            if other.parent == Some(id) {
                other.parent = None;
            }
        }
    }

    pub(crate) fn add_comment(
        &mut self,
        issue: u64,
        author: usize,
        body: Doc,
        visibility: Option<(String, String)>,
        properties: BTreeMap<String, Value>,
    ) -> Result<u64, JiraError> {
        self.issue(issue)?;
        let now = self.tick();
        let id = self.insert_comment(Comment {
            id: 0,
            issue,
            author,
            update_author: author,
            body,
            created: now,
            updated: now,
            visibility,
            properties,
        });
        if let Some(i) = self.issues.get_mut(&issue) {
            i.updated = now;
        }
        Ok(id)
    }

    /// Edits a comment's body (and visibility when given); the issue's `updated` moves too.
    pub(crate) fn edit_comment(
        &mut self,
        id: u64,
        editor: usize,
        body: Option<Doc>,
        visibility: Option<Option<(String, String)>>,
    ) -> Result<(), JiraError> {
        if !self.comments.contains_key(&id) {
            return Err(JiraError::comment_not_found(id));
        }
        let now = self.tick();
        let Some(c) = self.comments.get_mut(&id) else {
            return Err(JiraError::comment_not_found(id));
        };
        if let Some(b) = body {
            c.body = b;
        }
        if let Some(v) = visibility {
            c.visibility = v;
        }
        c.update_author = editor;
        c.updated = now;
        let issue = c.issue;
        if let Some(i) = self.issues.get_mut(&issue) {
            i.updated = now;
        }
        Ok(())
    }

    pub(crate) fn delete_comment(&mut self, id: u64) -> Result<(), JiraError> {
        let c = self
            .comments
            .remove(&id)
            .ok_or_else(|| JiraError::comment_not_found(id))?;
        let now = self.tick();
        if let Some(i) = self.issues.get_mut(&c.issue) {
            i.comments.retain(|x| *x != id);
            i.updated = now;
        }
        Ok(())
    }

    /// Links two issues; both move their `updated`. Returns the link id.
    pub(crate) fn link(&mut self, ltype: usize, inward: u64, outward: u64) -> u64 {
        let now = self.tick();
        let id = self.insert_link(ltype, inward, outward);
        for side in [inward, outward] {
            if let Some(i) = self.issues.get_mut(&side) {
                i.updated = now;
            }
        }
        id
    }

    pub(crate) fn unlink(&mut self, id: u64) -> Result<(), JiraError> {
        let link = self.links.remove(&id).ok_or_else(|| {
            JiraError::not_found(&format!("No issue link with id '{id}' exists."))
        })?;
        let now = self.tick();
        for side in [link.inward, link.outward] {
            if let Some(i) = self.issues.get_mut(&side) {
                i.links.retain(|x| *x != id);
                i.updated = now;
            }
        }
        Ok(())
    }

    /// Deletes a component; issues that had it lose it (or get `move_to` instead).
    pub(crate) fn delete_component(&mut self, id: u64, move_to: Option<u64>) {
        self.components.remove(&id);
        for i in self.issues.values_mut() {
            if let Some(pos) = i.components.iter().position(|c| *c == id) {
                i.components.remove(pos);
                if let Some(m) = move_to {
                    if !i.components.contains(&m) {
                        i.components.push(m);
                    }
                }
            }
        }
    }

    /// Deletes a version; issues lose it from fix and affects versions (or get the
    /// replacement for each).
    pub(crate) fn delete_version(&mut self, id: u64, fix_to: Option<u64>, affects_to: Option<u64>) {
        self.versions.remove(&id);
        for i in self.issues.values_mut() {
            for (list, to) in [(&mut i.fix_versions, fix_to), (&mut i.versions, affects_to)] {
                if let Some(pos) = list.iter().position(|v| *v == id) {
                    list.remove(pos);
                    if let Some(m) = to {
                        if !list.contains(&m) {
                            list.push(m);
                        }
                    }
                }
            }
        }
    }
}

/// A LexoRank-looking rank that sorts by key number (new issues go to the bottom).
pub(crate) fn rank_for(num: u64) -> String {
    format!("0|i{num:05x}:")
}

#[cfg(test)]
mod tests;
