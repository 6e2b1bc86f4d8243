//! What a snapshot covers: parsed and validated once from user text, typed everywhere after.
//!
//! GitHub owner and repository names are case-insensitive (`ACME/Widgets` and `acme/widgets`
//! are one repository), so a scope has two forms: the *display* form the user typed, kept for
//! output, and the normalised [`Scope::key`], which is its identity — equality, hashing,
//! ordering, catalog keys, locks and storage paths all use the key, so one repository has one
//! lock and one history whatever case it is typed in.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The accepted textual forms, quoted in every parse error so the user sees the fix.
pub const SCOPE_FORMS: &str = "github:OWNER/REPO (e.g. github:acme/widgets)";

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
            "jira" => Err(err("Jira scopes are not supported by this version yet")),
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
            "jira:PROJ",
        ] {
            let e = bad.parse::<Scope>().unwrap_err();
            assert!(e.to_string().contains("github:OWNER/REPO"), "{bad}: {e}");
        }
    }
}
