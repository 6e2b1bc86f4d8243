//! [`S3Store`]: the object store on Amazon S3 or an S3-compatible server (feature `aws`).
//!
//! Keys map one to one under an optional prefix: `s3://bucket/team/backtrack` stores
//! `blobs/ab/abcd…` at `team/backtrack/blobs/ab/abcd…`, the same layout as a local folder.
//!
//! Write-once is enforced by the server where it can be: `put` sends `If-None-Match: *`, so
//! of two concurrent writers of one key exactly one gets `Written` and the other a `412
//! Precondition Failed`, reported as `Existed`. Servers that reject the header (`501 Not
//! Implemented`, older S3-compatibles) get a HEAD-then-PUT instead, remembered for the life
//! of the store; content-addressed keys make the remaining race harmless (both writers write
//! the same bytes). Hashes are not checked here: every reader decodes through
//! [`blob::decode`](crate::blob::decode) or [`Manifest::decode`](crate::manifest::Manifest::decode),
//! which check them.

use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::{validate_key, validate_prefix, ObjectInfo, ObjectStore, PutOutcome, StoreError};
use crate::aws::{self, Failure, FailureKind, CREDENTIALS_HINT};
use crate::config::S3Url;

/// What `ensure_bucket` found or did (for `backtrack init`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketSetup {
    Created,
    Found,
}

/// Objects in one S3 bucket under one prefix. Cheap to clone the client; one store per
/// process is plenty (the client pools connections).
#[derive(Debug)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    /// Set once the server has shown it does not support `If-None-Match` on PUT.
    no_conditional_put: AtomicBool,
}

impl S3Store {
    /// A store on `bucket` under `prefix` (`""` for the bucket's root) with a ready client.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>, prefix: &str) -> Self {
        S3Store {
            client,
            bucket: bucket.into(),
            prefix: prefix.trim_matches('/').to_string(),
            no_conditional_put: AtomicBool::new(false),
        }
    }

    /// A store from an `s3://BUCKET/PREFIX` URL, configured by the standard AWS chain
    /// (environment, profile, `AWS_ENDPOINT_URL`).
    pub async fn from_url(url: &str) -> Result<Self, StoreError> {
        let parsed = S3Url::parse(url).map_err(|detail| StoreError::Missing {
            store: url.to_string(),
            detail,
        })?;
        Ok(Self::open(&parsed).await)
    }

    /// A store at a parsed URL, configured by the standard AWS chain.
    pub async fn open(parsed: &S3Url) -> Self {
        let config = aws::load_config().await;
        Self::new(aws::s3_client(&config), &parsed.bucket, &parsed.prefix)
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    /// The S3 key of a store key.
    pub fn object_key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    /// Checks that the bucket exists and the credentials reach it (one HEAD request), so a
    /// wrong bucket name fails before any work rather than at the first write.
    pub async fn check(&self) -> Result<(), StoreError> {
        match self.client.head_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let mut failure = aws::classify(&e);
                // HEAD answers carry no body, so no error code: a 404 is the missing bucket.
                if failure.status == Some(404) {
                    failure.code = Some("NoSuchBucket".into());
                    failure.detail = "HTTP 404".into();
                }
                Err(self.error("", "HEAD bucket", failure))
            }
        }
    }

    /// Creates the bucket unless it exists, and blocks public access to it. Idempotent: a
    /// second run finds the bucket and changes nothing but the (same) access block.
    pub async fn ensure_bucket(&self) -> Result<BucketSetup, StoreError> {
        let setup = match self.client.head_bucket().bucket(&self.bucket).send().await {
            Ok(_) => BucketSetup::Found,
            Err(e) => {
                let failure = aws::classify(&e);
                if failure.status != Some(404) {
                    return Err(self.error("", "HEAD bucket", failure));
                }
                let mut create = self.client.create_bucket().bucket(&self.bucket);
                // us-east-1 is the one region that must not be named as a constraint.
                if let Some(region) = self.client.config().region().map(|r| r.to_string()) {
                    if region != "us-east-1" {
                        create = create.create_bucket_configuration(
                            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                                .location_constraint(
                                    aws_sdk_s3::types::BucketLocationConstraint::from(
                                        region.as_str(),
                                    ),
                                )
                                .build(),
                        );
                    }
                }
                match create.send().await {
                    Ok(_) => BucketSetup::Created,
                    Err(e) => {
                        let failure = aws::classify(&e);
                        // Lost a race with another `init`: the bucket is ours all the same.
                        if failure.code_is("BucketAlreadyOwnedByYou") {
                            BucketSetup::Found
                        } else {
                            return Err(self.error("", "create bucket", failure));
                        }
                    }
                }
            }
        };
        let block = aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
            .block_public_acls(true)
            .ignore_public_acls(true)
            .block_public_policy(true)
            .restrict_public_buckets(true)
            .build();
        if let Err(e) = self
            .client
            .put_public_access_block()
            .bucket(&self.bucket)
            .public_access_block_configuration(block)
            .send()
            .await
        {
            let failure = aws::classify(&e);
            // Several S3-compatible servers have no public-access-block API; the bucket is
            // still usable, so say so and carry on.
            if failure.status == Some(501) || failure.code_is("NotImplemented") {
                tracing::warn!(bucket = %self.bucket, "this server does not support public access blocks; make sure the bucket is private");
            } else {
                return Err(self.error("", "put public access block", failure));
            }
        }
        Ok(setup)
    }

    /// Turns a classified SDK failure into the store's error, naming bucket and key.
    fn error(&self, key: &str, op: &str, failure: Failure) -> StoreError {
        let store = self.location();
        let object = if key.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.object_key(key))
        };
        if failure.code_is("NoSuchBucket") {
            let region = self
                .client
                .config()
                .region()
                .map(|r| r.to_string())
                .unwrap_or_else(|| "(none)".into());
            return StoreError::Missing {
                store,
                detail: format!(
                    "no bucket {} in region {region}: {op}: {}",
                    self.bucket, failure.detail
                ),
            };
        }
        match failure.kind {
            FailureKind::Denied => StoreError::PermissionDenied {
                store,
                detail: format!("{op} {object}: {}; {CREDENTIALS_HINT}", failure.detail),
            },
            FailureKind::Throttled => StoreError::Throttled {
                store,
                detail: format!("{op} {object}: {} after the SDK's retries", failure.detail),
            },
            FailureKind::Transient | FailureKind::Service | FailureKind::Other => StoreError::Io {
                store,
                key: key.to_string(),
                detail: format!("{op} {object}: {}", failure.detail),
            },
        }
    }

    /// HEAD-then-PUT for servers without conditional PUT.
    async fn put_checked(&self, key: &str, bytes: Bytes) -> Result<PutOutcome, StoreError> {
        if self.exists(key).await? {
            return Ok(PutOutcome::Existed);
        }
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.object_key(key))
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| self.error(key, "PUT", aws::classify(&e)))?;
        Ok(PutOutcome::Written)
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    fn location(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }

    async fn put(&self, key: &str, bytes: Bytes) -> Result<PutOutcome, StoreError> {
        validate_key(key)?;
        if self.no_conditional_put.load(Ordering::Relaxed) {
            return self.put_checked(key, bytes).await;
        }
        // `ConditionalRequestConflict` (409) means another conditional write of the same key
        // is in flight; S3 asks for a retry, after which one of us sees 412.
        for _ in 0..3 {
            let sent = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(self.object_key(key))
                .if_none_match("*")
                .body(ByteStream::from(bytes.clone()))
                .send()
                .await;
            let failure = match sent {
                Ok(_) => return Ok(PutOutcome::Written),
                Err(e) => aws::classify(&e),
            };
            // A 412 has no typed SDK error: go by the code (and the status, for servers
            // that answer without a body).
            if failure.code_is("PreconditionFailed") || failure.status == Some(412) {
                return Ok(PutOutcome::Existed);
            }
            if failure.code_is("ConditionalRequestConflict") || failure.status == Some(409) {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                continue;
            }
            if failure.code_is("NotImplemented") || failure.status == Some(501) {
                tracing::info!(store = %self.location(), "the server does not support conditional PUT; checking keys with HEAD first");
                self.no_conditional_put.store(true, Ordering::Relaxed);
                return self.put_checked(key, bytes).await;
            }
            return Err(self.error(key, "PUT", failure));
        }
        // Still conflicting after the retries: whoever is writing it will finish it; what
        // matters to the caller is whether the complete object is there now.
        if self.exists(key).await? {
            Ok(PutOutcome::Existed)
        } else {
            Err(StoreError::Io {
                store: self.location(),
                key: key.to_string(),
                detail: "concurrent conditional writes kept conflicting; retry later".into(),
            })
        }
    }

    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        validate_key(key)?;
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.object_key(key))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let failure = aws::classify(&e);
                if failure.code_is("NoSuchKey") {
                    return Err(StoreError::NotFound {
                        store: self.location(),
                        key: key.to_string(),
                    });
                }
                return Err(self.error(key, "GET", failure));
            }
        };
        let body = out.body.collect().await.map_err(|e| StoreError::Io {
            store: self.location(),
            key: key.to_string(),
            detail: format!(
                "GET s3://{}/{}: the body broke off: {}",
                self.bucket,
                self.object_key(key),
                aws::one_line(&e.to_string())
            ),
        })?;
        Ok(body.into_bytes())
    }

    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        validate_key(key)?;
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.object_key(key))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                if matches!(e.as_service_error(), Some(err) if err.is_not_found()) {
                    return Ok(false);
                }
                Err(self.error(key, "HEAD", aws::classify(&e)))
            }
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        validate_prefix(prefix)?;
        let full_prefix = if self.prefix.is_empty() {
            prefix.to_string()
        } else {
            format!("{}/{prefix}", self.prefix)
        };
        let strip = if self.prefix.is_empty() {
            0
        } else {
            self.prefix.len() + 1
        };
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&full_prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| self.error(prefix, "LIST", aws::classify(&e)))?;
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                let Some(relative) = key.get(strip..) else {
                    continue;
                };
                out.push(ObjectInfo {
                    key: relative.to_string(),
                    size: object
                        .size()
                        .and_then(|s| u64::try_from(s).ok())
                        .unwrap_or(0),
                    modified: object
                        .last_modified()
                        .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos())),
                });
            }
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_string()),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        validate_key(key)?;
        // S3 answers 204 whether or not the key existed: removing a missing key is not an
        // error, as the trait asks.
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.object_key(key))
            .send()
            .await
            .map_err(|e| self.error(key, "DELETE", aws::classify(&e)))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn object_keys_sit_under_the_prefix() {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::from_static("us-east-1"))
            .build();
        let client = aws_sdk_s3::Client::from_conf(config);
        let store = S3Store::new(client.clone(), "b", "/p/q/");
        assert_eq!(store.object_key("blobs/ab/x"), "p/q/blobs/ab/x");
        assert_eq!(store.location(), "s3://b/p/q");
        let root = S3Store::new(client, "b", "");
        assert_eq!(root.object_key("blobs/ab/x"), "blobs/ab/x");
        assert_eq!(root.location(), "s3://b");
    }
}
