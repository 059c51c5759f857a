//! The actix-web adapters: the route mount ([`configure`]), the extractors, the access-log
//! middleware and the HTTP answers of the error types.

pub mod access_log;
pub mod errors;
pub mod extractors;

use actix::Actor;
use actix_web::{guard, web};

use crate::core::path::suffix_below;
use crate::proxy::handler;
use crate::runtime::actors::token::TokenActor;
use crate::runtime::actors::upstream::Upstream;
use crate::runtime::handle::{AuthProxy, WorkerTokens, WorkerUpstream};

/// Mounts the Auth.js routes and registers `proxy` for the helpers and extractors.
///
/// Use with `App::configure`; actix calls it once per worker thread, and each call starts
/// that worker's `UpstreamActor`. The routes follow the configured `local_base_path`, also
/// after a reconfigure; other paths fall through to the app's own routes.
///
/// # Examples
/// ```no_run
/// use actix_web::{App, HttpServer};
/// use authjs_proxy::AuthProxy;
/// # #[actix_web::main]
/// # async fn main() -> std::io::Result<()> {
/// let proxy = AuthProxy::start();
/// HttpServer::new(move || App::new().configure(authjs_proxy::configure(proxy.clone())))
///     .bind(("127.0.0.1", 3000))?
///     .run()
///     .await
/// # }
/// ```
pub fn configure(proxy: AuthProxy) -> impl Fn(&mut web::ServiceConfig) + Clone + 'static {
    move |cfg: &mut web::ServiceConfig| {
        let guard_proxy = proxy.clone();
        cfg.app_data(web::Data::new(proxy.clone()))
            .app_data(web::Data::new(WorkerUpstream(Upstream::start_local())))
            .app_data(web::Data::new(WorkerTokens(TokenActor.start())))
            // An empty-prefix scope matches every path without a regex; the guard keeps it to
            // the current mount path, so other paths fall through to the app's own routes.
            .service(
                web::scope("")
                    .guard(guard::fn_guard(move |ctx| {
                        let path = ctx.head().uri.path();
                        guard_proxy.with_mount_path(|base| suffix_below(path, base).is_some())
                    }))
                    .default_service(web::to(handler::forward)),
            );
    }
}
