//! Turns global flags and the environment into backends: the object store, the catalog and
//! trackers. The URLs are parsed by `backtrack::config`, which the functions share.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Result};
use backtrack::catalog::{DynamoCatalog, SqliteCatalog};
use backtrack::config::{CatalogUrl, Locations, StoreUrl};
use backtrack::snapshot::Archive;
use backtrack::store::{LocalStore, S3Store};
use backtrack::tracker::{GitHubConfig, GitHubTracker, TrackerWriter};
use backtrack::{Catalog, ObjectStore, Scope, Tracker};

use crate::cli::Global;

/// What a command works with. Backends are opened lazily: `sandbox` needs none, and a
/// command that only talks to the tracker should not create a store folder.
#[derive(Debug)]
pub struct Context {
    pub json: bool,
    pub quiet: bool,
    store_url: Option<String>,
    catalog_url: Option<String>,
}

impl Context {
    pub fn new(global: &Global) -> Self {
        Context {
            json: global.json,
            quiet: global.quiet,
            store_url: global.store.clone(),
            catalog_url: global.catalog.clone(),
        }
    }

    /// A context on an explicit folder (the demo's temporary store).
    pub fn on_folder(folder: &Path, json: bool) -> Self {
        Context {
            json,
            quiet: false,
            store_url: Some(format!("file://{}", folder.display())),
            catalog_url: None,
        }
    }

    /// The parsed `--store` and the catalog that goes with it.
    pub fn locations(&self) -> Result<Locations> {
        Ok(Locations::parse(
            self.store_url.as_deref(),
            self.catalog_url.as_deref(),
        )?)
    }

    /// Opens the store and catalog. Creates the store folder on first use; AWS resources
    /// must exist already (`backtrack init` creates them).
    pub async fn archive(&self) -> Result<Archive> {
        let Locations {
            store: store_url,
            catalog: catalog_url,
        } = self.locations()?;
        // AWS resources are checked up front (one cheap request each) so that a wrong bucket
        // or table name is a one-line error before any work, not a failure halfway through.
        let store: Arc<dyn ObjectStore> = match &store_url {
            StoreUrl::File(root) => Arc::new(LocalStore::open(root.clone())?),
            StoreUrl::S3(s3) => {
                let store = S3Store::open(s3).await;
                store.check().await?;
                Arc::new(store)
            }
        };
        let catalog: Arc<dyn Catalog> = match &catalog_url {
            CatalogUrl::Sqlite(path) => Arc::new(SqliteCatalog::open(path)?),
            CatalogUrl::Dynamo(table) => {
                let catalog = DynamoCatalog::open(table).await;
                catalog.check().await?;
                Arc::new(catalog)
            }
        };
        Ok(Archive::new(store, catalog))
    }

    /// A tracker for `scope`, configured from the environment.
    pub fn tracker(&self, scope: &Scope) -> Result<Arc<dyn Tracker>> {
        self.tracker_with(scope, GitHubConfig::from_env()?)
    }

    pub fn tracker_with(&self, scope: &Scope, config: GitHubConfig) -> Result<Arc<dyn Tracker>> {
        Ok(self.writer_with(scope, config)?.reader())
    }

    /// A tracker that can also write (rollback), configured by `config`.
    pub fn writer_with(
        &self,
        scope: &Scope,
        config: GitHubConfig,
    ) -> Result<Arc<dyn TrackerWriter>> {
        match scope {
            Scope::GitHub { .. } => Ok(Arc::new(GitHubTracker::new(scope, &config)?)),
            #[allow(unreachable_patterns)]
            other => bail!("no tracker for {other} in this build"),
        }
    }
}

pub fn parse_scope(text: &str) -> Result<Scope> {
    Ok(text.parse::<Scope>()?)
}
