//! AWS plumbing shared by [`S3Store`](crate::store::S3Store) and
//! [`DynamoCatalog`](crate::catalog::DynamoCatalog) (feature `aws`): loading the standard
//! configuration chain once, building SDK clients, and classifying SDK errors so each adapter
//! can turn them into its own domain error at the boundary.
//!
//! Configuration is the SDK's standard chain (environment, shared config/credentials files,
//! `AWS_PROFILE`, container and instance metadata), so the CLI, the Lambda functions and the
//! tests all behave like the AWS CLI does. The names of the variables users set are constants
//! here, so messages and tests quote the same spelling.
//!
//! TLS: the SDK's default HTTPS client pulls in `aws-lc-rs`, a second crypto stack next to
//! the `ring` one octocrab uses (a slower build, and rustls refuses to pick a process-wide
//! provider when both are compiled in). We build the SDK's hyper client ourselves with
//! rustls on `ring` instead, so the whole binary has one TLS stack and one crypto provider.

use std::fmt::Debug;
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// Overrides the endpoint of every AWS service (S3-compatible servers, moto in tests).
pub const ENV_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
/// The region (also read: `AWS_DEFAULT_REGION`, the profile's `region`).
pub const ENV_REGION: &str = "AWS_REGION";
/// The named profile of `~/.aws/config` and `~/.aws/credentials` to use.
pub const ENV_PROFILE: &str = "AWS_PROFILE";
/// Static credentials.
pub const ENV_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
pub const ENV_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";

/// The region used when the chain yields none: a `dynamodb://`/`s3://` URL names no region,
/// and the SDK refuses to sign without one.
pub const FALLBACK_REGION: &str = "us-east-1";

/// One attempt (connect + request + response) may take at most this long before the SDK's
/// retry policy takes over: without it, a server that accepts a connection and never answers
/// would hang a snapshot forever.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);

/// What a user should check when AWS refuses the credentials; quoted by both adapters.
pub const CREDENTIALS_HINT: &str = "check the AWS credentials (AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and that their IAM policy allows this call";

/// Loads the standard AWS configuration chain with backtrack's HTTP client, retry and timeout
/// settings. Standard retries (3 attempts with backoff; `AWS_MAX_ATTEMPTS` overrides) absorb
/// throttling and transient network errors before an adapter ever sees them.
pub async fn load_config() -> SdkConfig {
    // Every provider in the chain (region, credentials, IMDS) takes its HTTP client from the
    // loader; one built without it would panic for want of the default HTTPS client.
    let config = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        )
        .load()
        .await;
    if config.region().is_some() {
        return config;
    }
    config
        .into_builder()
        .region(aws_config::Region::from_static(FALLBACK_REGION))
        .build()
}

/// The SDK's hyper client on rustls with `ring` (see the module docs for why not the default).
pub fn https_client() -> aws_sdk_s3::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// An S3 client for `config`. Path-style addressing whenever the endpoint is overridden:
/// S3-compatible servers (and moto) do not resolve `bucket.host` virtual-host names.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let mut builder = aws_sdk_s3::config::Builder::from(config);
    if config.endpoint_url().is_some() {
        builder = builder.force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(builder.build())
}

/// A DynamoDB client for `config`.
pub fn dynamodb_client(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

/// What kind of failure an SDK error is, independent of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureKind {
    /// The service answered with an error code (see [`Failure::code`]).
    Service,
    /// Throttling that outlasted the SDK's retries.
    Throttled,
    /// The credentials are missing, invalid, expired, or not allowed to do this.
    Denied,
    /// Network trouble, timeouts, 5xx answers: retrying later may work.
    Transient,
    /// The request could not even be built (a bug or a bad configuration).
    Other,
}

/// A classified SDK error: kind, service error code and HTTP status when there was an answer,
/// and a one-line description for messages.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub kind: FailureKind,
    pub code: Option<String>,
    pub status: Option<u16>,
    pub detail: String,
}

impl Failure {
    pub fn code_is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
}

/// Error codes of throttling across S3 and DynamoDB.
const THROTTLING_CODES: &[&str] = &[
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
];

/// Error codes meaning "who you are, or what you may do, is the problem".
const DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidToken",
    "MissingAuthenticationToken",
    "AllAccessDisabled",
];

/// Sorts an SDK error into a [`Failure`]. The SDK has already retried what was retryable.
pub(crate) fn classify<E>(err: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let chain = error_chain(err);
    match err {
        SdkError::ServiceError(service) => {
            let code = service.err().code().map(str::to_string);
            let message = service.err().message().unwrap_or_default();
            let kind = match code.as_deref() {
                Some(c) if THROTTLING_CODES.contains(&c) => FailureKind::Throttled,
                Some(c) if DENIED_CODES.contains(&c) => FailureKind::Denied,
                Some(_) => FailureKind::Service,
                // HEAD answers have no body, hence no code: go by the status.
                None => match status {
                    Some(401 | 403) => FailureKind::Denied,
                    Some(429 | 503) => FailureKind::Throttled,
                    Some(s) if s >= 500 => FailureKind::Transient,
                    _ => FailureKind::Service,
                },
            };
            let detail = match (&code, message.is_empty()) {
                (Some(c), false) => format!("{c}: {}", one_line(message)),
                (Some(c), true) => format!("{c} (HTTP {})", status.unwrap_or_default()),
                (None, _) => http_status(status),
            };
            Failure {
                kind,
                code,
                status,
                detail,
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            // Credential resolution happens while dispatching; its failure is not a network
            // problem and retrying will not fix it.
            let (kind, detail) = if mentions_credentials(&chain) {
                (FailureKind::Denied, credentials_detail(chain))
            } else {
                (FailureKind::Transient, chain)
            };
            Failure {
                kind,
                code: None,
                status,
                detail,
            }
        }
        _ => Failure {
            kind: if mentions_credentials(&chain) {
                FailureKind::Denied
            } else {
                FailureKind::Other
            },
            code: None,
            status,
            detail: chain,
        },
    }
}

/// `HTTP 403 Forbidden`: answers without a body (HEAD) have nothing else to show.
fn http_status(status: Option<u16>) -> String {
    let code = status.unwrap_or_default();
    match http::StatusCode::from_u16(code)
        .ok()
        .and_then(|c| c.canonical_reason())
    {
        Some(reason) => format!("HTTP {code} {reason}"),
        None => format!("HTTP {code}"),
    }
}

/// The error and its sources as one short line: each distinct `Display` joined by `: ` (the
/// SDK's own context formatter appends the whole `Debug` tree, far too long for a CLI line).
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    const MAX: usize = 400;
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        let text = one_line(&e.to_string());
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    let mut line = parts.join(": ");
    if line.len() > MAX {
        let cut = (0..=MAX)
            .rev()
            .find(|i| line.is_char_boundary(*i))
            .unwrap_or(0);
        line.truncate(cut);
        line.push('…');
    }
    line
}

/// The SDK lists every provider it tried at length; say the gist.
fn credentials_detail(chain: String) -> String {
    if chain.contains("no credentials found in chain") {
        "no AWS credentials found (tried environment variables, the shared config and credentials files, web identity, container and instance metadata)".into()
    } else {
        chain
    }
}

fn mentions_credentials(chain: &str) -> bool {
    let lower = chain.to_ascii_lowercase();
    lower.contains("credentials") || lower.contains("profile")
}

/// Error chains from the SDK can span lines; CLI errors are one line.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// octocrab (rustls on ring) and the AWS SDK (our rustls-on-ring client) in one process:
    /// both build TLS clients and attempt a handshake without rustls panicking over which
    /// crypto provider to use. The "server" accepts and hangs up, so both calls fail cleanly.
    #[tokio::test]
    async fn https_clients_of_octocrab_and_the_sdk_coexist() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(16) {
                drop(stream);
            }
        });
        let base = format!("https://{addr}");

        let octo = octocrab::Octocrab::builder()
            .base_uri(base.as_str())
            .unwrap()
            .build()
            .unwrap();
        let github: Result<serde_json::Value, _> = octo.get("/rate_limit", None::<&()>).await;
        assert!(github.is_err(), "the fake server speaks no TLS");

        let config = aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(https_client())
            .region(aws_config::Region::from_static(FALLBACK_REGION))
            .endpoint_url(base.as_str())
            .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
                aws_sdk_s3::config::Credentials::new("k", "s", None, None, "test"),
            ))
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            .build();
        let listed = s3_client(&config).list_buckets().send().await;
        let failure = classify(&listed.unwrap_err());
        assert_eq!(failure.kind, FailureKind::Transient, "{failure:?}");
    }

    #[test]
    fn one_line_collapses_whitespace() {
        assert_eq!(one_line("a\n  b\tc "), "a b c");
    }
}
