//! STUB: replaced by the sandbox work.
