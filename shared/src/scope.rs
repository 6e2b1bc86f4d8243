//! What a snapshot covers: parsed and validated once from user text, typed everywhere after.
//!
//! GitHub owner and repository names are case-insensitive (`ACME/Widgets` and `acme/widgets`
//! are one repository), so a scope has two forms: the *display* form the user typed, kept for
//! output, and the normalised [`Scope::key`], which is its identity — equality, hashing,
//! ordering, catalog keys, locks and storage paths all use the key, so one repository has one
//! lock and one history whatever case it is typed in.
//!
//! Jira scopes name a project (`jira:PROJ`: every issue in it, subtasks included) or an epic
//! (`jira:PROJ-123`: the epic, its children and their subtasks). Jira resolves project and
//! issue keys case-insensitively, so their key is the upper-case form. The Jira site itself
//! is not part of the scope (it comes from `JIRA_BASE_URL`), as the GitHub host is not part of
//! a GitHub scope.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The accepted textual forms, quoted in every parse error so the user sees the fix.
pub const SCOPE_FORMS: &str = "github:OWNER/REPO (e.g. github:acme/widgets), jira:PROJECT (e.g. jira:PROJ) or jira:EPIC-KEY (e.g. jira:PROJ-123)";

/// A tracker scope such as `github:acme/widgets`.
///
/// Lives as long as the command or function that parsed it; serialized in its display form in
/// manifests and catalog rows (so its `Display` output is part of the storage format), and
/// compared, hashed and keyed by its normalised [`key`](Scope::key).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Scope {
    /// A GitHub repository's issues, pull requests (as issues), comments, labels, milestones.
    GitHub { owner: String, repo: String },
    /// A Jira project: every issue in it (subtasks included), its components and versions.
    JiraProject { project: String },
    /// A Jira epic: the epic, its children (by `parent`, or by the Epic Link field), their
    /// subtasks, and the components and versions of the epic's project.
    JiraEpic { project: String, number: u64 },
}

/// Which tracker a scope lives in: what decides the client, the record kinds and the fields
/// a diff compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackerKind {
    GitHub,
    Jira,
}

/// What `snapshot create` takes: one scope, or every repository a GitHub owner has that
/// the credentials can see (`github:ORG/*`), listed afresh at each run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Selection {
    One(Scope),
    /// Every repository of a GitHub organisation (or user).
    GitHubOwner {
        owner: String,
    },
}

/// The form of a whole-owner selection, quoted where it is refused.
pub const OWNER_FORM: &str = "github:OWNER/* (every repository of OWNER)";

impl FromStr for Selection {
    type Err = ScopeError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        if let Some(owner) = input
            .strip_prefix("github:")
            .and_then(|rest| rest.strip_suffix("/*"))
        {
            if !valid_owner(owner) {
                return Err(ScopeError {
                    input: input.to_string(),
                    reason: "the owner is not a valid GitHub login".into(),
                });
            }
            return Ok(Selection::GitHubOwner {
                owner: owner.to_string(),
            });
        }
        input.parse().map(Selection::One)
    }
}

impl fmt::Display for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selection::One(s) => s.fmt(f),
            Selection::GitHubOwner { owner } => write!(f, "github:{owner}/*"),
        }
    }
}

/// Why a scope string was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid scope {input:?}: {reason}; accepted forms: {SCOPE_FORMS}")]
pub struct ScopeError {
    pub input: String,
    pub reason: String,
}

impl Scope {
    /// A GitHub scope; validates the owner and repository names as GitHub does.
    pub fn github(owner: &str, repo: &str) -> Result<Self, ScopeError> {
        format!("github:{owner}/{repo}").parse()
    }

    /// The normalised form, the scope's identity: `github:acme/widgets` for every casing of
    /// that repository. Catalogs key rows, locks and jobs by it.
    pub fn key(&self) -> String {
        match self {
            Scope::GitHub { owner, repo } => format!(
                "github:{}/{}",
                owner.to_ascii_lowercase(),
                repo.to_ascii_lowercase()
            ),
            Scope::JiraProject { project } => format!("jira:{}", project.to_ascii_uppercase()),
            Scope::JiraEpic { project, number } => {
                format!("jira:{}-{number}", project.to_ascii_uppercase())
            }
        }
    }

    /// A file-name-safe, collision-free form of the key used in storage keys
    /// (`manifests/<slug>/…`); lowercase, so case-insensitive filesystems agree with it.
    pub fn slug(&self) -> String {
        match self {
            // `/` cannot appear in either part, and `--` never appears in an owner name
            // (GitHub forbids consecutive hyphens there), so the mapping is reversible.
            Scope::GitHub { owner, repo } => format!(
                "github--{}--{}",
                owner.to_ascii_lowercase(),
                repo.to_ascii_lowercase()
            ),
            // A project key holds no `-`, so a project's slug and an epic's never collide.
            Scope::JiraProject { project } => format!("jira--{}", project.to_ascii_lowercase()),
            Scope::JiraEpic { project, number } => {
                format!("jira--{}-{number}", project.to_ascii_lowercase())
            }
        }
    }

    /// The tracker this scope lives in.
    pub fn tracker(&self) -> TrackerKind {
        match self {
            Scope::GitHub { .. } => TrackerKind::GitHub,
            Scope::JiraProject { .. } | Scope::JiraEpic { .. } => TrackerKind::Jira,
        }
    }

    /// A Jira project scope.
    pub fn jira_project(project: &str) -> Result<Self, ScopeError> {
        format!("jira:{project}").parse()
    }

    /// The Jira project a Jira scope is in (an epic's project for an epic scope), upper case.
    pub fn jira_project_key(&self) -> Option<String> {
        match self {
            Scope::JiraProject { project } | Scope::JiraEpic { project, .. } => {
                Some(project.to_ascii_uppercase())
            }
            Scope::GitHub { .. } => None,
        }
    }

    /// The epic's issue key (`PROJ-123`, upper case) of an epic scope.
    pub fn jira_epic_key(&self) -> Option<String> {
        match self {
            Scope::JiraEpic { project, number } => {
                Some(format!("{}-{number}", project.to_ascii_uppercase()))
            }
            _ => None,
        }
    }

    /// Whether two scopes are the same text, case included (equality ignores case).
    pub fn same_display(&self, other: &Scope) -> bool {
        self.to_string() == other.to_string()
    }

    /// `OWNER/REPO` for GitHub scopes.
    pub fn github_repo(&self) -> Option<(&str, &str)> {
        match self {
            Scope::GitHub { owner, repo } => Some((owner, repo)),
            _ => None,
        }
    }
}

impl PartialEq for Scope {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (
                Scope::GitHub { owner, repo },
                Scope::GitHub {
                    owner: other_owner,
                    repo: other_repo,
                },
            ) => owner.eq_ignore_ascii_case(other_owner) && repo.eq_ignore_ascii_case(other_repo),
            _ => self.key() == other.key(),
        }
    }
}

impl Eq for Scope {}

impl Hash for Scope {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl PartialOrd for Scope {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scope {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::GitHub { owner, repo } => write!(f, "github:{owner}/{repo}"),
            Scope::JiraProject { project } => write!(f, "jira:{project}"),
            Scope::JiraEpic { project, number } => write!(f, "jira:{project}-{number}"),
        }
    }
}

fn valid_owner(s: &str) -> bool {
    // GitHub logins: alphanumerics and single hyphens, not at either end, at most 39 chars.
    !s.is_empty()
        && s.len() <= 39
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// Jira project keys: a letter, then letters, digits or underscores (Jira's default pattern
/// allows only capitals; sites may widen it, never to `-`, which separates a key's number).
fn valid_project_key(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.len() <= 255
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn valid_repo(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl FromStr for Scope {
    type Err = ScopeError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| ScopeError {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let (kind, rest) = input
            .split_once(':')
            .ok_or_else(|| err("missing the tracker prefix"))?;
        match kind {
            "github" => {
                let (owner, repo) = rest
                    .split_once('/')
                    .ok_or_else(|| err("expected OWNER/REPO after `github:`"))?;
                if repo == "*" {
                    return Err(err(&format!(
                        "{OWNER_FORM} is taken by `snapshot create` and the scheduled snapshot only; \
                         name one repository here"
                    )));
                }
                if !valid_owner(owner) {
                    return Err(err("the owner is not a valid GitHub login"));
                }
                if !valid_repo(repo) {
                    return Err(err("the repository name is not valid on GitHub"));
                }
                Ok(Scope::GitHub {
                    owner: owner.to_string(),
                    repo: repo.to_string(),
                })
            }
            "jira" => match rest.rsplit_once('-') {
                None => {
                    if !valid_project_key(rest) {
                        return Err(err(
                            "a Jira project key is a letter followed by letters, digits or underscores",
                        ));
                    }
                    Ok(Scope::JiraProject {
                        project: rest.to_string(),
                    })
                }
                Some((project, number)) => {
                    if !valid_project_key(project) {
                        return Err(err(
                            "expected an epic's issue key such as PROJ-123 after `jira:`",
                        ));
                    }
                    let number = number
                        .parse::<u64>()
                        .ok()
                        .filter(|n| *n > 0 && !number.starts_with(['+', '0']))
                        .ok_or_else(|| err("an issue key ends in its number, e.g. PROJ-123"))?;
                    Ok(Scope::JiraEpic {
                        project: project.to_string(),
                        number,
                    })
                }
            },
            _ => Err(err("unknown tracker prefix")),
        }
    }
}

impl Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_round_trips_github() {
        let s: Scope = "github:acme/widgets.rs".parse().unwrap();
        assert_eq!(s.to_string(), "github:acme/widgets.rs");
        assert_eq!(s.slug(), "github--acme--widgets.rs");
        assert_eq!(s.github_repo(), Some(("acme", "widgets.rs")));
    }

    #[test]
    fn case_variants_are_one_scope_that_keeps_its_display_form() {
        use std::collections::HashSet;
        let typed: Scope = "github:ACME/Widgets".parse().unwrap();
        let lower: Scope = "github:acme/widgets".parse().unwrap();
        assert_eq!(typed, lower);
        assert_eq!(typed.key(), "github:acme/widgets");
        assert_eq!(typed.slug(), lower.slug());
        assert_eq!(
            typed.to_string(),
            "github:ACME/Widgets",
            "display form kept"
        );
        assert!(!typed.same_display(&lower));
        assert_eq!(typed.cmp(&lower), Ordering::Equal);
        let set: HashSet<Scope> = [typed, lower].into_iter().collect();
        assert_eq!(set.len(), 1);
        let other: Scope = "github:acme/gadgets".parse().unwrap();
        assert_ne!(other, "github:ACME/Widgets".parse::<Scope>().unwrap());
    }

    #[test]
    fn rejects_bad_forms_and_names_the_accepted_ones() {
        for bad in [
            "acme/widgets",
            "gitlab:acme/widgets",
            "github:acme",
            "github:/widgets",
            "github:-acme/w",
            "github:ac--me/w",
            "github:acme/..",
            "github:acme/wid gets",
            "jira:",
            "jira:1PROJ",
            "jira:PR-OJ-1",
            "jira:PROJ-",
            "jira:PROJ-0",
            "jira:PROJ-012",
            "jira:PROJ-+1",
            "jira:PROJ-x",
            "jira:PR OJ",
        ] {
            let e = bad.parse::<Scope>().unwrap_err();
            assert!(e.to_string().contains("github:OWNER/REPO"), "{bad}: {e}");
            assert!(e.to_string().contains("jira:PROJ-123"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_whole_owner_is_a_selection_never_a_scope() {
        let all: Selection = "github:Acme/*".parse().unwrap();
        assert_eq!(
            all,
            Selection::GitHubOwner {
                owner: "Acme".into()
            }
        );
        assert_eq!(all.to_string(), "github:Acme/*");
        let one: Selection = "github:acme/widgets".parse().unwrap();
        assert_eq!(one, Selection::One("github:acme/widgets".parse().unwrap()));
        for bad in ["github:-acme/*", "github:/*", "github:ac--me/*"] {
            assert!(bad.parse::<Selection>().is_err(), "{bad}");
        }
        let e = "github:acme/*".parse::<Scope>().unwrap_err();
        assert!(e.to_string().contains("snapshot create"), "{e}");
        assert!(e.to_string().contains("name one repository"), "{e}");
    }

    #[test]
    fn parses_jira_projects_and_epics_case_insensitively() {
        let p: Scope = "jira:Proj".parse().unwrap();
        assert_eq!(p.to_string(), "jira:Proj");
        assert_eq!(p.key(), "jira:PROJ");
        assert_eq!(p.slug(), "jira--proj");
        assert_eq!(p.tracker(), TrackerKind::Jira);
        assert_eq!(p.jira_project_key().as_deref(), Some("PROJ"));
        assert_eq!(p.jira_epic_key(), None);
        assert_eq!(p, "jira:PROJ".parse::<Scope>().unwrap());
        assert_eq!(p.github_repo(), None);

        let e: Scope = "jira:proj_2-123".parse().unwrap();
        assert_eq!(e.key(), "jira:PROJ_2-123");
        assert_eq!(e.slug(), "jira--proj_2-123");
        assert_eq!(e.jira_project_key().as_deref(), Some("PROJ_2"));
        assert_eq!(e.jira_epic_key().as_deref(), Some("PROJ_2-123"));
        assert_ne!(e, p);
        assert_ne!(p, "github:proj/proj".parse::<Scope>().unwrap());
        let back: Scope = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert!(back.same_display(&e));
    }
}
