//! End-to-end checks of the Jira sandbox over HTTP (an in-process server on an ephemeral
//! port, driven with reqwest as any client would).
