//! Secrets (the GitHub and Jira tokens, the webhook secrets): given inline in the environment, or as a
//! Secrets Manager ARN resolved once per cold start. [`Secret`] never prints its value.

use std::fmt;

/// A secret value. `Debug` and `Display` print `<redacted>`, so it cannot leak through logs
/// or error messages by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Why a secret could not be had. Names the variable and the ARN, never the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{var} names Secrets Manager secret {arn}, which cannot be read ({detail}); check the ARN and the function's secretsmanager:GetSecretValue permission")]
    Unreadable {
        var: String,
        arn: String,
        detail: String,
    },
    #[error("{var} names Secrets Manager secret {arn}, which holds no string value")]
    Empty { var: String, arn: String },
}

/// Reads `var` (the value itself) or `{var}_ARN` (a Secrets Manager secret holding it);
/// `Ok(None)` when neither is set. A JSON secret `{"token": "…"}` or `{"secret": "…"}` (the
/// console's key/value form) is unwrapped.
pub async fn from_env(
    var: &str,
    config: &aws_config::SdkConfig,
) -> Result<Option<Secret>, SecretError> {
    use backtrack::config::env;
    if let Some(value) = env::var(var) {
        return Ok(Some(Secret::new(value.trim())));
    }
    let arn_var = format!("{var}{}", env::ARN_SUFFIX);
    let Some(arn) = env::var(&arn_var) else {
        return Ok(None);
    };
    let client = aws_sdk_secretsmanager::Client::new(config);
    let out = client
        .get_secret_value()
        .secret_id(&arn)
        .send()
        .await
        .map_err(|e| SecretError::Unreadable {
            var: arn_var.clone(),
            arn: arn.clone(),
            detail: backtrack::aws::one_line(
                &aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
            ),
        })?;
    let raw = out.secret_string().unwrap_or_default().trim().to_string();
    if raw.is_empty() {
        return Err(SecretError::Empty { var: arn_var, arn });
    }
    Ok(Some(Secret::new(unwrap_json(raw))))
}

fn unwrap_json(raw: String) -> String {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(&raw) {
        for key in [
            "token",
            "secret",
            "value",
            "GITHUB_TOKEN",
            "WEBHOOK_SECRET",
            "JIRA_API_TOKEN",
            "passphrase",
        ] {
            if let Some(v) = map.get(key).and_then(|v| v.as_str()) {
                return v.to_string();
            }
        }
    }
    raw
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("ghp_abc");
        assert!(!format!("{s:?} {s}").contains("ghp_abc"));
        assert_eq!(s.expose(), "ghp_abc");
    }

    #[test]
    fn key_value_secrets_are_unwrapped() {
        assert_eq!(unwrap_json(r#"{"token":"t1"}"#.into()), "t1");
        assert_eq!(unwrap_json("plain".into()), "plain");
    }
}
