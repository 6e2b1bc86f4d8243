//! Scope locks and claims: one item each, taken by a conditional put that only wins over a
//! free key or an expired holder (the condition compares the *stored* expiry), renewed and
//! released by their token.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;

use super::items::{
    claim_pk, epoch_ms, epoch_secs, json_to_attr, s, ATTR_EXPIRES_MS, CLAIM_SK, LOCK_SK,
    LOCK_TTL_GRACE_SECS,
};
use super::requests::{Conditional, Update};
use super::{DynamoCatalog, ATTR_PK, ATTR_TTL};
use crate::catalog::{CatalogError, Claim, LockInfo};
use crate::scope::Scope;

/// The condition of a takeover: nobody holds the key, or its holder's time is up.
const FREE_OR_EXPIRED: &str = "attribute_not_exists(#pk) OR #expires <= :now";

impl DynamoCatalog {
    /// A put that takes a lock or claim item if it is free or expired.
    pub(super) async fn take(
        &self,
        what: &str,
        item: super::items::Item,
    ) -> Result<bool, CatalogError> {
        let now = Utc::now().timestamp_millis();
        let outcome = self
            .put_if(
                what,
                item,
                FREE_OR_EXPIRED,
                &[("#pk", ATTR_PK), ("#expires", ATTR_EXPIRES_MS)],
                vec![(":now", AttributeValue::N(now.to_string()))],
            )
            .await?;
        Ok(outcome == Conditional::Applied)
    }

    pub(super) async fn take_lock(&self, lock: &LockInfo) -> Result<(), CatalogError> {
        // A lock released between our failed put and the read-back: try again, a few times.
        for _ in 0..3 {
            if self.take("take lock", self.lock_item(lock)?).await? {
                return Ok(());
            }
            match self.lock_of(&lock.scope).await? {
                // Ours already (an earlier attempt whose answer was lost): tokens are unique
                // per acquisition, so nobody else can hold this one.
                Some(held) if held.token == lock.token => return Ok(()),
                Some(held) => return Err(CatalogError::Locked(Box::new(held))),
                None => continue,
            }
        }
        Err(CatalogError::Conflict {
            what: format!("lock of {}", lock.scope),
            detail: "the lock kept changing hands; retry".into(),
        })
    }

    pub(super) async fn renew_held_lock(&self, lock: &LockInfo) -> Result<(), CatalogError> {
        let expires_at = serde_json::to_value(lock.expires_at)
            .map(json_to_attr)
            .map_err(|e| self.corrupt("lock expiry", e))?;
        let update = Update {
            set: vec![
                ("expires_at", expires_at),
                (ATTR_EXPIRES_MS, epoch_ms(lock.expires_at)),
                (
                    ATTR_TTL,
                    AttributeValue::N(
                        (lock.expires_at.timestamp() + LOCK_TTL_GRACE_SECS).to_string(),
                    ),
                ),
            ],
            remove: vec![],
        };
        let outcome = self
            .update_if(
                "renew lock",
                (&lock.scope.key(), LOCK_SK),
                update,
                "#token = :token",
                &[("#token", "token")],
                vec![(":token", s(lock.token.clone()))],
            )
            .await?;
        match outcome {
            Conditional::Applied => Ok(()),
            Conditional::Failed { .. } => Err(CatalogError::Conflict {
                what: format!("lock of {}", lock.scope),
                detail: "this holder no longer holds it (it expired and was taken over, or was released)".into(),
            }),
        }
    }

    pub(super) async fn release_lock(
        &self,
        scope: &Scope,
        token: &str,
    ) -> Result<(), CatalogError> {
        self.delete_if_held("release lock", (&scope.key(), LOCK_SK), token)
            .await
    }

    pub(super) async fn lock_of(&self, scope: &Scope) -> Result<Option<LockInfo>, CatalogError> {
        match self.get_item(&scope.key(), LOCK_SK).await? {
            Some(item) => Ok(Some(self.parse("lock row", item)?)),
            None => Ok(None),
        }
    }

    pub(super) async fn take_claim(&self, claim: &Claim) -> Result<bool, CatalogError> {
        let pk = claim_pk(&claim.key);
        let mut item = self.item_of("claim row", claim, "claim", (&pk, CLAIM_SK), None)?;
        item.insert(ATTR_EXPIRES_MS.into(), epoch_ms(claim.expires_at));
        item.insert(ATTR_TTL.into(), epoch_secs(claim.expires_at));
        self.take("take claim", item).await
    }

    pub(super) async fn drop_claim(&self, key: &str, token: &str) -> Result<(), CatalogError> {
        self.delete_if_held("release claim", (&claim_pk(key), CLAIM_SK), token)
            .await
    }
}
