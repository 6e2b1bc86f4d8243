//! STUB: replaced by the diff work.
