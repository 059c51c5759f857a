//! Running the standalone service: what `authjs-proxy --config FILE` does.

use std::path::PathBuf;

use actix_web::{App, HttpResponse, HttpServer, web};

use crate::config::{FileConfig, ServerOptions};
use crate::gate::{ForwardAuth, ForwardAuthOptions};
use crate::handle::AuthProxy;

/// `GET /healthz`: 200 with the configuration generation, or 503 while unconfigured.
async fn healthz(proxy: web::Data<AuthProxy>) -> HttpResponse {
    match proxy.config() {
        Some(cfg) => HttpResponse::Ok().json(serde_json::json!({
            "status": "ok",
            "generation": cfg.generation,
        })),
        None => HttpResponse::ServiceUnavailable().json(serde_json::json!({
            "status": "unconfigured",
        })),
    }
}

/// Serves the proxy as configured by `file` until SIGTERM/Ctrl-C (graceful shutdown).
///
/// With `reload_from`, SIGHUP re-reads that file and sends it to the `RuntimeActor`; an invalid
/// file is logged and the running configuration kept.
pub async fn serve(file: FileConfig, reload_from: Option<PathBuf>) -> std::io::Result<()> {
    let addr = file
        .server
        .listen_addr()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let proxy = AuthProxy::start_with_mount(&file.proxy.local_base_path);
    proxy
        .configure(file.proxy.clone())
        .await
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // A Redis level that refuses our credentials is a configuration error; one that is down
    // is not (the service goes on with the local cache and the upstream).
    if let Some(cache) = proxy.config().and_then(|c| c.session_cache.clone()) {
        cache.check_shared().await.map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("invalid configuration: {e}"),
            )
        })?;
    }
    let gate = if file.forward_auth.enabled {
        let gate = file
            .forward_auth
            .validate()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        tracing::info!(path = gate.path(), "forward-auth endpoint enabled");
        Some(gate)
    } else {
        None
    };
    if let Some(path) = reload_from {
        reload_on_sighup(proxy.clone(), gate.clone(), path, file.server.clone());
    }
    let app_proxy = proxy.clone();
    let server = HttpServer::new(move || {
        let gate = gate.clone();
        let gate_proxy = app_proxy.clone();
        App::new()
            .route("/healthz", web::get().to(healthz))
            // Before the Auth.js routes, so a root mount cannot shadow the endpoint.
            .configure(move |c| {
                if let Some(gate) = &gate {
                    crate::gate::configure(gate_proxy.clone(), gate.clone())(c);
                }
            })
            .configure(crate::configure(app_proxy.clone()))
    })
    .workers(file.server.workers)
    .bind(addr)?;
    for a in server.addrs() {
        tracing::info!(listen = %a, mount = %proxy.mount_path(), "authjs-proxy listening");
    }
    server.run().await
}

/// Applies a reloaded `[forward_auth]` to the mounted endpoint: its rules are replaced; mounting,
/// unmounting or moving it needs a restart.
fn reload_gate(gate: Option<&ForwardAuth>, opts: &ForwardAuthOptions) {
    match (gate, opts.enabled) {
        (Some(gate), true) => match gate.update(opts) {
            Ok(()) => tracing::info!("forward-auth rules reloaded"),
            Err(e) => tracing::warn!(error = %e, "forward-auth reload refused; rules kept"),
        },
        (Some(_), false) | (None, true) => tracing::warn!(
            "forward_auth.enabled changed: restart to mount or unmount the endpoint; rules kept"
        ),
        (None, false) => {}
    }
}

#[cfg(unix)]
fn reload_on_sighup(
    proxy: AuthProxy,
    gate: Option<ForwardAuth>,
    path: PathBuf,
    serving: ServerOptions,
) {
    use actix_rt::signal::unix::{SignalKind, signal};
    actix_rt::spawn(async move {
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("SIGHUP handler could not be installed; reload disabled");
            return;
        };
        while hup.recv().await.is_some() {
            match FileConfig::load(&path) {
                Ok(file) => {
                    match proxy.configure(file.proxy).await {
                        Ok(generation) if file.server != serving => {
                            tracing::warn!(
                                generation,
                                listen = %serving.listen,
                                workers = serving.workers,
                                "configuration reloaded, but [server] changed: the listen \
                                 address and workers change only on restart; still serving as \
                                 before"
                            );
                        }
                        Ok(generation) => tracing::info!(generation, "configuration reloaded"),
                        Err(e) => tracing::warn!(error = %e, "reload refused; configuration kept"),
                    }
                    reload_gate(gate.as_ref(), &file.forward_auth);
                }
                Err(e) => tracing::warn!(error = %e, "reload refused; configuration kept"),
            }
        }
    });
}

#[cfg(not(unix))]
fn reload_on_sighup(_: AuthProxy, _: Option<ForwardAuth>, _: PathBuf, _: ServerOptions) {}
