//! The table itself: checking it exists, creating it (on-demand, the `by-id` index, TTL on
//! `ttl`) and waiting until it is usable. Idempotent, for `backtrack init` and tests.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
};

use super::{DynamoCatalog, TableSetup, ATTR_GID, ATTR_PK, ATTR_SK, ATTR_TTL, INDEX_BY_ID};
use crate::aws;
use crate::catalog::{Catalog, CatalogError};

impl DynamoCatalog {
    /// Checks that the table exists and the credentials reach it (one `DescribeTable`), so
    /// a wrong table name fails before any work — `Missing` when there is no such table (only
    /// `backtrack init` creates one) — and brings its layout up to date
    /// ([`DynamoCatalog::prepare`]: one more read when nothing needs migrating).
    pub async fn check(&self) -> Result<(), CatalogError> {
        self.client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| self.error("describe table", aws::classify(&e)))?;
        self.prepare().await?;
        Ok(())
    }

    /// Creates the table (on-demand, the `by-id` index, TTL on `ttl`) unless it exists, and
    /// waits until it is usable. Idempotent; a table with another key schema is an error.
    pub async fn ensure_table(&self) -> Result<TableSetup, CatalogError> {
        let setup = match self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(out) => {
                let keys: Vec<(String, String)> = out
                    .table()
                    .map(|t| {
                        t.key_schema()
                            .iter()
                            .map(|k| {
                                (
                                    k.attribute_name().to_string(),
                                    k.key_type().as_str().to_string(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let expected = vec![
                    (ATTR_PK.to_string(), "HASH".to_string()),
                    (ATTR_SK.to_string(), "RANGE".to_string()),
                ];
                if keys != expected {
                    return Err(CatalogError::Unavailable {
                        catalog: self.location(),
                        detail: format!(
                            "table {} exists with key schema {keys:?}, not ({ATTR_PK} HASH, {ATTR_SK} RANGE); choose another table name",
                            self.table
                        ),
                    });
                }
                TableSetup::Found
            }
            Err(e) => {
                let failure = aws::classify(&e);
                if !failure.code_is("ResourceNotFoundException") {
                    return Err(self.error("describe table", failure));
                }
                self.create_table().await?
            }
        };
        self.wait_active().await?;
        self.ensure_ttl().await?;
        match setup {
            TableSetup::Created => self.record_layout().await?,
            TableSetup::Found => {
                self.prepare().await?;
            }
        }
        Ok(setup)
    }

    async fn create_table(&self) -> Result<TableSetup, CatalogError> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
        };
        let built = (|| {
            Ok::<_, aws_sdk_dynamodb::error::BuildError>((
                vec![attr(ATTR_PK)?, attr(ATTR_SK)?, attr(ATTR_GID)?],
                vec![key(ATTR_PK, KeyType::Hash)?, key(ATTR_SK, KeyType::Range)?],
                GlobalSecondaryIndex::builder()
                    .index_name(INDEX_BY_ID)
                    .key_schema(key(ATTR_GID, KeyType::Hash)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()?,
            ))
        })();
        let (attrs, keys, index) = built.map_err(|e| CatalogError::Backend {
            catalog: self.location(),
            detail: format!("cannot build the table definition: {e}"),
        })?;
        match self
            .client
            .create_table()
            .table_name(&self.table)
            .set_attribute_definitions(Some(attrs))
            .set_key_schema(Some(keys))
            .global_secondary_indexes(index)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
        {
            Ok(_) => Ok(TableSetup::Created),
            // Another `init` created it a moment ago.
            Err(e) if aws::classify(&e).code_is("ResourceInUseException") => Ok(TableSetup::Found),
            Err(e) => Err(self.error("create table", aws::classify(&e))),
        }
    }

    async fn wait_active(&self) -> Result<(), CatalogError> {
        for _ in 0..240 {
            let out = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| self.error("describe table", aws::classify(&e)))?;
            let table = out.table();
            let active = table.and_then(|t| t.table_status()) == Some(&TableStatus::Active);
            let indexes_active = table
                .map(|t| {
                    t.global_secondary_indexes().iter().all(|i| {
                        i.index_status()
                            .is_none_or(|s| *s == aws_sdk_dynamodb::types::IndexStatus::Active)
                    })
                })
                .unwrap_or(true);
            if active && indexes_active {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(CatalogError::Unavailable {
            catalog: self.location(),
            detail: format!(
                "table {} did not become ACTIVE within 2 minutes; check it in the AWS console",
                self.table
            ),
        })
    }

    async fn ensure_ttl(&self) -> Result<(), CatalogError> {
        let current = self
            .client
            .describe_time_to_live()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| self.error("describe TTL", aws::classify(&e)))?;
        let status = current
            .time_to_live_description()
            .and_then(|d| d.time_to_live_status());
        if matches!(
            status,
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
        ) {
            return Ok(());
        }
        let spec = TimeToLiveSpecification::builder()
            .enabled(true)
            .attribute_name(ATTR_TTL)
            .build()
            .map_err(|e| CatalogError::Backend {
                catalog: self.location(),
                detail: format!("cannot build the TTL setting: {e}"),
            })?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(spec)
            .send()
            .await
            .map_err(|e| self.error("enable TTL", aws::classify(&e)))?;
        Ok(())
    }
}
