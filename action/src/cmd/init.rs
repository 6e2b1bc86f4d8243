//! `backtrack init`: creates the store and catalog named by `--store`/`--catalog`, or finds
//! them. Idempotent, so scripts and tests can run it before every use: a folder store gets
//! its folder and SQLite file; S3 gets a private bucket (public access blocked); DynamoDB
//! gets an on-demand table with the `by-id` index and TTL on `ttl`. Production AWS accounts
//! use the SAM template instead; this is for development, tests and small setups.

use std::fmt;
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use backtrack::catalog::{CatalogError, DynamoCatalog, SqliteCatalog, TableSetup};
use backtrack::config::{CatalogUrl, StoreUrl};
use backtrack::crypt::{self, InitOutcome, KdfParams};
use backtrack::repair::check_new_catalog;
use backtrack::store::{BucketSetup, LocalStore, S3Store};
use backtrack::ObjectStore;
use serde::Serialize;

use super::{print_json, Outcome};
use crate::cli::InitArgs;
use crate::ctx::Context;

/// What `init` did to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Created,
    Found,
}

impl From<BucketSetup> for Action {
    fn from(s: BucketSetup) -> Self {
        match s {
            BucketSetup::Created => Action::Created,
            BucketSetup::Found => Action::Found,
        }
    }
}

impl From<TableSetup> for Action {
    fn from(s: TableSetup) -> Self {
        match s {
            TableSetup::Created => Action::Created,
            TableSetup::Found => Action::Found,
        }
    }
}

/// One resource `init` looked after.
#[derive(Debug, Clone, Serialize)]
pub struct Resource {
    /// `store` or `catalog`.
    pub role: &'static str,
    pub location: String,
    /// What it is, for people: "bucket b", "table t", "folder /x".
    pub what: String,
    pub action: Action,
}

/// The `--json` output of `init`.
#[derive(Debug, Clone, Serialize)]
pub struct InitReport {
    pub resources: Vec<Resource>,
}

impl fmt::Display for InitReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.resources.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            let verb = match r.action {
                Action::Created => "created",
                Action::Found => "found existing",
            };
            write!(f, "{:<8} {verb} {} ({})", r.role, r.what, r.location)?;
        }
        Ok(())
    }
}

/// `--encrypt`: makes the new store encrypted (or finds it so), creating a missing key file
/// first. The passphrase never appears in output.
async fn encrypt(ctx: &Context, args: &InitArgs, store: &dyn ObjectStore) -> Result<Resource> {
    if let Some(path) = ctx.key_file_path() {
        if !path.exists() {
            write_new_key_file(&path)?;
        }
    }
    let secrets = ctx.secrets()?;
    let params = KdfParams {
        memory_kib: args.argon2_memory_kib,
        iterations: args.argon2_iterations,
        ..KdfParams::default()
    };
    let outcome = crypt::init(store, &secrets, params).await?;
    let mut what = format!(
        "repository key wrapped by the passphrase (Argon2id, {} KiB, {} passes)",
        params.memory_kib, params.iterations
    );
    if let Some(path) = secrets.key_file_path() {
        what.push_str(&format!(" and key file {}", path.display()));
    }
    Ok(Resource {
        role: "key",
        location: store.location(),
        what: match outcome {
            InitOutcome::Created => what,
            InitOutcome::Found => "encrypted; the given secrets open it".into(),
        },
        action: match outcome {
            InitOutcome::Created => Action::Created,
            InitOutcome::Found => Action::Found,
        },
    })
}

/// A new key file at `path`, readable by its owner only; never overwrites.
pub fn write_new_key_file(path: &std::path::Path) -> Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create key file {}", path.display()))?;
    file.write_all(&crypt::new_key_file_contents()?)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write key file {}", path.display()))?;
    Ok(())
}

pub async fn run(ctx: &Context, args: InitArgs) -> Result<Outcome> {
    // Before anything is created: an encrypted store without its passphrase is no store.
    if args.encrypt && !ctx.passphrase_given()? {
        return Err(crypt::CryptError::NoPassphrase.into());
    }
    let backtrack::config::Locations {
        store: store_url,
        catalog: catalog_url,
    } = ctx.locations()?;
    let mut resources = Vec::new();
    // The store, to check that a catalog about to be created would not hide its manifests.
    let store_for_check: Arc<dyn ObjectStore>;

    if let StoreUrl::Git(url) = &store_url {
        let git = ctx.git(url)?;
        let created = git.ensure().await?;
        let location = ObjectStore::location(&*git.store);
        let key = match args.encrypt {
            true => Some(encrypt(ctx, &args, &*git.store).await?),
            false => None,
        };
        for role in ["store", "catalog"] {
            resources.push(Resource {
                role,
                location: location.clone(),
                what: format!(
                    "branch {} (objects under store/, catalog under catalog/)",
                    url.branch
                ),
                action: if created {
                    Action::Created
                } else {
                    Action::Found
                },
            });
        }
        resources.extend(key);
        let report = InitReport { resources };
        if ctx.json {
            print_json(&report)?;
        } else if !ctx.quiet {
            outln!("{report}");
        }
        return Ok(Outcome::Success);
    }

    match &store_url {
        StoreUrl::File(root) => {
            let existed = root.is_dir();
            std::fs::create_dir_all(root)
                .with_context(|| format!("cannot create the store folder {}", root.display()))?;
            let store = LocalStore::create(root.clone())?;
            resources.push(Resource {
                role: "store",
                location: ObjectStore::location(&store),
                what: format!("folder {}", root.display()),
                action: if existed {
                    Action::Found
                } else {
                    Action::Created
                },
            });
            store_for_check = Arc::new(store);
        }
        StoreUrl::S3(s3) => {
            let (url, bucket) = (s3.to_string(), &s3.bucket);
            let store = S3Store::open(s3).await;
            let setup = store
                .ensure_bucket()
                .await
                .with_context(|| format!("cannot set up bucket {bucket}"))?;
            store_for_check = Arc::new(store);
            resources.push(Resource {
                role: "store",
                location: url,
                what: format!("bucket {bucket} (public access blocked)"),
                action: setup.into(),
            });
        }
        StoreUrl::Git(_) => bail!("git:// stores are set up above"),
    }
    if args.encrypt {
        resources.push(encrypt(ctx, &args, &*store_for_check).await?);
    }

    match &catalog_url {
        CatalogUrl::Sqlite(path) => {
            let existed = path.is_file();
            if !existed {
                check_new_catalog(&*store_for_check, &format!("sqlite://{}", path.display()))
                    .await?;
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).with_context(|| {
                    format!("cannot create the catalog folder {}", parent.display())
                })?;
            }
            let catalog = Arc::new(SqliteCatalog::create(path)?);
            resources.push(Resource {
                role: "catalog",
                location: backtrack::Catalog::location(catalog.as_ref()),
                what: format!("SQLite file {}", path.display()),
                action: if existed {
                    Action::Found
                } else {
                    Action::Created
                },
            });
        }
        CatalogUrl::Dynamo(table) => {
            let url = catalog_url.to_url();
            let catalog = DynamoCatalog::open(table).await;
            if let Err(CatalogError::Missing { .. }) = catalog.check().await {
                check_new_catalog(&*store_for_check, &url).await?;
            }
            let setup = catalog
                .ensure_table()
                .await
                .with_context(|| format!("cannot set up table {table}"))?;
            resources.push(Resource {
                role: "catalog",
                location: url,
                what: format!("table {table} (on-demand, index by-id, TTL on ttl)"),
                action: setup.into(),
            });
        }
        CatalogUrl::Git(_) => bail!("git:// catalogs are set up with their store"),
    }

    let report = InitReport { resources };
    if ctx.json {
        print_json(&report)?;
    } else if !ctx.quiet {
        outln!("{report}");
    }
    Ok(Outcome::Success)
}
