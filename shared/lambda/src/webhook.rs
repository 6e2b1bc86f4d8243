//! Webhooks: signature verification. What a verified delivery asks for (and whether its
//! repository or Jira scope is allowed) is the core library's rule, `backtrack::events`.
//!
//! GitHub signs the raw body with the webhook secret: `X-Hub-Signature-256: sha256=<hex of
//! HMAC-SHA256>`. Jira (Cloud's admin webhooks with a secret, and Data Center's) signs it
//! the same way, WebSub's `method=signature` form, in `X-Hub-Signature: sha256=<hex>`. The
//! check runs before the body is parsed, compares in constant time (the `hmac` crate's
//! `verify_slice`), and a missing, malformed or wrong signature is refused without doing
//! anything else.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// GitHub's signature header.
pub const GITHUB_HEADER: &str = "X-Hub-Signature-256";
/// Jira's signature header.
pub const JIRA_HEADER: &str = "X-Hub-Signature";

/// Why a delivery's signature was refused, naming the header. Messages never echo the
/// secret or the signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the {0} header is missing")]
    Missing(&'static str),
    #[error("the {0} header is not `sha256=<64 hex digits>`")]
    Malformed(&'static str),
    #[error("the {0} signature does not match the body")]
    Mismatch(&'static str),
}

/// `sha256=<hex>` of `body` under `secret`: what GitHub sends (and what tests forge with).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = mac(secret);
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; the error type exists for MACs with fixed key sizes.
    match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 accepts keys of any length"),
    }
}

/// Checks `header` (the `X-Hub-Signature-256` value) against `body`: GitHub's check.
pub fn verify(secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    verify_as(GITHUB_HEADER, secret, body, header)
}

/// Checks `header` (the `X-Hub-Signature` value) against `body`: Jira's check.
pub fn verify_jira(secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    verify_as(JIRA_HEADER, secret, body, header)
}

fn verify_as(
    name: &'static str,
    secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing(name))?;
    let digest = header
        .trim()
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
        .filter(|d| d.len() == 32)
        .ok_or(SignatureError::Malformed(name))?;
    let mut mac = mac(secret);
    mac.update(body);
    mac.verify_slice(&digest)
        .map_err(|_| SignatureError::Mismatch(name))
}

pub use backtrack::events::{classify, jira, AllowList, EventSnapshot, WebhookAction};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_the_signed_body_under_the_right_secret() {
        let body = br#"{"zen":"Keep it logically awesome."}"#;
        let header = sign(b"s3cret", body);
        assert_eq!(verify(b"s3cret", body, Some(&header)), Ok(()));
        assert_eq!(
            verify(b"other", body, Some(&header)),
            Err(SignatureError::Mismatch(GITHUB_HEADER))
        );
        assert_eq!(
            verify(b"s3cret", br#"{"zen":"altered"}"#, Some(&header)),
            Err(SignatureError::Mismatch(GITHUB_HEADER))
        );
        assert_eq!(
            verify(b"s3cret", body, None),
            Err(SignatureError::Missing(GITHUB_HEADER))
        );
        assert_eq!(
            verify(b"s3cret", body, Some("sha1=abc")),
            Err(SignatureError::Malformed(GITHUB_HEADER))
        );
    }

    /// Jira signs as GitHub does, under its own header name; the errors name that header.
    #[test]
    fn jira_signatures_name_jiras_header() {
        let body = br#"{"webhookEvent":"jira:issue_updated"}"#;
        let header = sign(b"jira-secret", body);
        assert_eq!(verify_jira(b"jira-secret", body, Some(&header)), Ok(()));
        let e = verify_jira(b"other", body, Some(&header)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the X-Hub-Signature signature does not match the body"
        );
        assert_eq!(
            verify_jira(b"jira-secret", body, None),
            Err(SignatureError::Missing(JIRA_HEADER))
        );
        // A GitHub-style `sha1=` or a bare digest is not Jira's form.
        let bare = header.trim_start_matches("sha256=").to_string();
        assert_eq!(
            verify_jira(b"jira-secret", body, Some(&bare)),
            Err(SignatureError::Malformed(JIRA_HEADER))
        );
    }

    /// GitHub's documented example: secret "It's a Secret to Everybody", body "Hello, World!".
    #[test]
    fn matches_githubs_documented_example() {
        assert_eq!(
            sign(b"It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }
}
