//! `backtrack key`: an encrypted store's key slots. Each slot wraps the one repository key
//! (by a passphrase or a key file); changing them never re-encrypts data.

use std::fmt;

use anyhow::{bail, Result};
use backtrack::crypt::{self, KdfParams, KeyChange, KeySlot};
use serde::Serialize;
use zeroize::Zeroizing;

use super::{print_json, Outcome};
use crate::cli::KeyCmd;
use crate::ctx::Context;

/// The `--json` output of every `key` command: the slots as they are afterwards.
#[derive(Debug, Serialize)]
struct KeyReport {
    store: String,
    slots: Vec<KeySlotView>,
}

#[derive(Debug, Serialize)]
struct KeySlotView {
    id: String,
    kind: String,
    created_at: chrono::DateTime<chrono::Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    argon2id: Option<KdfParams>,
}

impl From<KeySlot> for KeySlotView {
    fn from(s: KeySlot) -> Self {
        KeySlotView {
            id: s.id,
            kind: s.kind.to_string(),
            created_at: s.created_at,
            argon2id: s.argon2id,
        }
    }
}

impl fmt::Display for KeyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} key slot(s) of {}", self.slots.len(), self.store)?;
        for s in &self.slots {
            write!(
                f,
                "\n  {}  {:<10}  {}",
                s.id,
                s.kind,
                s.created_at.format("%Y-%m-%d %H:%M UTC")
            )?;
            if let Some(p) = s.argon2id {
                write!(
                    f,
                    "  Argon2id {} KiB, {} passes, {} lane(s)",
                    p.memory_kib, p.iterations, p.parallelism
                )?;
            }
        }
        Ok(())
    }
}

/// The new passphrase for `key passwd`: a file, else `BACKTRACK_NEW_PASSPHRASE`.
fn new_passphrase(file: Option<&std::path::Path>) -> Result<Zeroizing<Vec<u8>>> {
    if let Some(path) = file {
        return std::fs::read(path).map(Zeroizing::new).map_err(|e| {
            anyhow::anyhow!("cannot read new passphrase file {}: {e}", path.display())
        });
    }
    match std::env::var_os(crypt::ENV_NEW_PASSPHRASE) {
        Some(v) => Ok(Zeroizing::new(v.into_encoded_bytes())),
        None => bail!(
            "`key passwd` needs the new passphrase: set {} or give --new-passphrase-file",
            crypt::ENV_NEW_PASSPHRASE
        ),
    }
}

pub async fn run(ctx: &Context, cmd: KeyCmd) -> Result<Outcome> {
    let store = ctx.backend_store().await?;
    let slots = match cmd {
        KeyCmd::List => {
            // Listing needs no secret: slots hold nothing readable without one.
            let slots = crypt::key_slots(&*store).await?;
            if slots.is_empty() {
                bail!(
                    "store {} is not encrypted: it has no keys (`backtrack init --encrypt` makes an encrypted store)",
                    store.location()
                );
            }
            slots
        }
        KeyCmd::Passwd {
            new_passphrase_file,
            argon2_memory_kib,
            argon2_iterations,
        } => {
            let new = new_passphrase(new_passphrase_file.as_deref())?;
            let params = KdfParams {
                memory_kib: argon2_memory_kib,
                iterations: argon2_iterations,
                ..KdfParams::default()
            };
            crypt::change_keys(&*store, &ctx.secrets()?, KeyChange::Passwd { new, params }).await?
        }
        KeyCmd::AddFile { path } => {
            if !path.exists() {
                super::init::write_new_key_file(&path)?;
            }
            let bytes = std::fs::read(&path)
                .map(Zeroizing::new)
                .map_err(|e| anyhow::anyhow!("cannot read key file {}: {e}", path.display()))?;
            crypt::change_keys(&*store, &ctx.secrets()?, KeyChange::AddKeyFile { bytes }).await?
        }
        KeyCmd::Remove { id } => {
            crypt::change_keys(&*store, &ctx.secrets()?, KeyChange::Remove { id }).await?
        }
    };
    let report = KeyReport {
        store: store.location(),
        slots: slots.into_iter().map(KeySlotView::from).collect(),
    };
    if ctx.json {
        print_json(&report)?;
    } else if !ctx.quiet {
        outln!("{report}");
    }
    Ok(Outcome::Success)
}
