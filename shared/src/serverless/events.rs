//! Which trigger an incoming payload is. A function subscribed to several triggers (the
//! `snapshot` function: HTTP API and schedule; `restore`: HTTP API and SQS) receives raw JSON
//! and tells them apart by shape, then parses it with the `aws_lambda_events` type.

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::SqsEvent;
use serde::Deserialize;
use serde_json::Value;

/// A payload, by trigger.
#[derive(Debug, Clone)]
pub enum Incoming {
    /// API Gateway HTTP API (payload format 2.0).
    Http(Box<ApiGatewayV2httpRequest>),
    /// An EventBridge event; a schedule with a constant `Input` delivers just that input,
    /// which arrives here wrapped as the `detail` of a synthetic event.
    Scheduled(Box<EventBridgeEvent<Value>>),
    Queue(SqsEvent),
}

/// Why a payload was not understood.
#[derive(Debug, thiserror::Error)]
#[error("unrecognized event: {0}")]
pub struct EventError(pub String);

pub fn classify(payload: Value) -> Result<Incoming, EventError> {
    let parse = |what: &str, e: serde_json::Error| EventError(format!("{what} event: {e}"));
    if payload.pointer("/requestContext/http").is_some() {
        return ApiGatewayV2httpRequest::deserialize(payload)
            .map(|e| Incoming::Http(Box::new(e)))
            .map_err(|e| parse("API Gateway", e));
    }
    if payload.get("detail-type").is_some() {
        return EventBridgeEvent::<Value>::deserialize(payload)
            .map(|e| Incoming::Scheduled(Box::new(e)))
            .map_err(|e| parse("EventBridge", e));
    }
    if payload.get("Records").is_some() {
        return SqsEvent::deserialize(payload)
            .map(Incoming::Queue)
            .map_err(|e| parse("SQS", e));
    }
    if payload.get("scopes").is_some() {
        let mut event = EventBridgeEvent::<Value>::default();
        event.detail_type = "Scheduled Event".into();
        event.source = "aws.events".into();
        event.detail = payload;
        return Ok(Incoming::Scheduled(Box::new(event)));
    }
    Err(EventError(
        "expected an API Gateway HTTP API request, an EventBridge event, an SQS batch, or a schedule input with `scopes`".into(),
    ))
}
