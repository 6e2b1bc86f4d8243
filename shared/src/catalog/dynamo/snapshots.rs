//! Snapshot rows: created once, found by scope (a query, newest first) or by id (the `by-id`
//! index), finished once, pinned and unpinned, deleted.

use aws_sdk_dynamodb::types::AttributeValue;

use super::items::{epoch_secs, json_to_attr, s, snapshot_sk};
use super::requests::{Conditional, PagedRequest, Update};
use super::{DynamoCatalog, ATTR_PK, ATTR_TTL};

/// A snapshot's manifest hash (part of the row's JSON; named here for the update
/// expressions that set it).
const ATTR_MANIFEST_HASH: &str = "manifest_hash";
use crate::catalog::{CatalogError, Finish, SnapshotEntry, SnapshotStatus};
use crate::id::{ObjectHash, SnapshotId};
use crate::scope::Scope;

impl DynamoCatalog {
    pub(super) async fn create_snapshot(&self, entry: &SnapshotEntry) -> Result<(), CatalogError> {
        let sk = snapshot_sk(&entry.id);
        if !self
            .create_item("create snapshot", self.snapshot_item(entry)?)
            .await?
        {
            return Err(CatalogError::Conflict {
                what: format!("snapshot {}", entry.id),
                detail: "a snapshot with this id already exists".into(),
            });
        }
        self.remember(&sk, &entry.scope.key());
        Ok(())
    }

    pub(super) async fn snapshot_by_id(
        &self,
        id: &SnapshotId,
        patient: bool,
    ) -> Result<Option<SnapshotEntry>, CatalogError> {
        match self.find_by_gid(&snapshot_sk(id), patient).await? {
            Some(item) => Ok(Some(self.parse("snapshot row", item)?)),
            None => Ok(None),
        }
    }

    /// The row at `(pk, sk)` read back after a condition failed (`NotFound` if it is gone).
    async fn stored_snapshot(
        &self,
        (pk, sk): (&str, &str),
        id: &SnapshotId,
    ) -> Result<SnapshotEntry, CatalogError> {
        match self.get_item(pk, sk).await? {
            Some(item) => self.parse("snapshot row", item),
            None => Err(self.not_found(format!("snapshot {id}"))),
        }
    }

    /// The row of `id`, which must exist (waiting briefly for the index), and the
    /// partition it lives in.
    async fn existing_snapshot(
        &self,
        id: &SnapshotId,
    ) -> Result<(SnapshotEntry, String), CatalogError> {
        let item = self
            .find_by_gid(&snapshot_sk(id), true)
            .await?
            .ok_or_else(|| self.not_found(format!("snapshot {id}")))?;
        let pk = self.pk_of("snapshot row", &item)?;
        Ok((self.parse("snapshot row", item)?, pk))
    }

    pub(super) async fn list_snapshots(
        &self,
        scope: Option<&Scope>,
    ) -> Result<Vec<SnapshotEntry>, CatalogError> {
        let mut entries: Vec<SnapshotEntry> = match scope {
            Some(scope) => {
                self.query_rows("snapshot row", &scope.key(), "snap#", true)
                    .await?
            }
            // No scope: a filtered scan. Catalogs hold thousands of rows, not millions, and
            // this is an interactive listing, so a scan is simpler than a second index.
            None => self
                .collect_pages(PagedRequest::ScanKind("snap"))
                .await?
                .into_iter()
                .map(|item| self.parse("snapshot row", item))
                .collect::<Result<_, _>>()?,
        };
        for e in &entries {
            self.remember(&snapshot_sk(&e.id), &e.scope.key());
        }
        // Ids sort by creation time; the scan has no order of its own.
        entries.sort_by_key(|e| std::cmp::Reverse(e.id));
        Ok(entries)
    }

    pub(super) async fn finish_snapshot(
        &self,
        id: &SnapshotId,
        finish: &Finish,
    ) -> Result<(), CatalogError> {
        let (_, pk) = self.existing_snapshot(id).await?;
        let sk = snapshot_sk(id);
        let attr = |what: &str, v: Result<serde_json::Value, serde_json::Error>| {
            v.map(json_to_attr)
                .map_err(|e| self.corrupt(&format!("snapshot {what}"), e))
        };
        let update = Update {
            set: vec![
                ("status", s(finish.status.as_str())),
                (
                    "finished_at",
                    attr("finish time", serde_json::to_value(finish.finished_at))?,
                ),
                (
                    "counts",
                    attr("counts", serde_json::to_value(finish.counts))?,
                ),
                ("bytes", attr("bytes", serde_json::to_value(finish.bytes))?),
                ("requests", AttributeValue::N(finish.requests.to_string())),
                ("error", attr("error", serde_json::to_value(&finish.error))?),
                (
                    ATTR_MANIFEST_HASH,
                    attr("manifest hash", serde_json::to_value(&finish.manifest_hash))?,
                ),
            ],
            remove: vec![],
        };
        let outcome = self
            .update_if(
                "finish snapshot",
                (&pk, &sk),
                update,
                "attribute_exists(#pk) AND #status IN (:pending, :in_progress)",
                &[("#pk", ATTR_PK), ("#status", "status")],
                vec![
                    (":pending", s(SnapshotStatus::Pending.as_str())),
                    (":in_progress", s(SnapshotStatus::InProgress.as_str())),
                ],
            )
            .await?;
        if outcome == Conditional::Applied {
            return Ok(());
        }
        let stored = self.stored_snapshot((&pk, &sk), id).await?;
        Err(CatalogError::Conflict {
            what: format!("snapshot {id}"),
            detail: format!(
                "it is already {}; a finished snapshot is never finished again",
                stored.status
            ),
        })
    }

    pub(super) async fn restart_snapshot(
        &self,
        entry: &SnapshotEntry,
        expected: &[SnapshotStatus],
    ) -> Result<(), CatalogError> {
        let (_, pk) = self.existing_snapshot(&entry.id).await?;
        if pk != entry.scope.key() {
            return Err(CatalogError::Conflict {
                what: format!("snapshot {}", entry.id),
                detail: "it belongs to another scope".into(),
            });
        }
        let sk = snapshot_sk(&entry.id);
        let placeholders: Vec<String> = (0..expected.len()).map(|i| format!(":s{i}")).collect();
        let condition = format!(
            "attribute_exists(#pk) AND #status IN ({})",
            placeholders.join(", ")
        );
        let values = placeholders
            .iter()
            .zip(expected)
            .map(|(p, status)| (p.as_str(), s(status.as_str())))
            .collect();
        let outcome = self
            .put_if(
                "restart snapshot",
                self.snapshot_item(entry)?,
                &condition,
                &[("#pk", ATTR_PK), ("#status", "status")],
                values,
            )
            .await?;
        if outcome == Conditional::Applied {
            return Ok(());
        }
        let stored = self.stored_snapshot((&pk, &sk), &entry.id).await?;
        Err(CatalogError::Conflict {
            what: format!("snapshot {}", entry.id),
            detail: format!(
                "it is {}, not {}",
                stored.status,
                crate::catalog::one_of(expected)
            ),
        })
    }

    pub(super) async fn record_snapshot_manifest_hash(
        &self,
        id: &SnapshotId,
        hash: &ObjectHash,
    ) -> Result<(), CatalogError> {
        let (_, pk) = self.existing_snapshot(id).await?;
        let sk = snapshot_sk(id);
        // Entries written before the hash existed lack the attribute; newer ones that are
        // not completed hold NULL. Recording the same hash again is accepted by the
        // condition itself.
        let outcome = self
            .update_if(
                "record manifest hash",
                (&pk, &sk),
                Update {
                    set: vec![(ATTR_MANIFEST_HASH, s(hash.to_string()))],
                    remove: vec![],
                },
                "attribute_exists(#pk) AND #status = :completed AND \
                 (attribute_not_exists(#mh) OR attribute_type(#mh, :null_type) OR #mh = :mh)",
                &[
                    ("#pk", ATTR_PK),
                    ("#status", "status"),
                    ("#mh", ATTR_MANIFEST_HASH),
                ],
                vec![
                    (":mh", s(hash.to_string())),
                    (":completed", s(SnapshotStatus::Completed.as_str())),
                    (":null_type", s("NULL")),
                ],
            )
            .await?;
        if outcome == Conditional::Applied {
            return Ok(());
        }
        let stored = self.stored_snapshot((&pk, &sk), id).await?;
        match stored.manifest_hash {
            Some(held) if held == *hash => Ok(()),
            Some(held) => Err(CatalogError::Conflict {
                what: format!("snapshot {id}"),
                detail: format!("it already records manifest hash {held}"),
            }),
            None => Err(CatalogError::Conflict {
                what: format!("snapshot {id}"),
                detail: format!("it is {}, not completed", stored.status),
            }),
        }
    }

    /// Applies the update `change` makes from the row of `id`, which must still exist.
    async fn update_snapshot(
        &self,
        what: &str,
        id: &SnapshotId,
        change: impl FnOnce(&SnapshotEntry) -> Update<'static>,
    ) -> Result<(), CatalogError> {
        let (entry, pk) = self.existing_snapshot(id).await?;
        let outcome = self
            .update_if(
                what,
                (&pk, &snapshot_sk(id)),
                change(&entry),
                "attribute_exists(#pk)",
                &[("#pk", ATTR_PK)],
                vec![],
            )
            .await?;
        match outcome {
            Conditional::Applied => Ok(()),
            Conditional::Failed { .. } => Err(self.not_found(format!("snapshot {id}"))),
        }
    }

    pub(super) async fn set_snapshot_pinned(
        &self,
        id: &SnapshotId,
        pinned: bool,
    ) -> Result<(), CatalogError> {
        // `expires_at` never changes after creation, so deciding from the row read is safe.
        self.update_snapshot("pin snapshot", id, |entry| {
            let mut update = Update {
                set: vec![("pinned", AttributeValue::Bool(pinned))],
                remove: vec![],
            };
            match (pinned, entry.expires_at) {
                // A pinned snapshot must never be dropped by TTL.
                (true, _) | (false, None) => update.remove.push(ATTR_TTL),
                (false, Some(expires)) => update.set.push((ATTR_TTL, epoch_secs(expires))),
            }
            update
        })
        .await
    }

    pub(super) async fn mark_snapshot_deleting(&self, id: &SnapshotId) -> Result<(), CatalogError> {
        self.update_snapshot("mark snapshot deleting", id, |_| Update {
            set: vec![("status", s(SnapshotStatus::Deleting.as_str()))],
            remove: vec![],
        })
        .await
    }

    pub(super) async fn delete_snapshot(&self, id: &SnapshotId) -> Result<(), CatalogError> {
        let (_, pk) = self.existing_snapshot(id).await?;
        let sk = snapshot_sk(id);
        self.delete_item("delete snapshot", (&pk, &sk)).await?;
        self.forget(&sk);
        Ok(())
    }
}
