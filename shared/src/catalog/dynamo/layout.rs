//! The table's layout version (the `layout` cell) and the migrations between layouts.
//!
//! - Layout 1 (tables written before the version was recorded): snapshot, lock and job items
//!   are partitioned by the scope as the user typed it, so `github:ACME/Widgets` and
//!   `github:acme/widgets` had two histories and two locks.
//! - Layout 2: they are partitioned by [`Scope::key`]; each item keeps its display form in
//!   its `scope` attribute.
//!
//! [`DynamoCatalog::prepare`] brings a table to the current layout: one consistent read when
//! it is current, otherwise one scan per moved kind, then the version is recorded so no
//! process scans again. Moving an item is a create at the new key followed by a delete of the
//! old one, so an interrupted migration is simply run again (a create that finds its item
//! already moved is a no-op). Journal entries (keyed by job id) and claims never held a scope.

use serde_json::json;

use super::items::{s, ATTR_WRITE_ID};
use super::requests::{Conditional, PagedRequest};
use super::{DynamoCatalog, ATTR_PK, ATTR_SK};
use crate::catalog::{Catalog, CatalogError};
use crate::scope::Scope;

/// The cell holding `{"version": N}`.
const LAYOUT_CELL: &str = "layout";
/// The layout this code reads and writes.
pub(super) const LAYOUT_VERSION: u64 = 2;

impl DynamoCatalog {
    /// Brings an existing table to the current layout (see the module docs); returns how
    /// many items were moved. Safe to run from several processes at once. A table written
    /// by a newer backtrack is refused rather than misread.
    pub async fn prepare(&self) -> Result<u64, CatalogError> {
        let cell = self.cell(LAYOUT_CELL).await?;
        let version = cell
            .as_ref()
            .and_then(|c| c.value.get("version").and_then(|v| v.as_u64()))
            .unwrap_or(1);
        if version > LAYOUT_VERSION {
            return Err(CatalogError::Unavailable {
                catalog: self.location(),
                detail: format!(
                    "table {} has layout {version}, newer than this backtrack understands ({LAYOUT_VERSION}); upgrade backtrack",
                    self.table
                ),
            });
        }
        if version == LAYOUT_VERSION {
            return Ok(0);
        }
        let mut moved = 0;
        for kind in ["snap", "job", "lock"] {
            moved += self.rekey_scopes(kind).await?;
        }
        match self
            .put_cell(
                LAYOUT_CELL,
                &json!({ "version": LAYOUT_VERSION }),
                cell.map(|c| c.version),
            )
            .await
        {
            // Another process finished the same migration first.
            Ok(_) | Err(CatalogError::Conflict { .. }) => {}
            // A reader without write access on a table with nothing to move (a table the
            // SAM template just made): nothing is wrong; a writer records the layout later.
            Err(e @ CatalogError::Unavailable { .. }) if moved == 0 => {
                tracing::debug!(error = %e, "cannot record the catalog layout; nothing needed moving");
            }
            Err(e) => return Err(e),
        }
        if moved > 0 {
            tracing::info!(table = %self.table, moved, "catalog migrated to scope keys (layout {LAYOUT_VERSION})");
        }
        Ok(moved)
    }

    /// Records the current layout on a table just created (nothing to migrate).
    pub(super) async fn record_layout(&self) -> Result<(), CatalogError> {
        match self
            .put_cell(LAYOUT_CELL, &json!({ "version": LAYOUT_VERSION }), None)
            .await
        {
            Ok(_) | Err(CatalogError::Conflict { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Moves every item of `kind` whose partition is a scope not in its key form.
    async fn rekey_scopes(&self, kind: &str) -> Result<u64, CatalogError> {
        let mut moved = 0;
        for item in self.collect_pages(PagedRequest::ScanKind(kind)).await? {
            let pk = self.pk_of("item to migrate", &item)?;
            let Ok(scope) = pk.parse::<Scope>() else {
                tracing::warn!(table = %self.table, pk, "an item whose partition is not a scope; left alone");
                continue;
            };
            let key = scope.key();
            if key == pk {
                continue;
            }
            let Some(sk) = item.get(ATTR_SK).cloned() else {
                continue;
            };
            let sk_text = match &sk {
                aws_sdk_dynamodb::types::AttributeValue::S(text) => text.clone(),
                _ => continue,
            };
            let mut rekeyed = item.clone();
            rekeyed.insert(ATTR_PK.into(), s(key));
            rekeyed.remove(ATTR_WRITE_ID);
            let created = if kind == "lock" {
                // Of two case variants holding a lock at once (the bug this migration ends),
                // the one already at the key wins while it is live.
                self.take("move lock", rekeyed).await?
            } else {
                self.put_if(
                    "move item",
                    rekeyed,
                    "attribute_not_exists(#pk)",
                    &[("#pk", ATTR_PK)],
                    vec![],
                )
                .await?
                    == Conditional::Applied
            };
            if !created && kind != "lock" {
                tracing::debug!(pk, sk = %sk_text, "already moved by an earlier run");
            }
            self.delete_item("remove moved item", (&pk, &sk_text))
                .await?;
            self.forget(&sk_text);
            moved += 1;
        }
        Ok(moved)
    }
}
