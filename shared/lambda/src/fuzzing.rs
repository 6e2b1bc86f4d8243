//! Fuzz entry points for what the functions parse before anything else: webhook signature
//! headers and API Gateway (HTTP API, payload 2.0) events. Same contract as
//! `backtrack::fuzzing` (no panic; round trips where a printer exists), the same cargo-fuzz
//! crate (`fuzz/`) and the same stable property tests, seeded from `fuzz/corpus/<target>/`.
//! Only built for tests and with the `fuzzing` feature.

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;

use crate::api::{dispatch, route, ApiRequest, Served, ROUTES};
use crate::webhook::{sign, verify, verify_jira};

/// A fuzz target: arbitrary bytes in, a panic on a failure.
pub type Target = fn(&[u8]);

/// Every target, by the name its cargo-fuzz binary and corpus folder have.
pub const TARGETS: &[(&str, Target)] = &[
    ("webhook_signature", webhook_signature),
    ("api_event", api_event),
];

/// `SECRET\nHEADER\nBODY`: the header is checked against the body (never a panic, and only
/// a correct signature passes), and what [`sign`] prints always verifies.
pub fn webhook_signature(data: &[u8]) {
    let mut parts = data.splitn(3, |b| *b == b'\n');
    let secret = parts.next().unwrap_or_default();
    let header = parts.next().map(String::from_utf8_lossy);
    let body = parts.next().unwrap_or_default();
    let given = verify(secret, body, header.as_deref());
    let _ = verify_jira(secret, body, header.as_deref());
    let signed = sign(secret, body);
    assert_eq!(verify(secret, body, Some(&signed)), Ok(()));
    assert_eq!(verify_jira(secret, body, Some(&signed)), Ok(()));
    if given.is_ok() {
        // Only the one correct digest passes (hex case aside).
        let digest = header
            .as_deref()
            .map(|h| h.trim().to_ascii_lowercase())
            .unwrap_or_default();
        assert_eq!(digest, signed, "a wrong signature was accepted");
    }
}

/// An API Gateway event: parsed into a request, dispatched as each function would, its
/// body and query read as the handlers read them.
pub fn api_event(data: &[u8]) {
    let Ok(event) = serde_json::from_slice::<ApiGatewayV2httpRequest>(data) else {
        return;
    };
    let Ok(request) = ApiRequest::from_apigw(&event) else {
        return;
    };
    for function in [
        Served::Snapshot,
        Served::Diff,
        Served::Restore,
        Served::Catalog,
    ] {
        let _ = dispatch(&request, function);
    }
    for r in ROUTES {
        let _ = route(r.pattern, &request.path);
    }
    let _ = request.json_fields(&["scope", "name", "execute"]);
    let _ = request.query_fields(&["scope", "format"]);
    let _ = request.wants_markdown();
}

#[cfg(test)]
mod tests {
    use super::TARGETS;

    /// The same runner as the core's fuzz tests (shared/src/fuzzing/tests.rs), on this
    /// crate's targets: corpus seeds, then mutated seeds and random bytes.
    #[test]
    fn every_lambda_target_survives_its_corpus_and_mutations() {
        for (name, target) in TARGETS {
            backtrack::fuzzing::run_target(name, *target, 2_000);
        }
    }
}
