//! The library's error type.
//!
//! Policy: each area has its own `thiserror` enum whose messages name the thing that failed
//! (key, scope, URL) and say what to do about it; [`Error`] gathers them for callers that do
//! not care which area failed. Errors never carry credentials. Retryability is a method, not a
//! guess the caller makes from the message.

use crate::blob::BlobError;
use crate::catalog::CatalogError;
use crate::crypt::CryptError;
use crate::id::IdError;
use crate::portable::ArchiveFileError;
use crate::rollback::PlanChange;
use crate::scope::ScopeError;
use crate::snapshot::{InUse, SpillError};
use crate::store::StoreError;
use crate::tracker::TrackerError;

/// Any failure of the core library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Scope(#[from] ScopeError),
    #[error(transparent)]
    Id(#[from] IdError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Tracker(#[from] TrackerError),
    /// An encrypted store that cannot be opened (no or wrong passphrase, damaged key slots).
    #[error(transparent)]
    Crypt(#[from] CryptError),
    /// A portable archive file that cannot be read or written (see [`crate::portable`]).
    #[error(transparent)]
    ArchiveFile(#[from] ArchiveFileError),
    /// A capture could not keep its manifest entries in a temporary file.
    #[error(transparent)]
    Spill(#[from] SpillError),
    /// A user-supplied reference or option that cannot be honoured.
    #[error("{0}")]
    Invalid(String),
    /// The operation was refused by a safety rule (lock held, pinned, declined).
    #[error("{0}")]
    Refused(String),
    /// A rollback's plan is no longer the one confirmed: nothing was written.
    #[error("{0}")]
    PlanChanged(Box<PlanChange>),
    /// A snapshot an unfinished restore job needs was asked to be deleted: refused, nothing
    /// was deleted.
    #[error("{0}")]
    InUse(Box<InUse>),
    /// A bug or a panicked task: nothing the user did.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Whether the same call may succeed if retried later.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Store(e) => e.is_retryable(),
            Error::Catalog(e) => e.is_retryable(),
            Error::Tracker(e) => e.is_retryable(),
            _ => false,
        }
    }

    /// Whether this says stored data is damaged — an object missing, or not what its hash
    /// says — rather than that reaching it failed: damage is permanent (retrying cannot help,
    /// another copy or a fresh capture can), a failed request is not.
    pub fn is_damage(&self) -> bool {
        matches!(
            self,
            Error::Blob(BlobError::Corrupt { .. })
                | Error::Store(StoreError::NotFound { .. } | StoreError::Corrupt { .. })
        )
    }

    /// Whether this is a refusal (CLI exit code 3) rather than a failure.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Error::Refused(_)
                | Error::PlanChanged(_)
                | Error::InUse(_)
                | Error::Catalog(CatalogError::Locked(_))
        )
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
