//! Turns global flags and the environment into backends: the object store, the catalog and
//! trackers. Every URL the user can pass is parsed here, with errors that show the accepted
//! forms.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use backtrack::catalog::{parse_table_url, DynamoCatalog, SqliteCatalog};
use backtrack::sanitize::{quote, redact_url};
use backtrack::snapshot::Archive;
use backtrack::store::{LocalStore, S3Store, S3Url};
use backtrack::tracker::{GitHubConfig, GitHubTracker};
use backtrack::{Catalog, ObjectStore, Scope, Tracker};

use crate::cli::Global;

/// The default store when neither `--store` nor `BACKTRACK_STORE` is set.
pub const DEFAULT_STORE: &str = "file://~/.backtrack";
/// The catalog file inside a `file://` store.
pub const CATALOG_FILE: &str = "catalog.sqlite";

/// What a command works with. Backends are opened lazily: `sandbox` needs none, and a
/// command that only talks to the tracker should not create a store folder.
#[derive(Debug)]
pub struct Context {
    pub json: bool,
    pub quiet: bool,
    store_url: String,
    catalog_url: Option<String>,
}

/// A parsed `--store` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    File(PathBuf),
    /// `s3://BUCKET/PREFIX` (the prefix may be empty).
    S3 {
        bucket: String,
        prefix: String,
    },
}

/// A parsed `--catalog` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogUrl {
    Sqlite(PathBuf),
    /// `dynamodb://TABLE`.
    Dynamo(String),
}

fn expand_home(path: &str) -> Result<PathBuf> {
    if path == "~" || path.starts_with("~/") {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .context("HOME is not set, so `~` cannot be expanded; pass an absolute --store path")?;
        Ok(PathBuf::from(home).join(path.trim_start_matches('~').trim_start_matches('/')))
    } else {
        Ok(PathBuf::from(path))
    }
}

pub fn parse_store_url(url: &str) -> Result<StoreUrl> {
    let accepted =
        "accepted forms: file://PATH, file://~/PATH, a plain folder path, or s3://BUCKET/PREFIX";
    if let Some(path) = url.strip_prefix("file://") {
        if path.is_empty() {
            bail!("--store {} has no path; {accepted}", quote(url));
        }
        return Ok(StoreUrl::File(expand_home(path)?));
    }
    if url.starts_with("s3://") {
        let parsed = S3Url::parse(url).map_err(|e| anyhow::anyhow!("--store {e}"))?;
        return Ok(StoreUrl::S3 {
            bucket: parsed.bucket,
            prefix: parsed.prefix,
        });
    }
    if url.contains("://") {
        let scheme = url.split("://").next().unwrap_or_default();
        bail!(
            "--store {}: the {} scheme is not supported; {accepted}",
            quote(&redact_url(url)),
            quote(&format!("{scheme}://"))
        );
    }
    if url.is_empty() {
        bail!("--store is empty; {accepted}");
    }
    Ok(StoreUrl::File(expand_home(url)?))
}

pub fn parse_catalog_url(url: &str) -> Result<CatalogUrl> {
    let accepted = "accepted forms: sqlite://PATH or dynamodb://TABLE";
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            bail!("--catalog {} has no path; {accepted}", quote(url));
        }
        return Ok(CatalogUrl::Sqlite(expand_home(path)?));
    }
    if url.starts_with("dynamodb://") {
        let table = parse_table_url(url).map_err(|e| anyhow::anyhow!("--catalog {e}"))?;
        return Ok(CatalogUrl::Dynamo(table));
    }
    bail!(
        "--catalog {} is not supported; {accepted}",
        quote(&redact_url(url))
    )
}

/// The catalog that goes with a store: `--catalog` when given, else SQLite inside a folder
/// store. An S3 store has no folder to hold SQLite, so it needs an explicit catalog.
pub fn catalog_for(store: &StoreUrl, catalog: Option<&str>) -> Result<CatalogUrl> {
    match (catalog, store) {
        (Some(url), _) => parse_catalog_url(url),
        (None, StoreUrl::File(root)) => Ok(CatalogUrl::Sqlite(root.join(CATALOG_FILE))),
        (None, StoreUrl::S3 { bucket, .. }) => bail!(
            "--store s3://{bucket}/… needs a catalog: pass --catalog dynamodb://TABLE (or set BACKTRACK_CATALOG); create both with `backtrack init`"
        ),
    }
}

impl Context {
    pub fn new(global: &Global) -> Self {
        Context {
            json: global.json,
            quiet: global.quiet,
            store_url: global
                .store
                .clone()
                .unwrap_or_else(|| DEFAULT_STORE.to_string()),
            catalog_url: global.catalog.clone(),
        }
    }

    /// A context on an explicit folder (the demo's temporary store).
    pub fn on_folder(folder: &Path, json: bool) -> Self {
        Context {
            json,
            quiet: false,
            store_url: format!("file://{}", folder.display()),
            catalog_url: None,
        }
    }

    /// The parsed `--store` and the catalog that goes with it.
    pub fn urls(&self) -> Result<(StoreUrl, CatalogUrl)> {
        let store = parse_store_url(&self.store_url)?;
        let catalog = catalog_for(&store, self.catalog_url.as_deref())?;
        Ok((store, catalog))
    }

    /// Opens the store and catalog. Creates the store folder on first use; AWS resources
    /// must exist already (`backtrack init` creates them).
    pub async fn archive(&self) -> Result<Archive> {
        let (store_url, catalog_url) = self.urls()?;
        // AWS resources are checked up front (one cheap request each) so that a wrong bucket
        // or table name is a one-line error before any work, not a failure halfway through.
        let store: Arc<dyn ObjectStore> = match &store_url {
            StoreUrl::File(root) => Arc::new(LocalStore::open(root.clone())?),
            StoreUrl::S3 { .. } => {
                let store = S3Store::from_url(&self.store_url).await?;
                store.check().await?;
                Arc::new(store)
            }
        };
        let catalog: Arc<dyn Catalog> = match &catalog_url {
            CatalogUrl::Sqlite(path) => Arc::new(SqliteCatalog::open(path)?),
            CatalogUrl::Dynamo(table) => {
                let catalog = DynamoCatalog::from_url(&format!("dynamodb://{table}")).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls() {
        assert_eq!(
            parse_store_url("file:///tmp/x").unwrap(),
            StoreUrl::File("/tmp/x".into())
        );
        assert_eq!(
            parse_store_url("/tmp/y").unwrap(),
            StoreUrl::File("/tmp/y".into())
        );
        let e = parse_store_url("ftp://x").unwrap_err().to_string();
        assert!(e.contains("accepted forms"), "{e}");
        let e = parse_catalog_url("mysql://x").unwrap_err().to_string();
        assert!(e.contains("sqlite://"), "{e}");
        assert!(e.contains("dynamodb://TABLE"), "{e}");
    }

    #[test]
    fn aws_urls() {
        assert_eq!(
            parse_store_url("s3://my-bucket/team/bt").unwrap(),
            StoreUrl::S3 {
                bucket: "my-bucket".into(),
                prefix: "team/bt".into()
            }
        );
        assert_eq!(
            parse_catalog_url("dynamodb://backtrack-catalog").unwrap(),
            CatalogUrl::Dynamo("backtrack-catalog".into())
        );
        let e = parse_store_url("s3://Bad_Bucket").unwrap_err().to_string();
        assert!(e.contains("s3://BUCKET"), "{e}");
        let e = parse_catalog_url("dynamodb://x").unwrap_err().to_string();
        assert!(e.contains("dynamodb://TABLE"), "{e}");
        let store = parse_store_url("s3://my-bucket/p").unwrap();
        let e = catalog_for(&store, None).unwrap_err().to_string();
        assert!(e.contains("--catalog dynamodb://TABLE"), "{e}");
        assert_eq!(
            catalog_for(&store, Some("dynamodb://tbl")).unwrap(),
            CatalogUrl::Dynamo("tbl".into())
        );
    }
}
