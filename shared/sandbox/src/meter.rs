//! Counting and misbehaving, for every emulator: the request counters `GET /_sandbox/stats`
//! serves, injected faults (drawn from a seeded stream, so a run can be replayed) and the
//! sliding-window limit on writes. What a fault looks like on the wire is the emulator's
//! business: GitHub answers a rate limit with a 403, Jira with a 429.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::server::ServerOptions;

/// Secondary-limit simulation: more than `max_writes` writes within `per` are refused, to be
/// retried after `retry_after_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteLimit {
    pub max_writes: u32,
    pub per: Duration,
    pub retry_after_secs: u64,
}

/// Request counters, as served by `GET /_sandbox/stats`. `/_sandbox` routes are not counted;
/// every API request is, including the ones answered with an error or an injected fault.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct SandboxStats {
    pub total: u64,
    /// POST/PATCH/PUT/DELETE requests on the API.
    pub writes: u64,
    /// Requests answered 304 because `If-None-Match` matched.
    pub not_modified: u64,
    pub by_method: BTreeMap<String, u64>,
    /// Keyed by route template, e.g. `GET /repos/{owner}/{repo}/issues`.
    pub by_route: BTreeMap<String, u64>,
    /// Bytes of the JSON bodies served with 200: what a client downloaded, for comparing a
    /// store's size with the raw API responses it was built from.
    #[serde(default)]
    pub response_bytes: u64,
    /// Requests refused with a rate limit (the write limit, an injected secondary limit, or
    /// a spent primary limit), each told when to come back (`Retry-After`, or the primary
    /// limit's `x-ratelimit-reset`).
    #[serde(default)]
    pub rate_limited: u64,
    /// Requests that came back before they were told to: a write before the `Retry-After`
    /// the last refused write was given had passed (writes are one stream), or any request
    /// repeating a refused one (same method, path and query) before its own time. A client
    /// that honours the limits keeps this at 0.
    #[serde(default)]
    pub early_retries: u64,
}

/// A failure injected before a request reaches its handler, so it never changes state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 500.
    ServerError,
    /// 502.
    BadGateway,
    /// 503.
    Unavailable,
    /// Too many requests; the client should wait this many seconds.
    RateLimited { retry_after: u64 },
}

/// Counters and limiters of one emulator. Callers keep it behind its own mutex, apart from
/// the tracker's state, so counting never waits behind a long read of the store.
#[derive(Debug)]
pub(crate) struct Meter {
    stats: SandboxStats,
    write_limit: Option<WriteLimit>,
    recent_writes: VecDeque<Instant>,
    fault_rate: f64,
    fault_rng: ChaCha8Rng,
    request_seq: u64,
    /// When the last refused write was told it may come back.
    retry_not_before: Option<Instant>,
    /// Refused requests (by method, path and query) not yet due, and when each is due.
    refused: HashMap<String, Instant>,
}

impl Meter {
    /// `seed` is the emulator's data seed; faults draw from a stream derived from it, so they
    /// don't shift with data size.
    pub(crate) fn new(opts: &ServerOptions, seed: u64) -> Meter {
        Meter {
            stats: SandboxStats::default(),
            write_limit: opts.write_limit,
            recent_writes: VecDeque::new(),
            fault_rate: opts.fault_rate,
            fault_rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_fa17),
            request_seq: 0,
            retry_not_before: None,
            refused: HashMap::new(),
        }
    }

    pub(crate) fn stats(&self) -> &SandboxStats {
        &self.stats
    }

    pub(crate) fn reset_stats(&mut self) {
        self.stats = SandboxStats::default();
        self.recent_writes.clear();
        self.retry_not_before = None;
        self.refused.clear();
    }

    /// Counts an API request under its method and route template; returns its sequence
    /// number (for request ids).
    pub(crate) fn record(&mut self, method: &str, route: String, write: bool) -> u64 {
        self.stats.total += 1;
        if write {
            self.stats.writes += 1;
        }
        *self.stats.by_method.entry(method.to_owned()).or_default() += 1;
        *self.stats.by_route.entry(route).or_default() += 1;
        self.request_seq += 1;
        self.request_seq
    }

    /// Counts what was sent back: a 200 body's length, or a 304.
    pub(crate) fn answered(&mut self, body_len: u64, not_modified: bool) {
        self.stats.response_bytes += body_len;
        if not_modified {
            self.stats.not_modified += 1;
        }
    }

    /// Decides, before the handler runs, whether this request (`key`: its method, path and
    /// query) fails: an injected fault, or (for a write) the write limit.
    pub(crate) fn admit(&mut self, write: bool, key: &str, now: Instant) -> Result<(), Fault> {
        self.arrived(write, key, now);
        let verdict = match self.fault() {
            Some(fault) => Err(fault),
            None if write => self
                .admit_write(now)
                .map_err(|retry_after| Fault::RateLimited { retry_after }),
            None => Ok(()),
        };
        if let Err(Fault::RateLimited { retry_after }) = verdict {
            self.refused(write, key, now + Duration::from_secs(retry_after));
        }
        verdict
    }

    /// Counts a request that came back before it was told to (see
    /// [`SandboxStats::early_retries`]).
    pub(crate) fn arrived(&mut self, write: bool, key: &str, now: Instant) {
        self.refused.retain(|_, due| now < *due);
        if (write && self.retry_not_before.is_some_and(|t| now < t))
            || self.refused.contains_key(key)
        {
            self.stats.early_retries += 1;
        }
    }

    /// Counts a request refused with a rate limit and told to come back at `due`.
    pub(crate) fn refused(&mut self, write: bool, key: &str, due: Instant) {
        self.stats.rate_limited += 1;
        if write {
            self.retry_not_before = Some(due);
        }
        self.refused.insert(key.to_owned(), due);
    }

    /// Draws whether this request fails, and how.
    fn fault(&mut self) -> Option<Fault> {
        if self.fault_rate <= 0.0 || !self.fault_rng.random_bool(self.fault_rate) {
            return None;
        }
        Some(match self.fault_rng.random_range(0..4u8) {
            0 => Fault::ServerError,
            1 => Fault::BadGateway,
            2 => Fault::Unavailable,
            _ => Fault::RateLimited { retry_after: 1 },
        })
    }

    /// Admits a write under the sliding-window limit, or says how long to wait.
    fn admit_write(&mut self, now: Instant) -> Result<(), u64> {
        let Some(limit) = self.write_limit else {
            return Ok(());
        };
        while let Some(&t) = self.recent_writes.front() {
            if now.duration_since(t) >= limit.per {
                self.recent_writes.pop_front();
            } else {
                break;
            }
        }
        if self.recent_writes.len() >= limit.max_writes as usize {
            return Err(limit.retry_after_secs);
        }
        self.recent_writes.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limited(max_writes: u32) -> Meter {
        let opts = ServerOptions {
            write_limit: Some(WriteLimit {
                max_writes,
                per: Duration::from_secs(60),
                retry_after_secs: 60,
            }),
            ..ServerOptions::default()
        };
        Meter::new(&opts, 1)
    }

    #[test]
    fn refused_writes_and_writes_before_their_retry_after_are_counted() {
        let mut m = limited(2);
        let t0 = Instant::now();
        assert_eq!(m.admit(true, "POST /a", t0), Ok(()));
        assert_eq!(m.admit(true, "POST /b", t0), Ok(()));
        assert_eq!(
            m.admit(true, "POST /c", t0 + Duration::from_secs(1)),
            Err(Fault::RateLimited { retry_after: 60 })
        );
        assert_eq!(m.stats().rate_limited, 1);
        assert_eq!(m.stats().early_retries, 0);
        // Reads are not held to a write's Retry-After.
        assert_eq!(
            m.admit(false, "GET /c", t0 + Duration::from_secs(2)),
            Ok(())
        );
        assert_eq!(m.stats().early_retries, 0);
        // A write 30 s later came too early, and is refused again.
        assert!(m
            .admit(true, "PATCH /d", t0 + Duration::from_secs(30))
            .is_err());
        assert_eq!(m.stats().early_retries, 1);
        assert_eq!(m.stats().rate_limited, 2);
        // After its Retry-After (counted from the last refusal), it is on time and admitted.
        assert_eq!(
            m.admit(true, "PATCH /d", t0 + Duration::from_secs(91)),
            Ok(())
        );
        assert_eq!(m.stats().early_retries, 1);
        m.reset_stats();
        assert_eq!(m.stats(), &SandboxStats::default());
    }

    #[test]
    fn a_refused_read_repeated_before_it_is_due_is_an_early_retry_and_others_are_not() {
        let mut m = limited(2);
        let t0 = Instant::now();
        m.arrived(false, "GET /issues?page=2", t0);
        m.refused(false, "GET /issues?page=2", t0 + Duration::from_secs(3));
        assert_eq!(m.stats().rate_limited, 1);
        // Another request in flight meanwhile is not a retry of the refused one.
        assert_eq!(m.admit(false, "GET /labels", t0), Ok(()));
        assert_eq!(m.stats().early_retries, 0);
        assert_eq!(
            m.admit(false, "GET /issues?page=2", t0 + Duration::from_secs(1)),
            Ok(())
        );
        assert_eq!(m.stats().early_retries, 1);
        assert_eq!(
            m.admit(false, "GET /issues?page=2", t0 + Duration::from_secs(3)),
            Ok(())
        );
        assert_eq!(m.stats().early_retries, 1);
    }
}
