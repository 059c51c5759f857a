//! Running the standalone service: what `authjs-proxy --config FILE` does.

use std::path::PathBuf;

use actix_web::{App, HttpResponse, HttpServer, web};

use crate::config::{FileConfig, ServerOptions};
use crate::handle::AuthProxy;

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
    if let Some(path) = reload_from {
        reload_on_sighup(proxy.clone(), path, file.server.clone());
    }
    let app_proxy = proxy.clone();
    let server = HttpServer::new(move || {
        App::new()
            .route("/healthz", web::get().to(healthz))
            .configure(crate::configure(app_proxy.clone()))
    })
    .workers(file.server.workers)
    .bind(addr)?;
    for a in server.addrs() {
        tracing::info!(listen = %a, mount = %proxy.mount_path(), "authjs-proxy listening");
    }
    server.run().await
}

#[cfg(unix)]
fn reload_on_sighup(proxy: AuthProxy, path: PathBuf, serving: ServerOptions) {
    use actix_rt::signal::unix::{SignalKind, signal};
    actix_rt::spawn(async move {
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("SIGHUP handler could not be installed; reload disabled");
            return;
        };
        while hup.recv().await.is_some() {
            match FileConfig::load(&path) {
                Ok(file) => match proxy.configure(file.proxy).await {
                    Ok(generation) if file.server != serving => {
                        tracing::warn!(
                            generation,
                            listen = %serving.listen,
                            workers = serving.workers,
                            "configuration reloaded, but [server] changed: the listen address \
                             and workers change only on restart; still serving as before"
                        );
                    }
                    Ok(generation) => tracing::info!(generation, "configuration reloaded"),
                    Err(e) => tracing::warn!(error = %e, "reload refused; configuration kept"),
                },
                Err(e) => tracing::warn!(error = %e, "reload refused; configuration kept"),
            }
        }
    });
}

#[cfg(not(unix))]
fn reload_on_sighup(_: AuthProxy, _: PathBuf, _: ServerOptions) {}
