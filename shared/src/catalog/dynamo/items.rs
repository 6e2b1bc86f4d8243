//! How rows become DynamoDB items and back: the key of each kind of item, the layout
//! attributes, and the JSON ↔ attribute mapping (objects become maps, so items read well in
//! the console).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::{DynamoCatalog, ATTR_GID, ATTR_PK, ATTR_SK, ATTR_TTL};
use crate::catalog::{CatalogError, JobEntry, LockInfo, SnapshotEntry};
use crate::id::{JobId, SnapshotId};

/// The item kind (`snap`, `lock`, `job`, `journal`, `claim`, `cell`), for scans.
pub(super) const ATTR_KIND: &str = "kind";
/// The id of the conditional write that last wrote an item (see `put_if`).
pub(super) const ATTR_WRITE_ID: &str = "wid";
/// A lock's or claim's expiry in epoch milliseconds: the number a conditional takeover
/// compares.
pub(super) const ATTR_EXPIRES_MS: &str = "expires_ms";

/// Attributes that are layout, not part of a row's JSON.
const LAYOUT_ATTRS: [&str; 7] = [
    ATTR_PK,
    ATTR_SK,
    ATTR_GID,
    ATTR_TTL,
    ATTR_KIND,
    ATTR_EXPIRES_MS,
    ATTR_WRITE_ID,
];

pub(super) const LOCK_SK: &str = "lock";
pub(super) const CLAIM_SK: &str = "claim";
/// How long an abandoned lock row stays after its expiry before TTL removes it.
pub(super) const LOCK_TTL_GRACE_SECS: i64 = 24 * 3600;

pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) fn key(pk: &str, sk: &str) -> Item {
    HashMap::from([
        (ATTR_PK.to_string(), AttributeValue::S(pk.to_string())),
        (ATTR_SK.to_string(), AttributeValue::S(sk.to_string())),
    ])
}

pub(super) fn snapshot_sk(id: &SnapshotId) -> String {
    format!("snap#{id}")
}

pub(super) fn job_sk(id: &JobId) -> String {
    format!("job#{id}")
}

pub(super) fn claim_pk(key: &str) -> String {
    format!("claim#{key}")
}

pub(super) fn journal_pk(job: &JobId) -> String {
    format!("job#{job}")
}

pub(super) fn journal_sk(op: u64) -> String {
    // Zero-padded so the sort key orders numerically.
    format!("journal#{op:020}")
}

pub(super) fn epoch_secs(t: DateTime<Utc>) -> AttributeValue {
    AttributeValue::N(t.timestamp().to_string())
}

pub(super) fn epoch_ms(t: DateTime<Utc>) -> AttributeValue {
    AttributeValue::N(t.timestamp_millis().to_string())
}

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A row's JSON object as item attributes.
pub(super) fn row_item<T: Serialize>(row: &T) -> Result<Item, String> {
    match serde_json::to_value(row).map_err(|e| e.to_string())? {
        Value::Object(map) => Ok(map.into_iter().map(|(k, v)| (k, json_to_attr(v))).collect()),
        other => Err(format!("expected an object, got {other}")),
    }
}

/// Item attributes back to a row, without the layout attributes.
pub(super) fn item_row<T: DeserializeOwned>(mut item: Item) -> Result<T, String> {
    for attr in LAYOUT_ATTRS {
        item.remove(attr);
    }
    let map = item
        .into_iter()
        .map(|(k, v)| attr_to_json(v).map(|v| (k, v)))
        .collect::<Result<serde_json::Map<String, Value>, String>>()?;
    serde_json::from_value(Value::Object(map)).map_err(|e| e.to_string())
}

pub(super) fn json_to_attr(v: Value) -> AttributeValue {
    match v {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s),
        Value::Array(items) => AttributeValue::L(items.into_iter().map(json_to_attr).collect()),
        Value::Object(map) => {
            AttributeValue::M(map.into_iter().map(|(k, v)| (k, json_to_attr(v))).collect())
        }
    }
}

fn attr_to_json(a: AttributeValue) -> Result<Value, String> {
    Ok(match a {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(b),
        AttributeValue::S(s) => Value::String(s),
        AttributeValue::N(n) => {
            if let Ok(i) = n.parse::<i64>() {
                Value::from(i)
            } else if let Ok(u) = n.parse::<u64>() {
                Value::from(u)
            } else {
                n.parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .ok_or_else(|| format!("number {n:?} is out of range"))?
            }
        }
        AttributeValue::L(items) => Value::Array(
            items
                .into_iter()
                .map(attr_to_json)
                .collect::<Result<_, _>>()?,
        ),
        AttributeValue::M(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| attr_to_json(v).map(|v| (k, v)))
                .collect::<Result<_, _>>()?,
        ),
        other => return Err(format!("unexpected attribute type {other:?}")),
    })
}

impl DynamoCatalog {
    /// A row as an item of `kind` at (`pk`, `sk`), indexed by `gid` when it has one.
    pub(super) fn item_of<T: Serialize>(
        &self,
        what: &str,
        row: &T,
        kind: &str,
        (pk, sk): (&str, &str),
        gid: Option<&str>,
    ) -> Result<Item, CatalogError> {
        let mut item = row_item(row).map_err(|e| self.corrupt(what, e))?;
        item.insert(ATTR_PK.into(), s(pk));
        item.insert(ATTR_SK.into(), s(sk));
        if let Some(gid) = gid {
            item.insert(ATTR_GID.into(), s(gid));
        }
        item.insert(ATTR_KIND.into(), s(kind));
        Ok(item)
    }

    pub(super) fn snapshot_item(&self, entry: &SnapshotEntry) -> Result<Item, CatalogError> {
        let sk = snapshot_sk(&entry.id);
        let pk = entry.scope.key();
        let mut item = self.item_of("snapshot row", entry, "snap", (&pk, &sk), Some(&sk))?;
        if let (Some(expires), false) = (entry.expires_at, entry.pinned) {
            item.insert(ATTR_TTL.into(), epoch_secs(expires));
        }
        Ok(item)
    }

    pub(super) fn job_item(&self, job: &JobEntry) -> Result<Item, CatalogError> {
        let sk = job_sk(&job.id);
        let pk = job.scope.key();
        self.item_of("job row", job, "job", (&pk, &sk), Some(&sk))
    }

    pub(super) fn lock_item(&self, lock: &LockInfo) -> Result<Item, CatalogError> {
        let pk = lock.scope.key();
        let mut item = self.item_of("lock row", lock, "lock", (&pk, LOCK_SK), None)?;
        item.insert(ATTR_EXPIRES_MS.into(), epoch_ms(lock.expires_at));
        item.insert(
            ATTR_TTL.into(),
            AttributeValue::N((lock.expires_at.timestamp() + LOCK_TTL_GRACE_SECS).to_string()),
        );
        Ok(item)
    }

    /// The partition key an item was read from.
    pub(super) fn pk_of(&self, what: &str, item: &Item) -> Result<String, CatalogError> {
        match item.get(ATTR_PK) {
            Some(AttributeValue::S(pk)) => Ok(pk.clone()),
            _ => Err(self.corrupt(what, "an item without its partition key")),
        }
    }

    pub(super) fn parse<T: DeserializeOwned>(
        &self,
        what: &str,
        item: Item,
    ) -> Result<T, CatalogError> {
        item_row(item).map_err(|e| self.corrupt(what, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_through_items() {
        let value = serde_json::json!({
            "a": "x", "n": 12, "neg": -3, "big": u64::MAX, "f": 1.5, "t": true,
            "none": null, "list": [1, "two", {"three": 3}], "map": {"k": [false]}
        });
        let item = row_item(&value).unwrap();
        let back: Value = item_row(item).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn journal_keys_sort_numerically() {
        assert!(journal_sk(9) < journal_sk(10));
        assert!(journal_sk(99_999) < journal_sk(100_000));
    }
}
