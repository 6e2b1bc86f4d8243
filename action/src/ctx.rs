//! Turns global flags and the environment into backends: the object store, the catalog and
//! trackers. The URLs are parsed by `backtrack::config`, which the functions share.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Result};
use backtrack::catalog::{CatalogError, DynamoCatalog, SqliteCatalog};
use backtrack::config::{CatalogUrl, GitUrl, Locations, StoreUrl};
use backtrack::crypt::{self, Secrets};
use backtrack::git::{Checkout, GitArchive, GitOptions};
use backtrack::lease::LeaseOptions;
use backtrack::repair::{check_new_catalog, missing_catalog};
use backtrack::scope::TrackerKind;
use backtrack::snapshot::Archive;
use backtrack::store::{LocalStore, S3Store};
use backtrack::tracker::{GitHubConfig, GitHubTracker, JiraConfig, JiraTracker, TrackerWriter};
use backtrack::{Catalog, ObjectStore, Scope, Tracker};

use crate::cli::{Command, Global, SnapshotCmd};

/// What a command works with. Backends are opened lazily: `sandbox` needs none, and a
/// command that only talks to the tracker should not create a store folder.
#[derive(Debug)]
pub struct Context {
    pub json: bool,
    pub quiet: bool,
    /// `--github-output`: where results go as step outputs and job summary.
    pub step: Option<crate::step::StepOutputs>,
    store_url: Option<String>,
    catalog_url: Option<String>,
    /// `--jira-flavor`, checked by clap.
    jira_flavor: Option<String>,
    /// `OWNER/REPO` of the command's GitHub scope: where a `git://` store lives when neither
    /// its URL nor `GITHUB_REPOSITORY` says.
    scope_repo: Option<(String, String)>,
    /// `--passphrase-file` and `--key-file` (the environment is read when they are unset).
    passphrase_file: Option<std::path::PathBuf>,
    key_file: Option<std::path::PathBuf>,
    /// Whether secrets given for an unencrypted store are fine (a command between two
    /// stores, only one of which may be encrypted).
    lenient: bool,
}

/// Whether opening an archive may create what is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opening {
    /// Everything must exist (every command that only uses an archive).
    Existing,
    /// A folder store and its SQLite catalog are created if missing (`snapshot create`).
    Create,
    /// The store must exist; a missing catalog is created to be refilled.
    Reindex,
}

impl Context {
    pub fn new(global: &Global) -> Self {
        Context {
            json: global.json,
            quiet: global.quiet,
            step: None,
            store_url: global.store.clone(),
            catalog_url: global.catalog.clone(),
            jira_flavor: global.jira_flavor.clone(),
            scope_repo: None,
            passphrase_file: global.passphrase_file.clone(),
            key_file: global.key_file.clone(),
            lenient: false,
        }
    }

    /// The same context, knowing the command's scope (see `scope_repo`).
    pub fn for_command(mut self, command: &Command) -> Self {
        let scope = match command {
            Command::Snapshot(SnapshotCmd::Create(a)) => Some(a.scope.as_str()),
            Command::Snapshot(SnapshotCmd::List(a)) => a.scope.as_deref(),
            Command::Diff(a) => Some(a.scope.as_str()),
            Command::Report(a) => Some(a.scope.as_str()),
            Command::Rollback(a) => Some(a.scope.as_str()),
            Command::Prune(a) => Some(a.scope.as_str()),
            Command::Verify(a) => a.target.as_deref(),
            _ => None,
        };
        self.scope_repo = scope
            .and_then(|s| s.parse::<Scope>().ok())
            .and_then(|s| s.github_repo().map(|(o, r)| (o.to_string(), r.to_string())));
        self
    }

    /// A context on an explicit folder (the demo's temporary store).
    pub fn on_folder(folder: &Path, json: bool) -> Self {
        Context {
            json,
            quiet: false,
            step: None,
            store_url: Some(format!("file://{}", folder.display())),
            catalog_url: None,
            jira_flavor: None,
            scope_repo: None,
            passphrase_file: None,
            key_file: None,
            // The demo's own throwaway store is plain whatever the environment holds.
            lenient: true,
        }
    }

    /// The same context on other backends (`copy --to-store/--to-catalog`).
    pub fn elsewhere(&self, store: &str, catalog: Option<&str>) -> Context {
        Context {
            json: self.json,
            quiet: self.quiet,
            step: None,
            store_url: Some(store.to_string()),
            catalog_url: catalog.map(str::to_string),
            jira_flavor: self.jira_flavor.clone(),
            scope_repo: self.scope_repo.clone(),
            passphrase_file: self.passphrase_file.clone(),
            key_file: self.key_file.clone(),
            lenient: true,
        }
    }

    /// [`archive`](Self::archive), accepting an unencrypted store even when secrets are
    /// given: the source of `copy`, whose destination may be the encrypted one.
    pub async fn archive_either(&self) -> Result<Archive> {
        self.open_archive_as(Opening::Existing, true).await
    }

    /// [`create_archive`](Self::create_archive), accepting an unencrypted store even when
    /// secrets are given: the destination of `import`, which an encrypted archive may make
    /// encrypted.
    pub async fn create_archive_either(&self) -> Result<Archive> {
        self.open_archive_as(Opening::Create, true).await
    }

    /// The key file given (`--key-file`, else `BACKTRACK_KEY_FILE`), if any.
    pub fn key_file_path(&self) -> Option<std::path::PathBuf> {
        self.key_file.clone().or_else(|| {
            std::env::var_os(crypt::ENV_KEY_FILE)
                .filter(|v| !v.is_empty())
                .map(std::path::PathBuf::from)
        })
    }

    /// Whether a passphrase was given (flag or environment); reads no key file.
    pub fn passphrase_given(&self) -> Result<bool> {
        Ok(Secrets::from_env(self.passphrase_file.as_deref(), None)?.has_passphrase())
    }

    /// The passphrase and key file given (flags, else the environment).
    pub fn secrets(&self) -> Result<Secrets> {
        Ok(Secrets::from_env(
            self.passphrase_file.as_deref(),
            self.key_file.as_deref(),
        )?)
    }

    /// `store` as it is to be used: through the encryption layer if it is encrypted.
    async fn unlock(
        &self,
        store: Arc<dyn ObjectStore>,
        lenient: bool,
    ) -> Result<Arc<dyn ObjectStore>> {
        Ok(crypt::open(store, &self.secrets()?, lenient || self.lenient).await?)
    }

    /// The existing store as the backend holds it, without the encryption layer: for `key`,
    /// which manages the key slots that layer hides.
    pub async fn backend_store(&self) -> Result<Arc<dyn ObjectStore>> {
        Ok(match self.locations()?.store {
            StoreUrl::Git(url) => self.git(&url)?.store,
            StoreUrl::File(root) => Arc::new(LocalStore::open(root)?),
            StoreUrl::S3(s3) => {
                let store = S3Store::open(&s3).await;
                store.check().await?;
                Arc::new(store)
            }
        })
    }

    /// The parsed `--store` and the catalog that goes with it.
    pub fn locations(&self) -> Result<Locations> {
        Ok(Locations::parse(
            self.store_url.as_deref(),
            self.catalog_url.as_deref(),
        )?)
    }

    /// Opens the existing store and catalog, for every command that uses an archive without
    /// creating one: a store or catalog that does not exist is an error saying how to make
    /// it (`backtrack init`), and a lost catalog beside manifests one naming
    /// `backtrack repair --reindex`.
    pub async fn archive(&self) -> Result<Archive> {
        self.open_archive(Opening::Existing).await
    }

    /// Opens the store and catalog, creating a missing folder store and SQLite catalog (for
    /// `snapshot create` and the demo; `init` makes the AWS resources). A new catalog is never
    /// made beside manifests it would hide.
    pub async fn create_archive(&self) -> Result<Archive> {
        self.open_archive(Opening::Create).await
    }

    /// The existing store with its catalog, created empty if it is gone (a SQLite file, a
    /// DynamoDB table): for `repair --reindex`, which exists to refill it.
    pub async fn reindex_archive(&self) -> Result<Archive> {
        self.open_archive(Opening::Reindex).await
    }

    async fn open_archive(&self, opening: Opening) -> Result<Archive> {
        self.open_archive_as(opening, false).await
    }

    async fn open_archive_as(&self, opening: Opening, lenient: bool) -> Result<Archive> {
        let Locations {
            store: store_url,
            catalog: catalog_url,
        } = self.locations()?;
        if let StoreUrl::Git(url) = &store_url {
            let git = self.git(url)?;
            if opening == Opening::Existing && !git.exists().await? {
                bail!(
                    "the archive branch {} does not exist yet: take a snapshot first (`backtrack snapshot create …`), or create it with `backtrack init`",
                    ObjectStore::location(&*git.store)
                );
            }
            return Ok(Archive::new(
                self.unlock(git.store, lenient).await?,
                git.catalog,
            ));
        }
        // A clone of an archive branch reads as a (read-only) archive.
        if let StoreUrl::File(root) = &store_url {
            if let Some(checkout) = Checkout::detect(root) {
                let checkout = Arc::new(checkout);
                return Ok(Archive::new(
                    self.unlock(checkout.clone(), lenient).await?,
                    checkout,
                ));
            }
        }
        // AWS resources are checked up front (one cheap request each) so that a wrong bucket
        // or table name is a one-line error before any work, not a failure halfway through.
        let store: Arc<dyn ObjectStore> = match &store_url {
            StoreUrl::File(root) if opening == Opening::Create => {
                Arc::new(LocalStore::create(root.clone())?)
            }
            StoreUrl::File(root) => Arc::new(LocalStore::open(root.clone())?),
            StoreUrl::S3(s3) => {
                let store = S3Store::open(s3).await;
                store.check().await?;
                Arc::new(store)
            }
            // Opened above, with its catalog.
            StoreUrl::Git(url) => bail!("{url} opens with its own catalog"),
        };
        // Before the catalog: a locked store must not get a catalog created beside it.
        let store = self.unlock(store, lenient).await?;
        let opened: std::result::Result<Arc<dyn Catalog>, CatalogError> = match &catalog_url {
            CatalogUrl::Sqlite(path) if opening != Opening::Existing && !path.exists() => {
                if opening == Opening::Create {
                    check_new_catalog(&*store, &format!("sqlite://{}", path.display())).await?;
                }
                SqliteCatalog::create(path).map(|c| Arc::new(c) as Arc<dyn Catalog>)
            }
            CatalogUrl::Sqlite(path) => SqliteCatalog::open(path).map(|c| Arc::new(c) as _),
            CatalogUrl::Dynamo(table) => {
                let catalog = DynamoCatalog::open(table).await;
                match catalog.check().await {
                    // The table is gone: a reindex makes a new one to refill.
                    Err(CatalogError::Missing { .. }) if opening == Opening::Reindex => {
                        catalog.ensure_table().await.map(|_| Arc::new(catalog) as _)
                    }
                    checked => checked.map(|()| Arc::new(catalog) as _),
                }
            }
            // `Locations` pairs a git catalog with its git store only.
            CatalogUrl::Git(url) => bail!("{url} is a catalog of a git:// store only"),
        };
        let catalog = match opened {
            Ok(catalog) => catalog,
            Err(e @ CatalogError::Missing { .. }) => {
                return Err(missing_catalog(&*store, e).await.into())
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Archive::new(store, catalog))
    }

    /// The archive branch of a `git://` store (nothing is requested yet): in the repository
    /// the URL names, else `GITHUB_REPOSITORY`, else the command's scope; written with
    /// `GITHUB_TOKEN` through `GITHUB_API_URL`.
    pub fn git(&self, url: &GitUrl) -> Result<GitArchive> {
        let target = url.resolve(
            self.scope_repo
                .as_ref()
                .map(|(o, r)| (o.as_str(), r.as_str())),
        )?;
        let github = GitHubConfig::from_env()?;
        if github.token.is_none() {
            bail!(
                "{target} needs a GitHub token with write access to the repository's contents: set GITHUB_TOKEN (in a workflow, grant `permissions: contents: write`)"
            );
        }
        let opts = GitOptions {
            api_url: github.api_url,
            token: github.token,
            pace: GitOptions::pace_from_env()?,
        };
        Ok(GitArchive::open(&target, &opts)?)
    }

    /// The store lease settings: `BACKTRACK_LEASE_TTL` (seconds) shortens or lengthens how
    /// long a dead capture or prune holds the store.
    pub fn lease(&self) -> Result<LeaseOptions> {
        Ok(LeaseOptions::from_env()?)
    }

    /// A tracker for `scope`, configured from the environment.
    pub fn tracker(&self, scope: &Scope) -> Result<Arc<dyn Tracker>> {
        match scope.tracker() {
            TrackerKind::GitHub => self.tracker_with(scope, GitHubConfig::from_env()?),
            TrackerKind::Jira => Ok(Arc::new(JiraTracker::new(scope, &self.jira_config()?)?)),
        }
    }

    /// The Jira site from the environment, with `--jira-flavor` applied.
    pub fn jira_config(&self) -> Result<JiraConfig> {
        let mut config = JiraConfig::from_env()?;
        if let Some(flavor) = &self.jira_flavor {
            config.flavor = Some(flavor.parse().map_err(anyhow::Error::msg)?);
        }
        Ok(config)
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
        match scope.tracker() {
            // GITHUB_APP_ID applies to a single repository as to `github:ORG/*`.
            TrackerKind::GitHub => Ok(Arc::new(GitHubTracker::new(
                scope,
                &config.with_app_from_env()?,
            )?)),
            TrackerKind::Jira => Ok(Arc::new(JiraTracker::new(scope, &self.jira_config()?)?)),
        }
    }
}

pub fn parse_scope(text: &str) -> Result<Scope> {
    Ok(text.parse::<Scope>()?)
}
