//! Running the standalone service: what `authjs-proxy --config FILE` does.
//!
//! The public listener (http, or https with `[server.tls]`) serves the Auth.js routes and
//! `/healthz`; the admin listener (`[admin] listen`) serves metrics, probes and reload.
//! SIGHUP (and `POST /reload`) re-read the file; SIGTERM/Ctrl-C mark the service as draining
//! (`/readyz` answers 503), wait `admin.drain_ms`, then shut down gracefully.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};

use crate::app::admin::health::Health;
use crate::app::admin::reload::Reloader;
use crate::app::admin::routes::AdminState;
use crate::core::Scheme;
use crate::core::obs::metrics;
use crate::forward_auth::ForwardAuth;
use crate::listener::{self, ListenerScheme};
use crate::options::FileConfig;
use crate::runtime::handle::AuthProxy;
use crate::tls::CertStore;
use crate::web::access_log::RequestIds;

/// `GET /healthz`: 200 with the configuration generation and the upstream's health (circuit
/// breaker state, requests in flight), or 503 while unconfigured.
async fn healthz(proxy: web::Data<AuthProxy>) -> HttpResponse {
    match proxy.config() {
        Some(cfg) => HttpResponse::Ok().json(serde_json::json!({
            "status": "ok",
            "generation": cfg.generation,
            "upstream": cfg.resilience.health(),
        })),
        None => HttpResponse::ServiceUnavailable().json(serde_json::json!({
            "status": "unconfigured",
        })),
    }
}

/// The request body bound while no configuration is loaded (nginx's `client_body_timeout`).
const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(60);

fn invalid(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string())
}

/// Serves the proxy as configured by `file` until SIGTERM/Ctrl-C (graceful shutdown).
///
/// With `reload_from`, SIGHUP and `POST /reload` re-read that file and send it to the
/// `RuntimeActor`; an invalid file is logged and the running configuration kept.
pub async fn serve(file: FileConfig, reload_from: Option<PathBuf>) -> std::io::Result<()> {
    let addr = file.server.listen_addr().map_err(invalid)?;
    for notice in &file.notices {
        tracing::warn!("{notice}");
    }
    let admin_addr = file.admin.listen_addr().map_err(invalid)?;
    let certs = file
        .server
        .tls
        .as_ref()
        .map(CertStore::load)
        .transpose()
        .map_err(invalid)?;
    let gate: Option<ForwardAuth> = if file.forward_auth.enabled {
        let gate = file.forward_auth.validate().map_err(invalid)?;
        tracing::info!(path = gate.path(), "forward-auth endpoint enabled");
        Some(gate)
    } else {
        None
    };
    let proxy = AuthProxy::start_with_mount(&file.proxy.local_base_path);
    // The forward-auth rules ride in the snapshot: a reload changes them with the secrets.
    let generation = proxy
        .configure_with(
            file.proxy.clone(),
            gate.as_ref().map(ForwardAuth::attachment),
        )
        .await
        .map_err(invalid)?;
    metrics::config_generation(generation);
    let redis = proxy
        .config()
        .and_then(|c| c.session_cache.clone())
        .is_some_and(|c| c.has_shared());
    metrics::at_zero(gate.is_some(), redis);
    // A Redis level that refuses our credentials is a configuration error; one that is down
    // is not (the service goes on with the local cache and the upstream).
    if let Some(cache) = proxy.config().and_then(|c| c.session_cache.clone()) {
        cache
            .check_shared()
            .await
            .map_err(|e| invalid(format!("invalid configuration: {e}")))?;
    }
    let health = Health::default();
    let reloader = Arc::new(Reloader::new(
        proxy.clone(),
        reload_from.clone(),
        &file,
        certs.clone(),
        gate.clone(),
    ));
    if reload_from.is_some() {
        reload_on_sighup(reloader.clone());
    }

    let app_proxy = proxy.clone();
    let scheme = if certs.is_some() {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let listener = listener::bind(addr)?;
    let bound = listener.local_addr()?;
    let public = listener::serve(
        actix_server::Server::build()
            .workers(file.server.workers)
            .disable_signals(),
        listener,
        certs.as_ref().map(CertStore::server_config),
        {
            let proxy = proxy.clone();
            move || {
                proxy
                    .config()
                    .map_or(DEFAULT_BODY_TIMEOUT, |c| c.client_body_timeout)
            }
        },
        move || {
            let gate = gate.clone();
            let gate_proxy = app_proxy.clone();
            App::new()
                .app_data(ListenerScheme(scheme))
                .wrap(RequestIds)
                .route("/healthz", web::get().to(healthz))
                // Before the Auth.js routes, so a root mount cannot shadow the endpoint.
                .configure(move |c| {
                    if let Some(gate) = &gate {
                        crate::forward_auth::configure(gate_proxy.clone(), gate.clone())(c);
                    }
                })
                .configure(crate::web::configure(app_proxy.clone()))
        },
    )?;
    tracing::info!(
        listen = %bound,
        scheme = scheme.as_str(),
        mount = %proxy.mount_path(),
        "authjs-proxy listening"
    );
    let public = public.run();

    let admin = match admin_addr {
        None => None,
        Some(admin_addr) => {
            let loopback = admin_addr.ip().is_loopback();
            if !loopback && file.admin.token.is_none() {
                tracing::warn!(
                    listen = %admin_addr,
                    "admin listener is not on loopback and admin.token is unset: POST /reload \
                     is refused; metrics and probes are open to whoever reaches it"
                );
            }
            let state = AdminState {
                proxy: proxy.clone(),
                health: health.clone(),
                reloader: reloader.clone(),
                token: file.admin.token.clone(),
                loopback,
            };
            let server = HttpServer::new(move || {
                App::new().configure(crate::app::admin::routes::configure(state.clone()))
            })
            .workers(1)
            .disable_signals()
            .listen(listener::bind(admin_addr)?)?;
            for a in server.addrs() {
                tracing::info!(listen = %a, "admin listener");
            }
            Some(server.run())
        }
    };

    let handles = (public.handle(), admin.as_ref().map(|s| s.handle()));
    let drain = Duration::from_millis(file.admin.drain_ms);
    actix_rt::spawn(shutdown_on_signal(health, handles, drain));
    match admin {
        Some(admin) => {
            let (p, a) = futures_util::future::join(public, admin).await;
            p.and(a)
        }
        None => public.await,
    }
}

/// Waits for SIGTERM or Ctrl-C, then: readiness fails, `drain` passes with the service still
/// answering, and both listeners stop gracefully (in-flight requests finish).
async fn shutdown_on_signal(
    health: Health,
    (public, admin): (ServerHandle, Option<ServerHandle>),
    drain: Duration,
) {
    termination().await;
    health.start_draining();
    tracing::info!(
        drain_ms = drain.as_millis() as u64,
        "shutdown requested: readiness fails from now on; draining"
    );
    if !drain.is_zero() {
        actix_rt::time::sleep(drain).await;
    }
    public.stop(true).await;
    if let Some(admin) = admin {
        admin.stop(true).await;
    }
}

#[cfg(unix)]
async fn termination() {
    use actix_rt::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("signal handlers could not be installed; only Ctrl-C stops the service");
        let _ = actix_rt::signal::ctrl_c().await;
        return;
    };
    tokio_select(term.recv(), int.recv()).await;
}

#[cfg(unix)]
async fn tokio_select<A: std::future::Future, B: std::future::Future>(a: A, b: B) {
    futures_util::future::select(std::pin::pin!(a), std::pin::pin!(b)).await;
}

#[cfg(not(unix))]
async fn termination() {
    let _ = actix_rt::signal::ctrl_c().await;
}

#[cfg(unix)]
fn reload_on_sighup(reloader: Arc<Reloader>) {
    use actix_rt::signal::unix::{SignalKind, signal};
    actix_rt::spawn(async move {
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("SIGHUP handler could not be installed; reload disabled");
            return;
        };
        while hup.recv().await.is_some() {
            // The outcome is logged and counted by the reloader. Each reload runs as a task of
            // its own: one that failed past its checks must not end SIGHUP handling.
            let reloader = reloader.clone();
            if actix_rt::spawn(async move { reloader.reload().await })
                .await
                .is_err()
            {
                tracing::error!("configuration reload failed unexpectedly; configuration kept");
            }
        }
    });
}

#[cfg(not(unix))]
fn reload_on_sighup(_: Arc<Reloader>) {}
