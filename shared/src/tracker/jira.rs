//! The Jira tracker (Jira Cloud, REST v3; Data Center and Server, REST v2).

pub mod fields;
