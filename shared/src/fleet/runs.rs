//! Run records: what one run over `github:ORG/*` did, per repository (status, requests,
//! duration) and in all, kept in the catalog as one record per run and logged once, as one
//! structured line, when the run ends.
//!
//! The CLI's run ends in one process and is saved finished. The scheduled function's run
//! ends in many: it is saved with every repository `queued` (each with its job), and each
//! job, as it ends, records its line ([`record`]); the write that records the last one
//! finishes the run and logs it. Records are catalog [`Cell`](crate::catalog::Cell)s changed
//! by compare-and-swap, so jobs ending at once never lose each other's lines, and every
//! backend (SQLite, DynamoDB, git) keeps them with the one conditional write it already has.
//! An index cell lists the newest [`KEEP`] runs for [`list`].

use std::time::Duration;

use chrono::Utc;

use super::{RunStatus, RunSummary, ScopeRun};
use crate::catalog::{Catalog, CatalogError, JobEntry, JobStatus};
use crate::error::{Error, Result};
use crate::snapshot::{Archive, SnapshotReport};

/// The cell listing run ids, newest first.
const INDEX: &str = "runs";
/// How many runs the index keeps (older records stay readable by id).
pub const KEEP: usize = 1000;
/// Compare-and-swap attempts before giving up (hundreds of jobs may end together).
const CAS_ATTEMPTS: u32 = 60;

fn cell(id: &str) -> String {
    format!("run-{id}")
}

/// A new run id: a lower-case ULID, so ids sort by start time.
pub fn new_id() -> String {
    ulid::Ulid::new().to_string().to_ascii_lowercase()
}

/// [`save`] in `catalog`.
pub(crate) async fn save_in(catalog: &dyn Catalog, summary: &RunSummary) -> Result<()> {
    catalog
        .write_cell(&cell(&summary.id), &encode(summary)?, None)
        .await?;
    cas(catalog, INDEX, |value| {
        let mut ids: Vec<String> = match value {
            Some(v) => serde_json::from_value(v).map_err(|e| corrupt(INDEX, e))?,
            None => Vec::new(),
        };
        ids.retain(|id| id != &summary.id);
        ids.insert(0, summary.id.clone());
        ids.truncate(KEEP);
        Ok(Some((serde_json::json!(ids), ())))
    })
    .await?;
    if summary.finished_at.is_some() {
        log(summary);
    }
    Ok(())
}

/// Records how one repository of run `id` ended (its line replaces the `queued` one of the
/// same scope; a line already recorded stays, so a redelivered job changes nothing). Returns
/// the finished run when this line was the last one outstanding: it has been logged.
pub(crate) async fn record(
    catalog: &dyn Catalog,
    id: &str,
    line: ScopeRun,
) -> Result<Option<RunSummary>> {
    let name = cell(id);
    let finished = cas(catalog, &name, |value| {
        let Some(value) = value else {
            return Err(Error::Invalid(format!("no run {id} in the catalog")));
        };
        let mut run: RunSummary = serde_json::from_value(value).map_err(|e| corrupt(&name, e))?;
        let Some(slot) = run
            .scopes
            .iter_mut()
            .find(|s| s.status == RunStatus::Queued && s.scope.key() == line.scope.key())
        else {
            return Ok(None);
        };
        let job = slot.job.take();
        *slot = ScopeRun {
            job: line.job.clone().or(job),
            ..line.clone()
        };
        let done = run.count(RunStatus::Queued) == 0;
        if done {
            let now = Utc::now();
            run.finished_at = Some(now);
            run.duration_ms = u64::try_from((now - run.started_at).num_milliseconds()).unwrap_or(0);
        }
        let value = encode(&run)?;
        Ok(Some((value, done.then_some(run))))
    })
    .await?;
    let finished = finished.flatten();
    if let Some(run) = &finished {
        log(run);
    }
    Ok(finished)
}

/// Records how a snapshot job of a run ended, from its row (and its report, when it took a
/// snapshot): nothing for a job of no run or one not finished (it goes on in a later
/// message). `duration_ms`: the attempt's time, when the report does not say.
pub async fn record_job(
    archive: &Archive,
    job: &JobEntry,
    report: Option<&SnapshotReport>,
    duration_ms: u64,
) -> Result<Option<RunSummary>> {
    let Some(run) = job.capture.as_ref().and_then(|c| c.run.as_deref()) else {
        return Ok(None);
    };
    let status = match job.status {
        JobStatus::Completed => RunStatus::Completed,
        JobStatus::Failed => RunStatus::Failed,
        JobStatus::Queued | JobStatus::Running => return Ok(None),
    };
    // Only a completed job's: a failed one's may name a snapshot reserved for it, never taken.
    let snapshot = match status {
        RunStatus::Completed => report.map(|r| r.id.to_string()).or_else(|| {
            job.capture
                .as_ref()
                .and_then(|c| c.snapshot)
                .map(|id| id.to_string())
        }),
        _ => None,
    };
    let line = ScopeRun {
        scope: job.scope.clone(),
        status,
        snapshot,
        job: Some(job.id.to_string()),
        requests: report.map_or(0, |r| r.requests),
        duration_ms: report.map_or(duration_ms, |r| r.duration_ms),
        error: job.error.as_deref().map(crate::sanitize::error_line),
    };
    record(&*archive.catalog, run, line).await
}

/// Records a job of a run that will never finish (its message was dropped: the job cannot
/// run) as failed, with why.
pub async fn record_dropped(
    archive: &Archive,
    job: &JobEntry,
    why: &str,
    duration_ms: u64,
) -> Result<Option<RunSummary>> {
    let Some(run) = job.capture.as_ref().and_then(|c| c.run.as_deref()) else {
        return Ok(None);
    };
    let line = ScopeRun {
        scope: job.scope.clone(),
        status: RunStatus::Failed,
        snapshot: None,
        job: Some(job.id.to_string()),
        requests: 0,
        duration_ms,
        error: Some(crate::sanitize::error_line(why)),
    };
    record(&*archive.catalog, run, line).await
}

/// Stores a new run record and lists it; a finished one is logged too.
pub async fn save(archive: &Archive, summary: &RunSummary) -> Result<()> {
    save_in(&*archive.catalog, summary).await
}

/// One run by id, settled (see [`settle`]).
pub async fn get(archive: &Archive, id: &str) -> Result<Option<RunSummary>> {
    match get_in(&*archive.catalog, id).await? {
        Some(run) => settle(archive, run).await.map(Some),
        None => Ok(None),
    }
}

/// The newest `limit` runs, newest first; of one selection (`github:ORG/*`, any case) only,
/// when given. Each is settled (see [`settle`]).
pub async fn list(
    archive: &Archive,
    selection: Option<&str>,
    limit: usize,
) -> Result<Vec<RunSummary>> {
    let mut runs = Vec::new();
    for run in list_in(&*archive.catalog, selection, limit).await? {
        runs.push(settle(archive, run).await?);
    }
    Ok(runs)
}

/// A run as it stands: its lines still `queued` are checked against their jobs
/// ([`job::settle`](crate::snapshot::job::settle)) — a job that ended without its line
/// being written has it written now, and one whose queue message went to the dead-letter
/// queue (its last delivery's attempt ended without finishing it: a crash, a timeout, a
/// failure) is failed — so no line reads `queued` for a job nothing will run. One read of a
/// job row per `queued` line; a finished run reads nothing.
pub async fn settle(archive: &Archive, run: RunSummary) -> Result<RunSummary> {
    if run.finished_at.is_some() {
        return Ok(run);
    }
    let mut changed = false;
    for line in run.scopes.iter().filter(|l| l.status == RunStatus::Queued) {
        let Some(job) = line.job.as_deref().and_then(|j| j.parse().ok()) else {
            continue;
        };
        crate::snapshot::job::settle(archive, &job).await?;
        changed = true;
    }
    if !changed {
        return Ok(run);
    }
    Ok(get_in(&*archive.catalog, &run.id).await?.unwrap_or(run))
}

/// One run by id (in `catalog`).
pub(crate) async fn get_in(catalog: &dyn Catalog, id: &str) -> Result<Option<RunSummary>> {
    let name = cell(id);
    match catalog.read_cell(&name).await? {
        None => Ok(None),
        Some(c) => Ok(Some(
            serde_json::from_value(c.value).map_err(|e| corrupt(&name, e))?,
        )),
    }
}

/// [`list`] in `catalog`.
pub(crate) async fn list_in(
    catalog: &dyn Catalog,
    selection: Option<&str>,
    limit: usize,
) -> Result<Vec<RunSummary>> {
    let ids: Vec<String> = match catalog.read_cell(INDEX).await? {
        None => Vec::new(),
        Some(c) => serde_json::from_value(c.value).map_err(|e| corrupt(INDEX, e))?,
    };
    let mut runs = Vec::new();
    for id in ids {
        if runs.len() >= limit {
            break;
        }
        if let Some(run) = get_in(catalog, &id).await? {
            if selection.is_none_or(|s| s.eq_ignore_ascii_case(&run.selection)) {
                runs.push(run);
            }
        }
    }
    Ok(runs)
}

/// The run's one log line: the totals as fields, and the whole record as JSON in `run`.
pub fn log(run: &RunSummary) {
    let record = serde_json::to_string(run).unwrap_or_default();
    tracing::info!(
        target: "backtrack::run",
        run_id = %run.id,
        selection = %run.selection,
        repositories = run.scopes.len(),
        completed = run.count(RunStatus::Completed),
        failed = run.failed(),
        skipped = run.count(RunStatus::Skipped),
        requests = run.requests(),
        duration_ms = run.duration_ms,
        run = %record,
        "run summary"
    );
}

fn encode(run: &RunSummary) -> Result<serde_json::Value> {
    serde_json::to_value(run)
        .map_err(|e| Error::Internal(format!("cannot encode run {}: {e}", run.id)))
}

fn corrupt(name: &str, e: serde_json::Error) -> Error {
    Error::Catalog(CatalogError::Corrupt {
        catalog: "runs".into(),
        detail: format!("cell {name}: {e}"),
    })
}

/// Reads cell `name`, lets `decide` compute its next value (`None`: leave it, answer
/// nothing), writes it if nobody wrote in between, and retries from a fresh read otherwise.
async fn cas<T>(
    catalog: &dyn Catalog,
    name: &str,
    mut decide: impl FnMut(Option<serde_json::Value>) -> Result<Option<(serde_json::Value, T)>>,
) -> Result<Option<T>> {
    for attempt in 0..CAS_ATTEMPTS {
        let current = catalog.read_cell(name).await?;
        let version = current.as_ref().map(|c| c.version);
        let Some((value, answer)) = decide(current.map(|c| c.value))? else {
            return Ok(None);
        };
        match catalog.write_cell(name, &value, version).await {
            Ok(_) => return Ok(Some(answer)),
            Err(CatalogError::Conflict { .. }) => {
                // Jobs ending together: back off a little, more with every loss, with jitter.
                let jitter = u64::from(Utc::now().timestamp_subsec_micros()) % 25;
                let ms = (5u64 << attempt.min(5)) + jitter;
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Catalog(CatalogError::Conflict {
        what: format!("cell {name}"),
        detail: format!("it kept changing through {CAS_ATTEMPTS} attempts; retry"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::MemoryCatalog;
    use crate::scope::Scope;
    use std::sync::Arc;

    fn line(scope: &str, status: RunStatus, job: Option<&str>) -> ScopeRun {
        ScopeRun {
            scope: scope.parse::<Scope>().unwrap(),
            status,
            snapshot: None,
            job: job.map(str::to_string),
            requests: 7,
            duration_ms: 30,
            error: None,
        }
    }

    /// Twenty jobs ending at once: every line lands, exactly one of them finishes the run.
    #[tokio::test]
    async fn jobs_ending_together_finish_the_run_once_with_every_line() {
        let catalog: Arc<dyn Catalog> = Arc::new(MemoryCatalog::new());
        let mut run = RunSummary::start("github:acme/*", Utc::now());
        for i in 0..20 {
            let job = format!("job{i}");
            run.scopes.push(line(
                &format!("github:acme/r{i}"),
                RunStatus::Queued,
                Some(&job),
            ));
        }
        run.scopes
            .push(line("github:acme/old", RunStatus::Skipped, None));
        save_in(&*catalog, &run).await.unwrap();
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let catalog = catalog.clone();
                let id = run.id.clone();
                tokio::spawn(async move {
                    let status = if i == 7 {
                        RunStatus::Failed
                    } else {
                        RunStatus::Completed
                    };
                    record(
                        &*catalog,
                        &id,
                        line(&format!("github:ACME/r{i}"), status, None),
                    )
                    .await
                    .unwrap()
                })
            })
            .collect();
        let mut finished = 0;
        for t in tasks {
            if t.await.unwrap().is_some() {
                finished += 1;
            }
        }
        assert_eq!(finished, 1);
        let stored = get_in(&*catalog, &run.id).await.unwrap().unwrap();
        assert!(stored.finished_at.is_some());
        assert_eq!(stored.count(RunStatus::Completed), 19);
        assert_eq!(stored.failed(), 1);
        assert_eq!(stored.count(RunStatus::Skipped), 1);
        assert_eq!(
            stored.scopes[3].job.as_deref(),
            Some("job3"),
            "the job is kept"
        );
        // A redelivered job changes nothing and finishes nothing again.
        let again = record(
            &*catalog,
            &run.id,
            line("github:acme/r7", RunStatus::Completed, None),
        )
        .await
        .unwrap();
        assert!(again.is_none());
        assert_eq!(
            get_in(&*catalog, &run.id).await.unwrap().unwrap().failed(),
            1
        );
        let listed = list_in(&*catalog, Some("github:Acme/*"), 10).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert!(list_in(&*catalog, Some("github:beta/*"), 10)
            .await
            .unwrap()
            .is_empty());
    }
}
