//! The requests every item kind is made of: consistent reads (one item, a paged query or
//! scan, a lookup by id through the `by-id` index) and conditional writes with retries of our
//! own that can tell a lost race from our own lost answer.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;

use super::items::{key, s, Item, ATTR_KIND, ATTR_WRITE_ID};
use super::{DynamoCatalog, ATTR_GID, ATTR_PK, ATTR_SK, INDEX_BY_ID};
use crate::aws::{self, FailureKind};
use crate::catalog::CatalogError;

/// How long lookups by id wait for the `by-id` index to show a row created by another
/// process (GSIs are eventually consistent).
const INDEX_LAG_RETRIES: [u64; 3] = [100, 300, 900];

/// Attempts of a conditional write (the SDK's standard policy also makes 3).
const CONDITIONAL_ATTEMPTS: u32 = 4;

/// The two kinds of paged read.
pub(super) enum PagedRequest<'a> {
    Query {
        pk: &'a str,
        sk_prefix: &'a str,
        newest_first: bool,
    },
    ScanKind(&'a str),
}

/// The result of a conditional write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Conditional {
    Applied,
    /// The condition failed. `maybe_applied`: an earlier attempt of this same call may have
    /// been applied without us hearing the answer.
    Failed {
        maybe_applied: bool,
    },
}

/// A conditional expression's placeholders: `#name → attribute` and `:value → value`.
pub(super) type Names<'a> = &'a [(&'a str, &'a str)];
pub(super) type Values<'a> = Vec<(&'a str, AttributeValue)>;

/// What a conditional update sets and removes.
#[derive(Default)]
pub(super) struct Update<'a> {
    pub(super) set: Vec<(&'a str, AttributeValue)>,
    pub(super) remove: Vec<&'a str>,
}

impl Update<'_> {
    /// The update expression over placeholders `#u<i>`/`:u<i>`, always recording `wid`.
    fn expression(&self) -> String {
        let mut sets: Vec<String> = (0..self.set.len())
            .map(|i| format!("#u{i} = :u{i}"))
            .collect();
        sets.push("#wid = :wid".to_string());
        let mut expr = format!("SET {}", sets.join(", "));
        if !self.remove.is_empty() {
            let removes: Vec<String> = (0..self.remove.len()).map(|i| format!("#r{i}")).collect();
            expr.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        expr
    }
}

/// A closure that sends a built request once (with the SDK's own retries off), for
/// [`DynamoCatalog::send_conditional`] to call once per attempt.
macro_rules! without_sdk_retries {
    ($req:expr) => {
        || {
            $req.clone()
                .customize()
                .config_override(no_sdk_retries())
                .send()
        }
    };
}

/// A request's `ExpressionAttributeNames` and `ExpressionAttributeValues`.
type Placeholders = (
    Option<HashMap<String, String>>,
    Option<HashMap<String, AttributeValue>>,
);

/// Placeholder maps for a request (`None` when empty: DynamoDB refuses empty maps).
fn placeholders(names: Names<'_>, values: Values<'_>) -> Placeholders {
    let names: HashMap<String, String> = names
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let values: HashMap<String, AttributeValue> = values
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    (
        (!names.is_empty()).then_some(names),
        (!values.is_empty()).then_some(values),
    )
}

fn no_sdk_retries() -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::config::Builder::default()
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
}

impl DynamoCatalog {
    pub(super) fn remember(&self, gid: &str, pk: &str) {
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(gid.to_string(), pk.to_string());
    }

    pub(super) fn forget(&self, gid: &str) {
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(gid);
    }

    fn known_pk(&self, gid: &str) -> Option<String> {
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(gid)
            .cloned()
    }

    /// A strongly consistent read of one item.
    pub(super) async fn get_item(&self, pk: &str, sk: &str) -> Result<Option<Item>, CatalogError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error("get item", aws::classify(&e)))?;
        Ok(out.item)
    }

    /// The item with `gid` (a snapshot or job), through the cache of known keys or the
    /// `by-id` index. `patient` waits briefly for the index to catch up with a row another
    /// process has just written.
    pub(super) async fn find_by_gid(
        &self,
        gid: &str,
        patient: bool,
    ) -> Result<Option<Item>, CatalogError> {
        if let Some(pk) = self.known_pk(gid) {
            if let Some(item) = self.get_item(&pk, gid).await? {
                return Ok(Some(item));
            }
            self.forget(gid);
        }
        let waits: &[u64] = if patient { &INDEX_LAG_RETRIES } else { &[] };
        let mut waits = waits.iter();
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(INDEX_BY_ID)
                .key_condition_expression("#gid = :gid")
                .expression_attribute_names("#gid", ATTR_GID)
                .expression_attribute_values(":gid", s(gid))
                .send()
                .await
                .map_err(|e| self.error("query by id", aws::classify(&e)))?;
            if let Some(item) = out.items.and_then(|items| items.into_iter().next()) {
                if let Some(AttributeValue::S(pk)) = item.get(ATTR_PK) {
                    self.remember(gid, pk);
                }
                return Ok(Some(item));
            }
            match waits.next() {
                Some(ms) => tokio::time::sleep(Duration::from_millis(*ms)).await,
                None => return Ok(None),
            }
        }
    }

    /// Every item of a query or scan, following `LastEvaluatedKey`.
    pub(super) async fn collect_pages(
        &self,
        request: PagedRequest<'_>,
    ) -> Result<Vec<Item>, CatalogError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let (page, next) = match &request {
                PagedRequest::Query {
                    pk,
                    sk_prefix,
                    newest_first,
                } => {
                    let out = self
                        .client
                        .query()
                        .table_name(&self.table)
                        .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                        .expression_attribute_names("#pk", ATTR_PK)
                        .expression_attribute_names("#sk", ATTR_SK)
                        .expression_attribute_values(":pk", s(*pk))
                        .expression_attribute_values(":prefix", s(*sk_prefix))
                        .scan_index_forward(!newest_first)
                        .consistent_read(true)
                        .set_limit(self.page_size)
                        .set_exclusive_start_key(start.take())
                        .send()
                        .await
                        .map_err(|e| self.error("query", aws::classify(&e)))?;
                    (out.items.unwrap_or_default(), out.last_evaluated_key)
                }
                PagedRequest::ScanKind(kind) => {
                    let out = self
                        .client
                        .scan()
                        .table_name(&self.table)
                        .filter_expression("#kind = :kind")
                        .expression_attribute_names("#kind", ATTR_KIND)
                        .expression_attribute_values(":kind", s(*kind))
                        .consistent_read(true)
                        .set_limit(self.page_size)
                        .set_exclusive_start_key(start.take())
                        .send()
                        .await
                        .map_err(|e| self.error("scan", aws::classify(&e)))?;
                    (out.items.unwrap_or_default(), out.last_evaluated_key)
                }
            };
            items.extend(page);
            match next {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    /// Every row of partition `pk` whose sort key starts with `sk_prefix`, parsed.
    pub(super) async fn query_rows<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        pk: &str,
        sk_prefix: &str,
        newest_first: bool,
    ) -> Result<Vec<T>, CatalogError> {
        self.collect_pages(PagedRequest::Query {
            pk,
            sk_prefix,
            newest_first,
        })
        .await?
        .into_iter()
        .map(|item| self.parse(what, item))
        .collect()
    }

    /// Sends a conditional write with retries of our own (the SDK's are switched off for
    /// it), because only here can we tell a lost race from our own lost answer: when an
    /// attempt may have reached DynamoDB (a timeout, a reset, a 5xx) and the next attempt's
    /// condition fails, the caller reads the row back to see whether that first attempt
    /// won. A condition failing on a first clean attempt is always someone else's write.
    async fn send_conditional<T, E, Fut>(
        &self,
        what: &str,
        send: impl Fn() -> Fut,
    ) -> Result<Conditional, CatalogError>
    where
        Fut: std::future::Future<
            Output = Result<T, SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>>,
        >,
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        let mut maybe_applied = false;
        let mut attempt = 0u32;
        loop {
            let failure = match send().await {
                Ok(_) => return Ok(Conditional::Applied),
                Err(e) => aws::classify(&e),
            };
            if failure.code_is("ConditionalCheckFailedException") {
                return Ok(Conditional::Failed { maybe_applied });
            }
            let server_error = failure.status.is_some_and(|s| s >= 500);
            let retryable = matches!(
                failure.kind,
                FailureKind::Throttled | FailureKind::Transient
            ) || server_error;
            attempt += 1;
            if !retryable || attempt >= CONDITIONAL_ATTEMPTS {
                return Err(self.error(what, failure));
            }
            // A throttled request was refused before it ran; anything else may have run.
            if failure.kind != FailureKind::Throttled {
                maybe_applied = true;
            }
            let backoff = 50u64 << attempt.min(6);
            let jitter = u64::from(Utc::now().timestamp_subsec_millis()) % backoff;
            tokio::time::sleep(Duration::from_millis(backoff + jitter)).await;
        }
    }

    /// After a condition failed on a retry: whether the item at `(pk, sk)` carries
    /// `write_id`, i.e. an earlier attempt of ours was applied and only its answer was lost.
    /// Identical payloads from two racers must not both count as winners, hence the id
    /// rather than a comparison of contents.
    async fn settle(
        &self,
        outcome: Conditional,
        (pk, sk): (&str, &str),
        write_id: String,
    ) -> Result<Conditional, CatalogError> {
        if outcome
            != (Conditional::Failed {
                maybe_applied: true,
            })
        {
            return Ok(outcome);
        }
        let ours = self
            .get_item(pk, sk)
            .await?
            .is_some_and(|stored| stored.get(ATTR_WRITE_ID) == Some(&s(write_id)));
        Ok(if ours {
            Conditional::Applied
        } else {
            Conditional::Failed {
                maybe_applied: false,
            }
        })
    }

    /// A conditional put (see [`Self::send_conditional`]); the item must carry its key.
    pub(super) async fn put_if(
        &self,
        what: &str,
        mut item: Item,
        condition: &str,
        names: Names<'_>,
        values: Values<'_>,
    ) -> Result<Conditional, CatalogError> {
        let write_id = ulid::Ulid::new().to_string();
        item.insert(ATTR_WRITE_ID.into(), s(write_id.clone()));
        let (pk, sk) = match (item.get(ATTR_PK), item.get(ATTR_SK)) {
            (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => (pk.clone(), sk.clone()),
            _ => return Err(self.corrupt(what, "an item without its key")),
        };
        let (names, values) = placeholders(names, values);
        let req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values);
        let outcome = self
            .send_conditional(what, without_sdk_retries!(req))
            .await?;
        self.settle(outcome, (&pk, &sk), write_id).await
    }

    /// Puts `item` only where no item exists: `true` when it was created now (or by a
    /// retried attempt of this call), `false` when another item holds its key. The one way
    /// every kind of row is created.
    pub(super) async fn create_item(&self, what: &str, item: Item) -> Result<bool, CatalogError> {
        let outcome = self
            .put_if(
                what,
                item,
                "attribute_not_exists(#pk)",
                &[("#pk", ATTR_PK)],
                vec![],
            )
            .await?;
        Ok(outcome == Conditional::Applied)
    }

    /// A conditional update of the item at `(pk, sk)`; `condition` may use the names and
    /// values it brings besides the update's own (`#u<i>`, `:u<i>`, `#r<i>`, `#wid`).
    pub(super) async fn update_if(
        &self,
        what: &str,
        (pk, sk): (&str, &str),
        update: Update<'_>,
        condition: &str,
        names: Names<'_>,
        values: Values<'_>,
    ) -> Result<Conditional, CatalogError> {
        let write_id = ulid::Ulid::new().to_string();
        let mut all_names: Vec<(String, String)> = vec![("#wid".into(), ATTR_WRITE_ID.into())];
        let mut all_values: Vec<(String, AttributeValue)> =
            vec![(":wid".into(), s(write_id.clone()))];
        let expression = update.expression();
        for (i, (name, value)) in update.set.into_iter().enumerate() {
            all_names.push((format!("#u{i}"), name.to_string()));
            all_values.push((format!(":u{i}"), value));
        }
        for (i, name) in update.remove.into_iter().enumerate() {
            all_names.push((format!("#r{i}"), name.to_string()));
        }
        all_names.extend(names.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        all_values.extend(values.into_iter().map(|(k, v)| (k.to_string(), v)));
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .update_expression(expression)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(all_names.into_iter().collect()))
            .set_expression_attribute_values(Some(all_values.into_iter().collect()));
        let outcome = self
            .send_conditional(what, without_sdk_retries!(req))
            .await?;
        self.settle(outcome, (pk, sk), write_id).await
    }

    /// Deletes the item at `(pk, sk)` if `token` (its `token` attribute) still holds it;
    /// anything else (not ours any more, or already gone) is not an error.
    pub(super) async fn delete_if_held(
        &self,
        what: &str,
        (pk, sk): (&str, &str),
        token: &str,
    ) -> Result<(), CatalogError> {
        let sent = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .condition_expression("#token = :token")
            .expression_attribute_names("#token", "token")
            .expression_attribute_values(":token", s(token))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) => {
                let failure = aws::classify(&e);
                if failure.code_is("ConditionalCheckFailedException") {
                    Ok(())
                } else {
                    Err(self.error(what, failure))
                }
            }
        }
    }

    /// Deletes the item at `(pk, sk)` unconditionally (a retried delete of a row that is
    /// already gone must not turn into "not found").
    pub(super) async fn delete_item(
        &self,
        what: &str,
        (pk, sk): (&str, &str),
    ) -> Result<(), CatalogError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .send()
            .await
            .map_err(|e| self.error(what, aws::classify(&e)))?;
        Ok(())
    }
}
