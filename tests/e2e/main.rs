//! e2e

mod sandbox_compat;
