//! Store rules, without HTTP.
