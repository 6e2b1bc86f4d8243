//! The GitHub App side of the sandbox: one app, installed on the organisation that owns the
//! served repositories, that authenticates with an RS256 JWT signed by its private key and
//! exchanges it for expiring installation tokens — the flow GitHub documents for apps.
//!
//! The sandbox is given the app's private key (the PEM file GitHub lets an app owner
//! download) and keeps only its public half, as GitHub does. A JWT is refused with GitHub's
//! status and message: undecodable or badly signed, expired, issued in the future, valid for
//! more than ten minutes, or naming another app.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use axum::http::StatusCode;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rand::RngExt as _;
use serde::Deserialize;
use serde_json::{json, Value};

use super::http::ApiError;
use super::state::unix_now;
use crate::server::SandboxError;

/// GitHub's longest JWT lifetime: ten minutes.
const MAX_JWT_SECS: i64 = 600;
/// Clock drift GitHub tolerates on `iat`.
const IAT_SKEW_SECS: i64 = 60;

/// How to play a GitHub App (`backtrack sandbox --app-key FILE`).
#[derive(Clone)]
pub struct AppOptions {
    /// The app's id, the JWT's `iss`.
    pub app_id: u64,
    /// The app's slug: its bot is `SLUG[bot]`.
    pub slug: String,
    /// The app's private key, PEM (PKCS#1 `RSA PRIVATE KEY` as GitHub issues it, or PKCS#8).
    /// Only its public half is kept.
    pub private_key_pem: String,
    /// How long an installation token lives (GitHub: one hour).
    pub token_ttl_secs: i64,
}

impl std::fmt::Debug for AppOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppOptions")
            .field("app_id", &self.app_id)
            .field("slug", &self.slug)
            .field("private_key_pem", &"<redacted>")
            .field("token_ttl_secs", &self.token_ttl_secs)
            .finish()
    }
}

/// The running app: its public key, its one installation and the tokens it issued.
pub(crate) struct App {
    pub(crate) id: u64,
    pub(crate) slug: String,
    pub(crate) installation_id: u64,
    key: DecodingKey,
    ttl: i64,
    /// Installation token → expiry (unix seconds).
    issued: Mutex<HashMap<String, i64>>,
    /// Installation tokens that authenticated at least one request.
    used: Mutex<std::collections::HashSet<String>>,
    /// Requests refused because their installation token had expired.
    expired_refusals: std::sync::atomic::AtomicU64,
    /// When the app was installed (the installation's `created_at`).
    pub(crate) created_at: i64,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("id", &self.id)
            .field("slug", &self.slug)
            .field("installation_id", &self.installation_id)
            .finish_non_exhaustive()
    }
}

/// What an installation token is worth at the moment it is presented.
pub(crate) enum TokenCheck {
    /// Not a token this app issued.
    Unknown,
    Valid,
    Expired,
}

#[derive(Deserialize)]
struct Claims {
    iat: Option<Value>,
    exp: Option<Value>,
    iss: Option<Value>,
}

impl App {
    pub(crate) fn new(opts: &AppOptions) -> Result<App, SandboxError> {
        let der = pem_der(&opts.private_key_pem).ok_or_else(|| {
            SandboxError::Options(
                "the app key is not a PEM private key (-----BEGIN RSA PRIVATE KEY----- or \
                 -----BEGIN PRIVATE KEY-----)"
                    .into(),
            )
        })?;
        let pair = ring::signature::RsaKeyPair::from_der(&der)
            .or_else(|_| ring::signature::RsaKeyPair::from_pkcs8(&der))
            .map_err(|e| SandboxError::Options(format!("the app key is not an RSA key: {e}")))?;
        let public = ring::signature::KeyPair::public_key(&pair)
            .as_ref()
            .to_vec();
        if opts.token_ttl_secs <= 0 {
            return Err(SandboxError::Options(
                "the installation token lifetime must be positive".into(),
            ));
        }
        Ok(App {
            id: opts.app_id,
            slug: opts.slug.clone(),
            installation_id: 40_000_000 + opts.app_id % 1_000_000,
            key: DecodingKey::from_rsa_der(&public),
            ttl: opts.token_ttl_secs,
            issued: Mutex::new(HashMap::new()),
            used: Mutex::new(std::collections::HashSet::new()),
            expired_refusals: std::sync::atomic::AtomicU64::new(0),
            created_at: unix_now() - 30 * 86_400,
        })
    }

    /// The bot login the app's installation tokens act as.
    pub(crate) fn bot_login(&self) -> String {
        format!("{}[bot]", self.slug)
    }

    /// Checks a JWT as GitHub does before any `/app` operation.
    pub(crate) fn verify_jwt(&self, jwt: &str) -> Result<(), ApiError> {
        let undecodable = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "A JSON web token could not be decoded",
            )
        };
        let mut validation = Validation::new(Algorithm::RS256);
        // GitHub's own checks below answer in GitHub's words.
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Claims>(jwt, &self.key, &validation)
            .map_err(|_| undecodable())?;
        let claims = data.claims;
        let now = unix_now();
        let iat = claims.iat.as_ref().and_then(Value::as_i64).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued.",
            )
        })?;
        let exp = claims
            .exp
            .as_ref()
            .and_then(Value::as_i64)
            .filter(|e| *e > now);
        let Some(exp) = exp else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires.",
            ));
        };
        if iat > now + IAT_SKEW_SECS {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued.",
            ));
        }
        if exp - iat.min(now) > MAX_JWT_SECS + IAT_SKEW_SECS {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "'Expiration time' claim ('exp') is too far in the future.",
            ));
        }
        let iss = match claims.iss {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.parse::<u64>().ok(),
            _ => None,
        };
        match iss {
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "'Issuer' claim ('iss') must be an Integer",
            )),
            Some(id) if id != self.id => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "A JSON web token could not be decoded",
            )),
            Some(_) => Ok(()),
        }
    }

    /// Issues a new installation token: `(token, expires_at)`.
    pub(crate) fn issue(&self) -> (String, i64) {
        let mut rng = rand::rng();
        const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let body: String = (0..36)
            .map(|_| ALNUM[rng.random_range(0..ALNUM.len())] as char)
            .collect();
        let token = format!("ghs_{body}");
        let expires = unix_now() + self.ttl;
        let mut issued = self.issued.lock().unwrap_or_else(PoisonError::into_inner);
        // Expired tokens are forgotten after a day: they answer like unknown ones then.
        issued.retain(|_, e| *e > unix_now() - 86_400);
        issued.insert(token.clone(), expires);
        (token, expires)
    }

    /// Whether `token` is one of the installation's, and still valid; counted for the
    /// stats (a token used, a request refused for an expired one).
    pub(crate) fn check(&self, token: &str) -> TokenCheck {
        let issued = self.issued.lock().unwrap_or_else(PoisonError::into_inner);
        let check = match issued.get(token) {
            None => TokenCheck::Unknown,
            Some(e) if *e > unix_now() => TokenCheck::Valid,
            Some(_) => TokenCheck::Expired,
        };
        drop(issued);
        match check {
            TokenCheck::Valid => {
                self.used
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(token.to_owned());
            }
            TokenCheck::Expired => {
                self.expired_refusals
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            TokenCheck::Unknown => {}
        }
        check
    }

    /// Installation tokens that authenticated at least one request.
    pub(crate) fn tokens_used(&self) -> usize {
        self.used
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Requests refused (401) because their installation token had expired.
    pub(crate) fn expired_refusals(&self) -> u64 {
        self.expired_refusals
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Installation tokens issued so far.
    pub(crate) fn tokens_issued(&self) -> usize {
        self.issued
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// What an installation token may do, as GitHub lists it.
    pub(crate) fn permissions() -> Value {
        json!({"contents": "write", "issues": "write", "metadata": "read",
               "pull_requests": "read"})
    }
}

/// A PEM block's DER bytes (the first block; headers like `Proc-Type` are not supported,
/// GitHub's keys have none).
fn pem_der(pem: &str) -> Option<Vec<u8>> {
    let mut inside = false;
    let mut b64 = String::new();
    for line in pem.lines().map(str::trim) {
        if line.starts_with("-----BEGIN ") && line.contains("PRIVATE KEY") {
            inside = true;
        } else if line.starts_with("-----END ") {
            break;
        } else if inside {
            b64.push_str(line);
        }
    }
    if b64.is_empty() {
        return None;
    }
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}
