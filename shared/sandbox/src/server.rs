//! Running an emulator, whatever tracker it speaks: binding its address, the base URL clients
//! see (`--public-url`, e.g. behind a TLS terminator), serving a router until stopped or
//! signalled.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::{header, HeaderMap};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::meter::WriteLimit;

/// How an emulator listens and misbehaves; the tracker-specific options embed it.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Where to listen; port 0 picks a free port.
    pub addr: SocketAddr,
    /// Base URL clients see (e.g. behind a TLS terminator); used in `Link` headers and URL
    /// fields. Default: `http://` + the request's `Host`.
    pub public_url: Option<String>,
    /// Delay before answering each API request.
    pub latency_ms: u64,
    /// Probability in `[0, 1]` that an API request fails (a 5xx or a rate limit) before it
    /// touches any state.
    pub fault_rate: f64,
    /// Secondary-rate-limit simulation for writes; `None` = off.
    pub write_limit: Option<WriteLimit>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            latency_ms: 0,
            fault_rate: 0.0,
            write_limit: None,
        }
    }
}

impl ServerOptions {
    pub(crate) fn validate(&self) -> Result<(), SandboxError> {
        let bad = |m: &str| Err(SandboxError::Options(m.to_owned()));
        if !(0.0..=1.0).contains(&self.fault_rate) {
            return bad("fault_rate must be between 0 and 1");
        }
        if let Some(u) = &self.public_url {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return bad("public_url must start with http:// or https://");
            }
        }
        if let Some(w) = &self.write_limit {
            if w.per.is_zero() {
                return bad("write_limit.per must be positive");
            }
        }
        Ok(())
    }
}

/// Why an emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot listen on {addr}: {source} (pick another address or port 0)")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("invalid sandbox option: {0}")]
    Options(String),
    /// The seeding task panicked or was cancelled (a bug, not a user error).
    #[error("seeding the sandbox failed: {0}")]
    Seed(String),
}

/// A bound listener and the addresses clients reach it by, before anything is served.
#[derive(Debug)]
pub(crate) struct Bound {
    listener: TcpListener,
    pub(crate) local_addr: SocketAddr,
    /// The public URL if one was set, else `http://` + the local address; no trailing slash.
    pub(crate) base_url: String,
}

/// Binds `opts.addr` (after validating `opts`).
pub(crate) async fn bind(opts: &ServerOptions) -> Result<Bound, SandboxError> {
    opts.validate()?;
    let listener = TcpListener::bind(opts.addr)
        .await
        .map_err(|source| SandboxError::Bind {
            addr: opts.addr,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| SandboxError::Bind {
        addr: opts.addr,
        source,
    })?;
    let base_url = match &opts.public_url {
        Some(u) => u.trim_end_matches('/').to_owned(),
        None => format!("http://{local_addr}"),
    };
    Ok(Bound {
        listener,
        local_addr,
        base_url,
    })
}

/// The origin (scheme + host, + any path of the public URL) a request should see in URLs:
/// the public URL if set, else the request's `Host` (when it looks like a host), else the
/// local address.
pub(crate) fn origin(
    public_url: Option<&str>,
    local_addr: SocketAddr,
    headers: &HeaderMap,
) -> String {
    if let Some(u) = public_url {
        return u.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        });
    match host {
        Some(h) => format!("http://{h}"),
        None => format!("http://{local_addr}"),
    }
}

/// A router being served on its own task. Dropping it stops the server (like
/// [`Server::shutdown`], without waiting).
#[derive(Debug)]
pub(crate) struct Server {
    local_addr: SocketAddr,
    base_url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves `app` on the bound listener, on the current tokio runtime.
    pub(crate) fn spawn(bound: Bound, app: Router) -> Server {
        let (stop, stopped) = oneshot::channel::<()>();
        let Bound {
            listener,
            local_addr,
            base_url,
        } = bound;
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "sandbox server stopped with an error");
            }
        });
        tracing::info!(%base_url, "sandbox listening");
        Server {
            local_addr,
            base_url,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting connections and waits (at most 5 s) for in-flight requests.
    pub(crate) async fn shutdown(mut self) {
        self.stop_and_wait().await;
    }

    /// Serves until SIGINT (Ctrl-C) or SIGTERM, then shuts down.
    pub(crate) async fn serve_until_signal(mut self) {
        wait_for_signal().await;
        tracing::info!("sandbox shutting down");
        self.stop_and_wait().await;
    }

    async fn stop_and_wait(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            // Idle keep-alive connections can hold a graceful shutdown open; don't wait forever.
            if tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
