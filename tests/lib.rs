//! Test kits, kept out of the product crates: the functions' in-process tests and the one
//! integration test binary (`e2e/`) share them.
//!
//! - [`http`]: requests to the sandbox as another client makes them (reqwest, plain HTTP on
//!   loopback).
//! - [`lambda`]: the functions' handlers on in-memory twins, with trackers pointed at a
//!   sandbox, and recorded API Gateway events edited for one case.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test, with its location.

pub mod http;
pub mod lambda;
