//! Job messages: one message means "run the next slice of this job" (a restore job's slice,
//! or an attempt at a snapshot job). In AWS an SQS queue per kind (the `restore` function
//! consumes the restore queue, the `snapshot` function the snapshot queue; a dead-letter
//! queue takes what keeps failing); in tests, memory.

use std::collections::VecDeque;
use std::fmt::Debug;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use backtrack::id::JobId;

/// The body of a continuation message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    pub job: JobId,
    /// Which slice this message asks for (0 for the first); for logs and tests.
    pub slice: u64,
}

/// Why a message could not be sent.
#[derive(Debug, thiserror::Error)]
#[error("cannot queue job {job} on {queue}: {detail}")]
pub struct QueueError {
    pub job: JobId,
    pub queue: String,
    pub detail: String,
}

/// The longest delay a message can be sent with (SQS's limit).
pub const MAX_DELAY: Duration = Duration::from_secs(900);

/// Where job messages go.
#[async_trait]
pub trait JobQueue: Send + Sync + Debug {
    /// Sends `message`, to be delivered at once.
    async fn send(&self, message: &JobMessage) -> Result<(), QueueError> {
        self.send_after(message, Duration::ZERO).await
    }

    /// Sends `message`, to be delivered after `delay` (at most [`MAX_DELAY`]).
    async fn send_after(&self, message: &JobMessage, delay: Duration) -> Result<(), QueueError>;

    /// The queue's `maxReceiveCount` (its redrive policy): how many deliveries a message
    /// gets before it goes to the dead-letter queue. `None` when the queue has none, or it
    /// cannot be read.
    async fn max_receives(&self) -> Option<u32> {
        None
    }
}

/// An SQS queue, by URL.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
    /// The redrive policy's `maxReceiveCount`, read once per cold start.
    max_receives: std::sync::Arc<tokio::sync::OnceCell<Option<u32>>>,
}

impl SqsQueue {
    pub fn new(config: &aws_config::SdkConfig, url: impl Into<String>) -> Self {
        SqsQueue {
            client: aws_sdk_sqs::Client::new(config),
            url: url.into(),
            max_receives: Default::default(),
        }
    }
}

/// `maxReceiveCount` of a queue's `RedrivePolicy` attribute (JSON; SQS answers the number
/// as a string or a number).
fn redrive_max_receives(policy: &str) -> Option<u32> {
    let v: serde_json::Value = serde_json::from_str(policy).ok()?;
    match v.get("maxReceiveCount")? {
        serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[async_trait]
impl JobQueue for SqsQueue {
    async fn send_after(&self, message: &JobMessage, delay: Duration) -> Result<(), QueueError> {
        let error = |detail: String| QueueError {
            job: message.job,
            queue: self.url.clone(),
            detail,
        };
        let body = serde_json::to_string(message).map_err(|e| error(e.to_string()))?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(i32::try_from(delay.min(MAX_DELAY).as_secs()).unwrap_or(0))
            .send()
            .await
            .map_err(|e| {
                error(backtrack::aws::one_line(
                    &aws_sdk_sqs::error::DisplayErrorContext(&e).to_string(),
                ))
            })?;
        Ok(())
    }

    async fn max_receives(&self) -> Option<u32> {
        *self
            .max_receives
            .get_or_init(|| async {
                use aws_sdk_sqs::types::QueueAttributeName;
                let reply = self
                    .client
                    .get_queue_attributes()
                    .queue_url(&self.url)
                    .attribute_names(QueueAttributeName::RedrivePolicy)
                    .send()
                    .await;
                match reply {
                    Ok(r) => r
                        .attributes
                        .and_then(|a| a.get(&QueueAttributeName::RedrivePolicy).cloned())
                        .and_then(|p| redrive_max_receives(&p)),
                    Err(e) => {
                        tracing::warn!(queue = %self.url, error = %backtrack::aws::one_line(&aws_sdk_sqs::error::DisplayErrorContext(&e).to_string()), "cannot read the queue's redrive policy: a job failing its last delivery is settled when its run is read");
                        None
                    }
                }
            })
            .await
    }
}

/// Messages kept in memory, for tests that play the queue themselves.
#[derive(Debug, Default)]
pub struct MemoryQueue {
    messages: Mutex<VecDeque<(JobMessage, Duration)>>,
}

impl MemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn pop(&self) -> Option<JobMessage> {
        self.pop_delayed().map(|(m, _)| m)
    }

    /// The next message and the delay it was sent with.
    pub fn pop_delayed(&self) -> Option<(JobMessage, Duration)> {
        self.messages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
    }

    pub fn len(&self) -> usize {
        self.messages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl JobQueue for MemoryQueue {
    async fn send_after(&self, message: &JobMessage, delay: Duration) -> Result<(), QueueError> {
        self.messages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back((*message, delay));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::redrive_max_receives;

    #[test]
    fn the_redrive_policy_gives_the_deliveries_a_message_gets() {
        let arn = "arn:aws:sqs:us-east-1:123456789012:dlq";
        assert_eq!(
            redrive_max_receives(&format!(
                r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":5}}"#
            )),
            Some(5)
        );
        assert_eq!(
            redrive_max_receives(&format!(
                r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":"3"}}"#
            )),
            Some(3)
        );
        assert_eq!(redrive_max_receives(r#"{"maxReceiveCount":-1}"#), None);
        assert_eq!(redrive_max_receives("not json"), None);
    }
}
