//! Store-wide exclusion between captures and garbage collection.
//!
//! Blobs are shared by every scope of a store, and a capture relies on blobs that no manifest
//! references yet: a put that finds its blob already there (`Existed`) writes nothing and
//! trusts it to stay, until the capture's manifest references it. Garbage collection deletes
//! exactly the blobs no manifest references. Per-scope locks cannot keep the two apart, so a
//! capture holds a shared *capture* lease from before its first put until its entry is
//! final, and collection holds the exclusive *collect* lease from before it reads the
//! manifests until its last delete (restic's answer: shared locks for backups, an exclusive
//! one for prune).
//!
//! The leases of a store live in one catalog [`Cell`](crate::catalog::Cell), changed only by
//! compare-and-swap, so SQLite, DynamoDB and the memory twin decide them with the one
//! conditional write each already has, and the rules below live here once.
//!
//! # Rules
//! - A capture registers its lease at once, whatever is held, then waits (renewing) while a
//!   live collect lease exists, at most [`LeaseOptions::max_wait`]. Because it registered
//!   first, no collector can start after it: a capture waits at most for the collection
//!   already running, never behind a queue of them.
//! - A collector gets in only when no other live lease exists; otherwise it is refused at
//!   once ([`Error::Refused`], exit 3), naming the holders. Captures are never starved.
//! - Every lease expires unless renewed. Its holder renews it in the background every quarter
//!   of its time to live, so a holder that crashed blocks the other side for at most one TTL.
//!   A lease that expired cannot be renewed: its holder has lost the exclusion (the other side
//!   may have gone ahead) and must stop — a capture must not complete, a collector must stop
//!   deleting.
//! - Before it acts on the exclusion (a capture marking its entry `completed`, a collector
//!   deleting a batch), the holder proves it still holds its lease *now* with a synchronous
//!   renewal ([`StoreLease::confirm`]). What remains is the time between that renewal and the
//!   write (milliseconds), against a TTL of a minute.
//! - Clocks: a lease is judged expired by others only [`SKEW_MARGIN`] after its expiry, and its
//!   holder stops renewing that margin before it, so clocks that disagree by less than the
//!   margin cannot let both sides in.
//!
//! # Cost
//! One read and one conditional write to take a lease, to renew it (every TTL/4, 15 s by
//! default) and to release it; a capture of a few seconds adds 6 catalog requests (take,
//! confirm, release), plus 2 per 15 s it runs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, CatalogError};
use crate::error::{Error, Result};

/// The cell that holds every lease of the store.
pub const CELL: &str = "store-leases";
/// How many times a lease change re-reads and retries after losing a compare-and-swap.
const CAS_ATTEMPTS: u32 = 24;
/// The variable that sets the lease time to live, in seconds (see [`LeaseOptions::from_env`]).
pub const TTL_ENV: &str = crate::config::env::LEASE_TTL;
/// The default time to live of a lease.
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);
/// How long a capture waits for a running collection by default.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// The shortest time to live accepted (renewals happen every quarter of it).
pub const MIN_TTL: Duration = Duration::from_secs(4);
/// The clock disagreement between hosts that leases tolerate: a tenth of the TTL, capped.
pub const SKEW_MARGIN: Duration = Duration::from_secs(5);

/// Which side of the exclusion a lease is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaseKind {
    /// Shared: a capture relying on blobs no manifest references yet.
    Capture,
    /// Exclusive: garbage collection (or a repair) deleting or rewriting what captures rely on.
    Collect,
}

/// One holder's lease, as stored in the cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Unique per acquisition; only its holder renews or releases it.
    pub token: String,
    pub kind: LeaseKind,
    /// Who holds it, for people: `snapshot of github:acme/widgets (pid 4242 on laptop)`.
    pub holder: String,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Lease {
    fn new(kind: LeaseKind, holder: &str, ttl: Duration) -> Self {
        let now = Utc::now();
        Lease {
            token: ulid::Ulid::new().to_string(),
            kind,
            holder: holder.to_string(),
            acquired_at: now,
            expires_at: now + chrono_duration(ttl),
        }
    }

    /// Whether *others* must still treat this lease as held at `now` (its expiry plus the
    /// clock margin).
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at + chrono_duration(margin_for(self.expires_at - self.acquired_at))
    }
}

impl std::fmt::Display for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (since {}, lease until {})",
            self.holder,
            self.acquired_at.format("%H:%M:%S UTC"),
            self.expires_at.format("%H:%M:%S UTC")
        )
    }
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::hours(1))
}

/// The skew margin for a lease that lasts `ttl`: a tenth of it, at most [`SKEW_MARGIN`].
fn margin_for(ttl: chrono::Duration) -> Duration {
    ttl.to_std()
        .map(|t| (t / 10).min(SKEW_MARGIN))
        .unwrap_or(SKEW_MARGIN)
}

/// Every lease of the store, as the cell holds them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LeaseTable {
    pub leases: Vec<Lease>,
}

impl LeaseTable {
    /// The leases others must still respect at `now`.
    pub fn live(&self, now: DateTime<Utc>) -> impl Iterator<Item = &Lease> {
        self.leases.iter().filter(move |l| l.is_live(now))
    }

    /// Whether the lease `token` is still held at `now`.
    pub fn holds(&self, token: &str, now: DateTime<Utc>) -> bool {
        self.live(now).any(|l| l.token == token)
    }

    fn forget_expired(&mut self, now: DateTime<Utc>) {
        self.leases.retain(|l| l.is_live(now));
    }
}

/// How long leases last and how long a capture waits for a collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseOptions {
    /// A lease expires this long after its last renewal; renewed every quarter of it.
    pub ttl: Duration,
    /// How long a capture waits for a running collection before giving up.
    pub max_wait: Duration,
}

impl Default for LeaseOptions {
    fn default() -> Self {
        LeaseOptions {
            ttl: DEFAULT_TTL,
            max_wait: DEFAULT_MAX_WAIT,
        }
    }
}

impl LeaseOptions {
    /// Options with a time to live of `ttl`; refused below [`MIN_TTL`].
    pub fn with_ttl(ttl: Duration) -> Result<Self> {
        if ttl < MIN_TTL {
            return Err(Error::Invalid(format!(
                "a lease time to live of {}s is too short; use at least {}s",
                ttl.as_secs(),
                MIN_TTL.as_secs()
            )));
        }
        Ok(LeaseOptions {
            ttl,
            ..LeaseOptions::default()
        })
    }

    /// The defaults, with the time to live from [`TTL_ENV`] (whole seconds) when it is set:
    /// shorter leases free the store sooner after a crash, longer ones tolerate slower links.
    pub fn from_env() -> Result<Self> {
        match std::env::var(TTL_ENV) {
            Ok(text) if !text.trim().is_empty() => {
                let secs: u64 = text.trim().parse().map_err(|_| {
                    Error::Invalid(format!(
                        "{TTL_ENV} must be a whole number of seconds, not {:?}",
                        text.chars().take(40).collect::<String>()
                    ))
                })?;
                Self::with_ttl(Duration::from_secs(secs))
            }
            _ => Ok(LeaseOptions::default()),
        }
    }

    fn renew_every(&self) -> Duration {
        self.ttl / 4
    }
}

/// The store's lease table (for liveness checks of pending entries and for messages).
pub async fn read(catalog: &dyn Catalog) -> Result<LeaseTable> {
    Ok(read_versioned(catalog, CELL).await?.0)
}

/// The lease table in `cell` (see [`StoreLease::capture_in`]).
#[doc(hidden)]
pub async fn read_in(catalog: &dyn Catalog, cell: &str) -> Result<LeaseTable> {
    Ok(read_versioned(catalog, cell).await?.0)
}

async fn read_versioned(catalog: &dyn Catalog, cell: &str) -> Result<(LeaseTable, Option<u64>)> {
    match catalog.read_cell(cell).await? {
        None => Ok((LeaseTable::default(), None)),
        Some(cell) => {
            let table = serde_json::from_value(cell.value).map_err(|e| {
                Error::Catalog(CatalogError::Corrupt {
                    catalog: catalog.location(),
                    detail: format!("the store's lease table: {e}"),
                })
            })?;
            Ok((table, Some(cell.version)))
        }
    }
}

/// What a change to the lease table decided.
enum Change<T> {
    /// Write the changed table, then answer.
    Write(T),
    /// Leave the table as it is and answer.
    Keep(T),
}

/// Reads the table, lets `decide` change it, and writes it back if the version is still the
/// one read; retries from a fresh read when someone else wrote in between.
async fn change<T>(
    catalog: &dyn Catalog,
    cell: &str,
    mut decide: impl FnMut(&mut LeaseTable, DateTime<Utc>) -> Change<T>,
) -> Result<T> {
    for attempt in 0..CAS_ATTEMPTS {
        let (mut table, version) = read_versioned(catalog, cell).await?;
        let now = Utc::now();
        let answer = match decide(&mut table, now) {
            Change::Keep(answer) => return Ok(answer),
            Change::Write(answer) => answer,
        };
        let value = serde_json::to_value(&table)
            .map_err(|e| Error::Internal(format!("cannot encode the lease table: {e}")))?;
        match catalog.write_cell(cell, &value, version).await {
            Ok(_) => return Ok(answer),
            Err(CatalogError::Conflict { .. }) => {
                // Someone else changed the table: back off a little (more with every loss,
                // with jitter so racers spread out), then decide again on what they wrote.
                let jitter = u64::from(Utc::now().timestamp_subsec_micros()) % 20;
                let ms = (5u64 << attempt.min(5)) + jitter;
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Catalog(CatalogError::Conflict {
        what: "the store's lease table".into(),
        detail: format!("it kept changing through {CAS_ATTEMPTS} attempts; retry"),
    }))
}

/// What the background renewal knows.
#[derive(Debug)]
struct Held {
    /// Set when a renewal found the lease gone or expired.
    lost: AtomicBool,
    /// When the last renewal (or the acquisition) succeeded.
    renewed: Mutex<Instant>,
}

/// A lease held by this process, renewed in the background until released or dropped
/// (dropping without [`release`](Self::release) leaves it to expire).
#[derive(Debug)]
pub struct StoreLease {
    catalog: Arc<dyn Catalog>,
    /// The cell holding the lease table ([`CELL`]; tests use their own).
    cell: String,
    lease: Lease,
    opts: LeaseOptions,
    held: Arc<Held>,
    renewer: tokio::task::JoinHandle<()>,
}

impl Drop for StoreLease {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

impl StoreLease {
    /// Takes a shared capture lease, waiting while a collection holds the store (at most
    /// `opts.max_wait`; then `Refused`).
    pub async fn capture(
        catalog: Arc<dyn Catalog>,
        holder: &str,
        opts: LeaseOptions,
    ) -> Result<StoreLease> {
        Self::capture_in(catalog, CELL, holder, opts).await
    }

    /// [`StoreLease::capture`] on the lease table in `cell` (the conformance suite runs on
    /// shared backends, each run in a table of its own).
    #[doc(hidden)]
    pub async fn capture_in(
        catalog: Arc<dyn Catalog>,
        cell: &str,
        holder: &str,
        opts: LeaseOptions,
    ) -> Result<StoreLease> {
        let lease = Lease::new(LeaseKind::Capture, holder, opts.ttl);
        let collector = {
            let lease = lease.clone();
            change(&*catalog, cell, move |table, now| {
                table.forget_expired(now);
                table.leases.push(lease.clone());
                Change::Write(
                    table
                        .live(now)
                        .find(|l| l.kind == LeaseKind::Collect)
                        .cloned(),
                )
            })
            .await?
        };
        let held = Self::start(catalog, cell, lease, opts);
        if let Some(collector) = collector {
            tracing::info!(%collector, "garbage collection holds the store; the capture waits for it");
            if let Err(e) = held.wait_for_collectors(collector).await {
                // Giving up: leave the store at once rather than when the lease expires.
                if let Err(release) = held.release().await {
                    tracing::warn!(error = %release, "could not release the capture's lease; it expires on its own");
                }
                return Err(e);
            }
        }
        Ok(held)
    }

    /// Takes the exclusive collect lease, or is refused at once while anyone else holds one.
    pub async fn collect(
        catalog: Arc<dyn Catalog>,
        holder: &str,
        opts: LeaseOptions,
    ) -> Result<StoreLease> {
        Self::collect_in(catalog, CELL, holder, opts).await
    }

    /// [`StoreLease::collect`] on the lease table in `cell`.
    #[doc(hidden)]
    pub async fn collect_in(
        catalog: Arc<dyn Catalog>,
        cell: &str,
        holder: &str,
        opts: LeaseOptions,
    ) -> Result<StoreLease> {
        let lease = Lease::new(LeaseKind::Collect, holder, opts.ttl);
        let busy = {
            let lease = lease.clone();
            change(&*catalog, cell, move |table, now| {
                table.forget_expired(now);
                let others: Vec<Lease> = table.live(now).cloned().collect();
                if others.is_empty() {
                    table.leases.push(lease.clone());
                    Change::Write(others)
                } else {
                    Change::Keep(others)
                }
            })
            .await?
        };
        if !busy.is_empty() {
            let captures = busy.iter().filter(|l| l.kind == LeaseKind::Capture).count();
            let shown: Vec<String> = busy.iter().take(3).map(ToString::to_string).collect();
            return Err(Error::Refused(format!(
                "the store is in use ({} capture(s) running, {} collection(s)): {}{}; garbage collection never runs beside a capture, so retry when they finish",
                captures,
                busy.len() - captures,
                shown.join("; "),
                if busy.len() > 3 { "; …" } else { "" }
            )));
        }
        Ok(Self::start(catalog, cell, lease, opts))
    }

    fn start(
        catalog: Arc<dyn Catalog>,
        cell: &str,
        lease: Lease,
        opts: LeaseOptions,
    ) -> StoreLease {
        let held = Arc::new(Held {
            lost: AtomicBool::new(false),
            renewed: Mutex::new(Instant::now()),
        });
        let renewer = tokio::spawn(renew_loop(
            catalog.clone(),
            cell.to_string(),
            lease.token.clone(),
            opts,
            held.clone(),
        ));
        StoreLease {
            catalog,
            cell: cell.to_string(),
            lease,
            opts,
            held,
            renewer,
        }
    }

    /// Polls until no live collect lease is left, renewing ours meanwhile.
    async fn wait_for_collectors(&self, first: Lease) -> Result<()> {
        let started = Instant::now();
        let poll = self.opts.renew_every().min(Duration::from_secs(2));
        let mut current = first;
        loop {
            if started.elapsed() > self.opts.max_wait {
                return Err(Error::Refused(format!(
                    "garbage collection holds the store: {current}; gave up waiting after {}s — retry later",
                    self.opts.max_wait.as_secs()
                )));
            }
            tokio::time::sleep(poll).await;
            self.check_held()?;
            let (table, _) = read_versioned(&*self.catalog, &self.cell).await?;
            let collector = table
                .live(Utc::now())
                .find(|l| l.kind == LeaseKind::Collect)
                .cloned();
            match collector {
                Some(collector) => current = collector,
                None => return Ok(()),
            }
        }
    }

    /// The lease's token (recorded in the snapshot entry a capture writes).
    pub fn token(&self) -> &str {
        &self.lease.token
    }

    /// What this lease is.
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    fn check_held(&self) -> Result<()> {
        let renewed = *self
            .held
            .renewed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let margin = margin_for(chrono_duration(self.opts.ttl));
        if self.held.lost.load(Ordering::SeqCst) || renewed.elapsed() + margin >= self.opts.ttl {
            return Err(lost(&self.lease));
        }
        Ok(())
    }

    /// Proves the lease is still held now, with a synchronous renewal; `Refused` when it was
    /// lost (expired, so the other side may have gone ahead).
    pub async fn confirm(&self) -> Result<()> {
        self.check_held()?;
        match renew(&*self.catalog, &self.cell, &self.lease.token, self.opts).await {
            Ok(true) => {
                *self
                    .held
                    .renewed
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
                Ok(())
            }
            Ok(false) => {
                self.held.lost.store(true, Ordering::SeqCst);
                Err(lost(&self.lease))
            }
            Err(e) => Err(e),
        }
    }

    /// Gives the lease back (the background renewal stops first).
    pub async fn release(self) -> Result<()> {
        self.renewer.abort();
        let token = self.lease.token.clone();
        change(&*self.catalog, &self.cell, move |table, _| {
            let before = table.leases.len();
            table.leases.retain(|l| l.token != token);
            if table.leases.len() == before {
                Change::Keep(())
            } else {
                Change::Write(())
            }
        })
        .await
    }
}

fn lost(lease: &Lease) -> Error {
    let what = match lease.kind {
        LeaseKind::Capture => "this capture's store lease",
        LeaseKind::Collect => "this collection's store lease",
    };
    Error::Refused(format!(
        "{what} expired before it could be renewed (the process stalled, or lost the catalog for over {}s), so garbage collection and captures may have overlapped; stopped without finishing — run it again",
        (lease.expires_at - lease.acquired_at).num_seconds()
    ))
}

/// Extends lease `token` by a TTL from now: `Ok(false)` when it is gone or (by the holder's
/// stricter clock) expired, which means the exclusion is lost.
async fn renew(catalog: &dyn Catalog, cell: &str, token: &str, opts: LeaseOptions) -> Result<bool> {
    let token = token.to_string();
    let ttl = chrono_duration(opts.ttl);
    let margin = chrono_duration(margin_for(ttl));
    change(catalog, cell, move |table, now| {
        match table.leases.iter_mut().find(|l| l.token == token) {
            // The holder stops trusting its lease a margin before others stop respecting it.
            Some(lease) if now + margin < lease.expires_at => {
                lease.expires_at = now + ttl;
                Change::Write(true)
            }
            _ => Change::Keep(false),
        }
    })
    .await
}

async fn renew_loop(
    catalog: Arc<dyn Catalog>,
    cell: String,
    token: String,
    opts: LeaseOptions,
    held: Arc<Held>,
) {
    loop {
        tokio::time::sleep(opts.renew_every()).await;
        match renew(&*catalog, &cell, &token, opts).await {
            Ok(true) => {
                *held
                    .renewed
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
            }
            Ok(false) => {
                tracing::error!(
                    token,
                    "the store lease was lost; the work holding it will stop"
                );
                held.lost.store(true, Ordering::SeqCst);
                return;
            }
            // A failed renewal is retried at the next tick; `check_held` notices when the
            // last success is too old.
            Err(e) => tracing::warn!(error = %e, "renewing the store lease failed; retrying"),
        }
    }
}

/// A description of this process for lease and lock holders: `what (pid N on HOST)`.
pub fn holder(what: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown host".into());
    format!("{what} (pid {} on {host})", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::MemoryCatalog;

    fn quick() -> LeaseOptions {
        LeaseOptions {
            ttl: Duration::from_secs(4),
            max_wait: Duration::from_secs(20),
        }
    }

    #[tokio::test]
    async fn captures_share_and_collection_is_exclusive() {
        let catalog: Arc<dyn Catalog> = Arc::new(MemoryCatalog::new());
        let a = StoreLease::capture(catalog.clone(), "a", quick())
            .await
            .unwrap();
        let b = StoreLease::capture(catalog.clone(), "b", quick())
            .await
            .unwrap();
        let refused = StoreLease::collect(catalog.clone(), "gc", quick())
            .await
            .unwrap_err();
        assert!(refused.is_refusal(), "{refused}");
        assert!(refused.to_string().contains("2 capture(s)"), "{refused}");
        a.release().await.unwrap();
        b.release().await.unwrap();
        let gc = StoreLease::collect(catalog.clone(), "gc", quick())
            .await
            .unwrap();
        let second = StoreLease::collect(catalog.clone(), "gc2", quick())
            .await
            .unwrap_err();
        assert!(second.to_string().contains("1 collection(s)"), "{second}");
        gc.confirm().await.unwrap();
        gc.release().await.unwrap();
        assert!(read(&*catalog).await.unwrap().leases.is_empty());
    }

    #[tokio::test]
    async fn a_capture_waits_for_a_running_collection_and_blocks_the_next() {
        let catalog: Arc<dyn Catalog> = Arc::new(MemoryCatalog::new());
        let gc = StoreLease::collect(catalog.clone(), "gc", quick())
            .await
            .unwrap();
        let waiting = {
            let catalog = catalog.clone();
            tokio::spawn(async move { StoreLease::capture(catalog, "cap", quick()).await })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !waiting.is_finished(),
            "the capture must wait for the collection"
        );
        // Registered while waiting: no second collection can start now.
        gc.release().await.unwrap();
        let next = StoreLease::collect(catalog.clone(), "gc2", quick()).await;
        assert!(next.is_err(), "a waiting capture keeps new collections out");
        let capture = waiting.await.unwrap().unwrap();
        capture.confirm().await.unwrap();
        capture.release().await.unwrap();
    }

    #[tokio::test]
    async fn a_crashed_holder_blocks_for_one_ttl_and_cannot_come_back() {
        let catalog: Arc<dyn Catalog> = Arc::new(MemoryCatalog::new());
        let crashed = StoreLease::capture(catalog.clone(), "crashed", quick())
            .await
            .unwrap();
        // A crash: the renewal stops, nothing is released.
        crashed.renewer.abort();
        assert!(StoreLease::collect(catalog.clone(), "gc", quick())
            .await
            .is_err());
        tokio::time::sleep(quick().ttl + Duration::from_millis(600)).await;
        let gc = StoreLease::collect(catalog.clone(), "gc", quick())
            .await
            .unwrap();
        // The crashed holder wakes up: its lease is gone, it must not go on.
        let err = crashed.confirm().await.unwrap_err();
        assert!(err.to_string().contains("expired"), "{err}");
        gc.release().await.unwrap();
    }

    #[tokio::test]
    async fn renewal_keeps_a_long_holder_alive() {
        let catalog: Arc<dyn Catalog> = Arc::new(MemoryCatalog::new());
        let long = StoreLease::capture(catalog.clone(), "long", quick())
            .await
            .unwrap();
        tokio::time::sleep(quick().ttl * 2).await;
        long.confirm().await.unwrap();
        assert!(read(&*catalog)
            .await
            .unwrap()
            .holds(long.token(), Utc::now()));
        long.release().await.unwrap();
    }

    #[tokio::test]
    async fn a_capture_that_gives_up_waiting_leaves_the_store() {
        let catalog: Arc<dyn Catalog> = Arc::new(MemoryCatalog::new());
        let gc = StoreLease::collect(catalog.clone(), "gc", quick())
            .await
            .unwrap();
        let impatient = LeaseOptions {
            max_wait: Duration::from_millis(500),
            ..quick()
        };
        let err = StoreLease::capture(catalog.clone(), "cap", impatient)
            .await
            .unwrap_err();
        assert!(err.is_refusal(), "{err}");
        assert!(err.to_string().contains("gave up waiting"), "{err}");
        let table = read(&*catalog).await.unwrap();
        assert_eq!(table.leases.len(), 1, "only the collector's lease is left");
        gc.release().await.unwrap();
    }

    #[test]
    fn too_short_a_ttl_is_refused() {
        assert!(LeaseOptions::with_ttl(Duration::from_secs(1)).is_err());
        assert_eq!(
            LeaseOptions::with_ttl(Duration::from_secs(30)).unwrap().ttl,
            Duration::from_secs(30)
        );
    }
}
