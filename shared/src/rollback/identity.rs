//! Two identities of a rollback that must not be confused:
//!
//! - [`PlanFingerprint`] names *what a plan writes*: a hash of its scope, target, options and
//!   operations (not of when it was made). A preview shows it; execution re-plans from the
//!   pre-rollback snapshot and refuses to write a plan with another fingerprint unless told
//!   to re-plan. [`PlanChange`] says how two plans differ.
//! - [`ResumeKey`] names *which command* a rollback job serves: scope, target and options,
//!   without the operations. Re-running the same command finds its interrupted job by this
//!   key and resumes it, even though the remaining operations have changed by then.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Operation, RollbackOptions, RollbackPlan};
use crate::blob;
use crate::id::{BlobId, SnapshotId};
use crate::scope::Scope;

/// Hex digits kept of the SHA-256: 128 bits, short enough to paste, far from colliding.
const FINGERPRINT_HEX: usize = 32;

/// What a plan writes, as a short hash (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PlanFingerprint(String);

impl PlanFingerprint {
    /// The fingerprint of `plan`'s content: scope, target, options and operations in order.
    pub fn of(plan: &RollbackPlan) -> PlanFingerprint {
        let content = serde_json::json!({
            "scope": plan.scope.to_string(),
            "target": plan.target.to_string(),
            "options": plan.options,
            "ops": plan.ops,
        });
        // Canonical JSON (sorted keys) so that equal plans hash equally on any machine.
        let bytes = blob::canonical_json(&content).unwrap_or_else(|_| content.to_string().into());
        PlanFingerprint(BlobId::of(&bytes).to_hex()[..FINGERPRINT_HEX].to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PlanFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for PlanFingerprint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.len() == FINGERPRINT_HEX && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(PlanFingerprint(s.to_ascii_lowercase()))
        } else {
            Err(format!(
                "{s:?} is not a plan fingerprint ({FINGERPRINT_HEX} hex digits, as the preview's `fingerprint` gives it)"
            ))
        }
    }
}

/// Which command a job serves (see the module docs). Stored on the job as a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeKey(String);

impl ResumeKey {
    pub fn of(scope: &Scope, target: &SnapshotId, options: &RollbackOptions) -> ResumeKey {
        let input = serde_json::json!({
            "scope": scope.to_string(),
            "target": target.to_string(),
            "only": options.only,
            "fields": options.fields,
            "close_new_issues": options.close_new_issues,
            "delete_new_comments": options.delete_new_comments,
        });
        // Jira's options join the key only when set, so GitHub jobs keep their keys.
        let mut input = input;
        for (name, set) in [
            ("delete_new_subtasks", options.delete_new_subtasks),
            ("delete_new_issues", options.delete_new_issues),
            ("recreate_deleted", options.recreate_deleted),
        ] {
            if set {
                input[name] = serde_json::Value::Bool(true);
            }
        }
        if let Some(into) = &options.into {
            input["into"] = serde_json::Value::String(into.to_string());
        }
        ResumeKey(BlobId::of(input.to_string().as_bytes()).to_hex()[..24].to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ResumeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How the plan about to run differs from the one confirmed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanChange {
    pub confirmed: PlanFingerprint,
    pub current: PlanFingerprint,
    /// Operations the current plan has that the confirmed one had not.
    pub added: Vec<Operation>,
    /// Operations the confirmed plan had that the current one has not.
    pub dropped: Vec<Operation>,
    /// Differences besides the operations (options, target), in words.
    pub other: Vec<String>,
}

impl PlanChange {
    /// Compares two plans operation by operation (an issue whose live value moved shows as
    /// its old operation dropped and its new one added).
    pub fn between(confirmed: &RollbackPlan, current: &RollbackPlan) -> PlanChange {
        let mut dropped: Vec<Operation> = confirmed.ops.iter().map(|p| p.op.clone()).collect();
        let mut added = Vec::new();
        for op in current.ops.iter().map(|p| &p.op) {
            match dropped.iter().position(|d| d == op) {
                Some(i) => {
                    dropped.remove(i);
                }
                None => added.push(op.clone()),
            }
        }
        let mut other = Vec::new();
        if confirmed.target != current.target || confirmed.scope != current.scope {
            other.push(format!(
                "the target changed from {} {} to {} {}",
                confirmed.scope, confirmed.target, current.scope, current.target
            ));
        }
        if confirmed.options != current.options {
            other.push("the options differ from the confirmed plan's".into());
        }
        if added.is_empty() && dropped.is_empty() && other.is_empty() {
            other.push("the same operations, in another order".into());
        }
        PlanChange {
            confirmed: confirmed.fingerprint(),
            current: current.fingerprint(),
            added,
            dropped,
            other,
        }
    }

    /// When the confirmed plan itself is not at hand (an API preview no longer stored):
    /// only the fingerprints are known.
    pub fn unknown(confirmed: PlanFingerprint, current: &RollbackPlan) -> PlanChange {
        PlanChange {
            confirmed,
            current: current.fingerprint(),
            added: Vec::new(),
            dropped: Vec::new(),
            other: vec![format!(
                "the confirmed plan is not stored any more; the plan now has {} operation(s)",
                current.ops.len()
            )],
        }
    }

    /// One line: `2 operation(s) added, 1 dropped`.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "{} operation(s) added, {} dropped",
            self.added.len(),
            self.dropped.len()
        );
        for o in &self.other {
            out.push_str("; ");
            out.push_str(o);
        }
        out
    }
}

impl fmt::Display for PlanChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the plan changed since it was confirmed (plan {} is now {}): {}",
            self.confirmed,
            self.current,
            self.summary()
        )?;
        for (sign, ops) in [('+', &self.added), ('-', &self.dropped)] {
            for op in ops {
                let text = op.to_string();
                let mut lines = text.lines();
                write!(f, "\n  {sign} {}", lines.next().unwrap_or_default())?;
                for line in lines {
                    write!(f, "\n    {}", line.trim_start())?;
                }
            }
        }
        Ok(())
    }
}
