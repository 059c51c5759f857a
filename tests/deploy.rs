//! The deploy files (`deploy/`) can't rot: every metric they name exists, the configuration
//! they start with is valid and the same in every file, and their ports and probe paths are the
//! ones the binary serves.

mod common;

use std::path::Path;
use std::sync::Arc;

use actix_web::{App, test as web_test};
use authjs_proxy::AuthProxy;
use authjs_proxy::app::admin::health::Health;
use authjs_proxy::app::admin::reload::Reloader;
use authjs_proxy::app::admin::routes::{AdminState, configure};
use authjs_proxy::core::obs::metrics;
use authjs_proxy::options::FileConfig;

fn deploy(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `authjs_proxy_…` name in `text`.
fn metric_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("authjs_proxy_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

#[test]
fn every_metric_the_alerts_and_the_dashboard_name_exists() {
    metrics::at_zero(true, true);
    metrics::request("auth/session".into(), "GET", 200, std::time::Duration::ZERO);
    metrics::upstream_request("ok", std::time::Duration::ZERO);
    let exposed = metrics::encode();
    let samples: Vec<&str> = exposed.lines().filter(|l| !l.starts_with('#')).collect();
    let mut named = metric_names(&deploy("alerts.yml"));
    named.extend(metric_names(&deploy("grafana-dashboard.json")));
    assert!(named.len() >= 10, "{named:?}");
    for name in named {
        assert!(
            samples
                .iter()
                .any(|s| s.starts_with(&format!("{name}{{")) || s.starts_with(&format!("{name} "))),
            "{name} is not a metric the binary exposes:\n{exposed}"
        );
    }
}

/// The TOML in the ConfigMap of `kubernetes.yaml`.
fn configmap_toml(k8s: &str) -> String {
    let start = k8s
        .find("config.toml: |\n")
        .expect("a config.toml in the ConfigMap")
        + 15;
    let block = &k8s[start
        ..k8s[start..]
            .find("\n---")
            .map_or(k8s.len(), |e| start + e + 1)];
    block
        .lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn the_deploy_configuration_is_valid_and_the_same_in_every_file() {
    let config = deploy("config.toml");
    let k8s = deploy("kubernetes.yaml");
    assert_eq!(
        configmap_toml(&k8s),
        config,
        "ConfigMap and deploy/config.toml differ"
    );
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/config.toml");
    let file = FileConfig::load_with_env(&path, [("AUTH_SECRET".into(), "s".into())])
        .unwrap_or_else(|e| panic!("deploy/config.toml: {e}"));
    let public = file.server.listen_addr().unwrap().port();
    let admin = file.admin.listen_addr().unwrap().unwrap().port();
    let docker = deploy("Dockerfile");
    assert!(
        docker.contains(&format!("EXPOSE {public} {admin}")),
        "Dockerfile EXPOSE"
    );
    assert!(
        docker.contains("\"check-config\""),
        "Dockerfile health check"
    );
    for port in [
        format!("{{ name: http, containerPort: {public} }}"),
        format!("{{ name: admin, containerPort: {admin} }}"),
    ] {
        assert!(k8s.contains(&port), "kubernetes.yaml lacks {port}");
    }
    assert!(deploy("prometheus.yml").contains(&format!("$1:{admin}")));
    // The image reads the file where the ConfigMap is mounted.
    assert!(docker.contains("/etc/authjs-proxy/config.toml"));
    assert!(k8s.contains("mountPath: /etc/authjs-proxy"));
    assert!(k8s.contains("image: authjs-proxy:0.1.0"));
    assert!(docker.contains("-t authjs-proxy:0.1.0"));
}

#[actix_web::test]
async fn the_probes_ask_paths_the_admin_listener_answers() {
    let k8s = deploy("kubernetes.yaml");
    let file = FileConfig::default();
    let proxy = AuthProxy::start();
    let state = AdminState {
        proxy: proxy.clone(),
        health: Health::default(),
        reloader: Arc::new(Reloader::new(proxy, None, &file, None, None)),
        token: None,
        loopback: true,
    };
    let app = web_test::init_service(App::new().configure(configure(state))).await;
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let at = k8s.find(probe).unwrap_or_else(|| panic!("{probe} missing"));
        assert!(
            k8s[at..]
                .lines()
                .nth(1)
                .unwrap()
                .contains(&format!("path: {path}, port: admin")),
            "{probe} asks {path} on the admin port"
        );
        let res =
            web_test::call_service(&app, web_test::TestRequest::get().uri(path).to_request()).await;
        assert_ne!(res.status(), 404, "{path}");
    }
}
