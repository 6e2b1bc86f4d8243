//! Test-only crate: see `e2e/` for the one integration test binary.
