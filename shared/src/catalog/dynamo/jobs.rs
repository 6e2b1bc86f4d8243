//! Rollback jobs and their journals. A job lives in its scope's partition (listed newest
//! first, found by id through `by-id`); its journal entries live in the job's own partition,
//! one item per operation, so an append is one conditional create with no lookup.

use super::items::{job_sk, journal_pk, journal_sk, s};
use super::requests::Conditional;
use super::{DynamoCatalog, ATTR_PK};
use crate::catalog::{CatalogError, JobEntry, JobStatus, JournalEntry};
use crate::id::JobId;
use crate::scope::Scope;

impl DynamoCatalog {
    pub(super) async fn create_job_row(&self, job: &JobEntry) -> Result<(), CatalogError> {
        if !self.create_item("create job", self.job_item(job)?).await? {
            return Err(CatalogError::Conflict {
                what: format!("job {}", job.id),
                detail: "a job with this id already exists".into(),
            });
        }
        self.remember(&job_sk(&job.id), &job.scope.key());
        Ok(())
    }

    pub(super) async fn job_by_id(&self, id: &JobId) -> Result<Option<JobEntry>, CatalogError> {
        match self.find_by_gid(&job_sk(id), false).await? {
            Some(item) => Ok(Some(self.parse("job row", item)?)),
            None => Ok(None),
        }
    }

    pub(super) async fn jobs_of(&self, scope: &Scope) -> Result<Vec<JobEntry>, CatalogError> {
        let pk = scope.key();
        let jobs: Vec<JobEntry> = self.query_rows("job row", &pk, "job#", true).await?;
        for job in &jobs {
            self.remember(&job_sk(&job.id), &pk);
        }
        Ok(jobs)
    }

    pub(super) async fn replace_job(
        &self,
        job: &JobEntry,
        expected: JobStatus,
    ) -> Result<(), CatalogError> {
        let pk = job.scope.key();
        let sk = job_sk(&job.id);
        let outcome = self
            .put_if(
                "update job",
                self.job_item(job)?,
                "attribute_exists(#pk) AND #status = :expected",
                &[("#pk", ATTR_PK), ("#status", "status")],
                vec![(":expected", s(expected.as_str()))],
            )
            .await?;
        if outcome == Conditional::Applied {
            return Ok(());
        }
        let Some(stored) = self.get_item(&pk, &sk).await? else {
            return Err(self.not_found(format!("job {}", job.id)));
        };
        let stored: JobEntry = self.parse("job row", stored)?;
        Err(CatalogError::Conflict {
            what: format!("job {}", job.id),
            detail: format!(
                "its status is {}, not the expected {}",
                stored.status.as_str(),
                expected.as_str()
            ),
        })
    }

    pub(super) async fn append_journal(&self, entry: &JournalEntry) -> Result<(), CatalogError> {
        let (pk, sk) = (journal_pk(&entry.job), journal_sk(entry.op));
        let item = self.item_of("journal row", entry, "journal", (&pk, &sk), None)?;
        if !self.create_item("append to journal", item).await? {
            return Err(CatalogError::Conflict {
                what: format!("operation {} of job {}", entry.op, entry.job),
                detail: "it is already journaled as done".into(),
            });
        }
        Ok(())
    }

    pub(super) async fn journal_of(&self, job: &JobId) -> Result<Vec<JournalEntry>, CatalogError> {
        self.query_rows("journal row", &journal_pk(job), "journal#", false)
            .await
    }
}
