//! The events the functions take, typed. The Lambda runtime deserializes each invocation's
//! payload into the function's event type, so a handler never looks at raw JSON:
//! - [`Http`]: an API Gateway HTTP API request (payload format 2.0);
//! - [`Scheduled<T>`]: an EventBridge event whose `detail` is `T`, or `T` itself (a schedule
//!   with a constant input delivers just that input);
//! - [`HttpOr<T>`]: a function subscribed to HTTP and one other trigger (`restore`: the SQS
//!   job queue), told apart by shape;
//! - [`Triggered<T>`]: HTTP, an SQS batch from the function's job queue, or another trigger
//!   (the `snapshot` function: its snapshot job queue, and the schedule).
//!
//! A payload of the wrong shape fails the invocation with a message naming what was
//! expected, and is never retried into a different meaning.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

pub use aws_lambda_events::sqs::{SqsEvent, SqsMessage};

/// API Gateway's response shape (HTTP API, payload format 2.0).
pub type HttpResponse = ApiGatewayV2httpResponse;

/// An API Gateway HTTP API request (payload format 2.0).
#[derive(Debug, Clone)]
pub struct Http(pub Box<ApiGatewayV2httpRequest>);

impl<'de> Deserialize<'de> for Http {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        http_of(Value::deserialize(d)?).map_err(D::Error::custom)
    }
}

fn is_http(payload: &Value) -> bool {
    payload.pointer("/requestContext/http").is_some()
}

fn http_of(payload: Value) -> Result<Http, String> {
    if !is_http(&payload) {
        return Err(
            "expected an API Gateway HTTP API request (payload format 2.0, with requestContext.http)"
                .into(),
        );
    }
    ApiGatewayV2httpRequest::deserialize(payload)
        .map(|e| Http(Box::new(e)))
        .map_err(|e| format!("API Gateway event: {e}"))
}

/// A scheduled invocation's input: from an EventBridge event's `detail`, or given directly.
#[derive(Debug, Clone, PartialEq)]
pub struct Scheduled<T>(pub T);

impl<'de, T: DeserializeOwned> Deserialize<'de> for Scheduled<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let payload = Value::deserialize(d)?;
        let payload = if payload.get("detail-type").is_some() {
            EventBridgeEvent::<Value>::deserialize(payload)
                .map_err(|e| D::Error::custom(format!("EventBridge event: {e}")))?
                .detail
        } else {
            payload
        };
        T::deserialize(payload)
            .map(Scheduled)
            .map_err(|e| D::Error::custom(format!("schedule input: {e}")))
    }
}

/// An HTTP request or another trigger's event.
#[derive(Debug, Clone)]
pub enum HttpOr<T> {
    Http(Http),
    Other(T),
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for HttpOr<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let payload = Value::deserialize(d)?;
        if is_http(&payload) {
            return http_of(payload).map(HttpOr::Http).map_err(D::Error::custom);
        }
        T::deserialize(payload)
            .map(HttpOr::Other)
            .map_err(D::Error::custom)
    }
}

/// An HTTP request, a batch from the function's job queue, or another trigger's event (the
/// `snapshot` function: HTTP, its snapshot job queue, and the schedule).
#[derive(Debug, Clone)]
pub enum Triggered<T> {
    Http(Http),
    Queue(SqsEvent),
    Other(T),
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Triggered<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let payload = Value::deserialize(d)?;
        if is_http(&payload) {
            return http_of(payload)
                .map(Triggered::Http)
                .map_err(D::Error::custom);
        }
        if payload.get("Records").is_some_and(Value::is_array) {
            return SqsEvent::deserialize(payload)
                .map(Triggered::Queue)
                .map_err(|e| D::Error::custom(format!("SQS event: {e}")));
        }
        T::deserialize(payload)
            .map(Triggered::Other)
            .map_err(D::Error::custom)
    }
}

/// What a function subscribed to HTTP and another trigger answers: API Gateway's response
/// shape, or the other trigger's result.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Reply<T> {
    Http(Box<ApiGatewayV2httpResponse>),
    Other(T),
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aws_lambda_events::sqs::SqsEvent;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Input {
        scopes: Vec<String>,
    }

    #[test]
    fn events_are_told_apart_by_shape() {
        let http = json!({"version": "2.0", "rawPath": "/snapshots",
            "requestContext": {"http": {"method": "GET", "path": "/snapshots"}}});
        let HttpOr::<SqsEvent>::Http(Http(req)) = serde_json::from_value(http.clone()).unwrap()
        else {
            panic!("not HTTP")
        };
        assert_eq!(req.raw_path.as_deref(), Some("/snapshots"));
        let sqs = json!({"Records": [{"messageId": "1", "body": "{}"}]});
        assert!(matches!(
            serde_json::from_value::<HttpOr<SqsEvent>>(sqs).unwrap(),
            HttpOr::Other(_)
        ));

        let bare = json!({"scopes": ["github:acme/widgets"]});
        let wrapped = json!({"version": "0", "id": "x", "detail-type": "Scheduled Event",
            "source": "aws.events", "account": "1", "time": "2025-01-01T00:00:00Z",
            "region": "eu-west-1", "resources": [], "detail": bare});
        for payload in [bare, wrapped] {
            let Scheduled(input) = serde_json::from_value::<Scheduled<Input>>(payload).unwrap();
            assert_eq!(input.scopes, ["github:acme/widgets"]);
        }

        let e = serde_json::from_value::<Http>(json!({"Records": []}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("API Gateway HTTP API"), "{e}");
        let e = serde_json::from_value::<Scheduled<Input>>(json!({"scopes": [3]}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("schedule input"), "{e}");
    }
}
