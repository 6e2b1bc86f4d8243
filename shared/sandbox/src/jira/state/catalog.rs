//! The site's fixed vocabulary: issue types, statuses and their categories, priorities,
//! resolutions, link types, the workflow and the custom fields, with the ids each flavour
//! gives them (Cloud numbers its own from 10000; Data Center keeps its historic small ids).

use super::Transition;
use crate::jira::Flavor;

#[derive(Debug, Clone)]
pub(crate) struct IssueType {
    pub id: String,
    pub name: &'static str,
    pub description: &'static str,
    pub subtask: bool,
    /// 1 epic, 0 standard, -1 subtask.
    pub hierarchy: i32,
    pub avatar: u64,
}

/// A status category, as Jira keys them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cat {
    New,
    Indeterminate,
    Done,
}

impl Cat {
    /// `(id, key, colorName, name)`.
    pub(crate) fn parts(self) -> (u64, &'static str, &'static str, &'static str) {
        match self {
            Cat::New => (2, "new", "blue-gray", "To Do"),
            Cat::Indeterminate => (4, "indeterminate", "yellow", "In Progress"),
            Cat::Done => (3, "done", "green", "Done"),
        }
    }

    pub(crate) const ALL: [Cat; 3] = [Cat::New, Cat::Indeterminate, Cat::Done];
}

#[derive(Debug, Clone)]
pub(crate) struct Status {
    pub id: String,
    pub name: &'static str,
    pub description: &'static str,
    pub category: Cat,
}

#[derive(Debug, Clone)]
pub(crate) struct Priority {
    pub id: String,
    pub name: &'static str,
    pub description: &'static str,
    pub color: &'static str,
    pub icon: &'static str,
}

#[derive(Debug, Clone)]
pub(crate) struct Resolution {
    pub id: String,
    pub name: &'static str,
    pub description: &'static str,
}

#[derive(Debug, Clone)]
pub(crate) struct LinkType {
    pub id: String,
    pub name: &'static str,
    pub inward: &'static str,
    pub outward: &'static str,
}

/// Numeric ids of the custom fields (`customfield_<n>`). They differ per flavour and per seed,
/// as they differ per site: clients must find them by name through `/field`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CustomFields {
    pub story_points: u64,
    pub sprint: u64,
    pub rank: u64,
    /// Only in the "Epic Link" epic style (company-managed / Data Center).
    pub epic_link: u64,
    pub epic_name: u64,
}

impl CustomFields {
    /// Picks ids from the seed: a flavour-specific base and a seed-dependent order.
    pub(crate) fn for_seed(flavor: Flavor, seed: u64) -> CustomFields {
        let base = match flavor {
            Flavor::Cloud => 10_014,
            Flavor::DataCenter => 10_100,
        } + (seed % 37) * 3;
        let mut slots = [0u64, 1, 2, 3, 4];
        // A seed-dependent rotation and swap: cheap, deterministic, and never the same
        // layout for neighbouring seeds.
        slots.rotate_left((seed % 5) as usize);
        if (seed / 5) % 2 == 1 {
            slots.swap(0, 3);
        }
        let id = |k: usize| base + slots[k] * 2;
        CustomFields {
            story_points: id(0),
            sprint: id(1),
            rank: id(2),
            epic_link: id(3),
            epic_name: id(4),
        }
    }

    pub(crate) fn name(id: u64) -> String {
        format!("customfield_{id}")
    }
}

pub(crate) fn issue_types(flavor: Flavor) -> Vec<IssueType> {
    let cloud = flavor == Flavor::Cloud;
    let t = |cloud_id: &str, dc_id: &str, name, description, hierarchy: i32, avatar| IssueType {
        id: if cloud { cloud_id } else { dc_id }.to_owned(),
        name,
        description,
        subtask: hierarchy < 0,
        hierarchy,
        avatar,
    };
    vec![
        t(
            "10000",
            "10000",
            "Epic",
            "A big user story that needs to be broken down.",
            1,
            10307,
        ),
        t(
            "10001",
            "10001",
            "Story",
            "Functionality or a feature expressed as a user goal.",
            0,
            10315,
        ),
        t(
            "10002",
            "3",
            "Task",
            "A small, distinct piece of work.",
            0,
            10318,
        ),
        t("10003", "1", "Bug", "A problem or error.", 0, 10303),
        t(
            "10004",
            "5",
            if cloud { "Subtask" } else { "Sub-task" },
            "A small piece of work that's part of a larger task.",
            -1,
            10316,
        ),
    ]
}

/// The statuses, in workflow order: To Do, In Progress, In Review, Done, Reopened.
pub(crate) fn statuses(flavor: Flavor) -> Vec<Status> {
    let cloud = flavor == Flavor::Cloud;
    let s = |cloud_id: &str, dc_id: &str, name, description, category| Status {
        id: if cloud { cloud_id } else { dc_id }.to_owned(),
        name,
        description,
        category,
    };
    vec![
        s("10000", "10000", "To Do", "", Cat::New),
        s(
            "3",
            "3",
            "In Progress",
            "This issue is being actively worked on at the moment by the assignee.",
            Cat::Indeterminate,
        ),
        s(
            "10001",
            "10100",
            "In Review",
            "The change is waiting for a reviewer.",
            Cat::Indeterminate,
        ),
        s("10002", "10001", "Done", "", Cat::Done),
        s(
            "4",
            "4",
            "Reopened",
            "This issue was once resolved, but the resolution was deemed incorrect.",
            Cat::New,
        ),
    ]
}

/// Indexes into [`statuses`].
pub(crate) const TO_DO: usize = 0;
pub(crate) const IN_PROGRESS: usize = 1;
pub(crate) const IN_REVIEW: usize = 2;
pub(crate) const DONE: usize = 3;
pub(crate) const REOPENED: usize = 4;

/// The workflow. Not every status is one step from every other: To Do reaches Done only
/// through In Progress, Done leaves only by Reopen, and Done's screen requires a resolution.
pub(crate) fn workflow(statuses: &[Status]) -> Vec<Transition> {
    debug_assert_eq!(statuses.len(), 5);
    let t = |id, name, from: &[usize], to, needs_resolution| Transition {
        id,
        name,
        from: from.to_vec(),
        to,
        needs_resolution,
    };
    vec![
        t(11, "Start Progress", &[TO_DO, REOPENED], IN_PROGRESS, false),
        t(21, "Stop Progress", &[IN_PROGRESS], TO_DO, false),
        t(31, "Submit for Review", &[IN_PROGRESS], IN_REVIEW, false),
        t(41, "Request Changes", &[IN_REVIEW], IN_PROGRESS, false),
        t(51, "Done", &[IN_PROGRESS, IN_REVIEW], DONE, true),
        t(61, "Reopen", &[DONE], REOPENED, false),
    ]
}

/// The workflow with Done final (no Reopen): see [`crate::jira::Workflow::Restricted`].
pub(crate) fn restricted_workflow(statuses: &[Status]) -> Vec<Transition> {
    let mut w = workflow(statuses);
    w.retain(|t| !t.from.contains(&DONE));
    w
}

pub(crate) fn priorities() -> Vec<Priority> {
    let p = |id: &str, name, description, color, icon| Priority {
        id: id.to_owned(),
        name,
        description,
        color,
        icon,
    };
    vec![
        p(
            "1",
            "Highest",
            "This problem will block progress.",
            "#d04437",
            "highest",
        ),
        p(
            "2",
            "High",
            "Serious problem that could block progress.",
            "#f15C75",
            "high",
        ),
        p(
            "3",
            "Medium",
            "Has the potential to affect progress.",
            "#f79232",
            "medium",
        ),
        p(
            "4",
            "Low",
            "Minor problem or easily worked around.",
            "#707070",
            "low",
        ),
        p(
            "5",
            "Lowest",
            "Trivial problem with little or no impact on progress.",
            "#999999",
            "lowest",
        ),
    ]
}

/// Index of Medium, the default priority.
pub(crate) const MEDIUM: usize = 2;

pub(crate) fn resolutions(flavor: Flavor) -> Vec<Resolution> {
    let cloud = flavor == Flavor::Cloud;
    let r = |cloud_id: &str, dc_id: &str, name, description| Resolution {
        id: if cloud { cloud_id } else { dc_id }.to_owned(),
        name,
        description,
    };
    vec![
        r(
            "10000",
            "10000",
            "Done",
            "Work has been completed on this issue.",
        ),
        r("10001", "2", "Won't Do", "This issue won't be actioned."),
        r(
            "10002",
            "3",
            "Duplicate",
            "The problem is a duplicate of an existing issue.",
        ),
        r(
            "10003",
            "5",
            "Cannot Reproduce",
            "All attempts at reproducing this issue failed, or not enough information was \
             available to reproduce the issue.",
        ),
    ]
}

pub(crate) fn link_types() -> Vec<LinkType> {
    let l = |id: &str, name, inward, outward| LinkType {
        id: id.to_owned(),
        name,
        inward,
        outward,
    };
    vec![
        l("10000", "Blocks", "is blocked by", "blocks"),
        l("10001", "Cloners", "is cloned by", "clones"),
        l("10002", "Duplicate", "is duplicated by", "duplicates"),
        l("10003", "Relates", "relates to", "relates to"),
    ]
}
