//! OpenTelemetry tracing, end to end: the binary exports to an in-process OTLP/HTTP receiver
//! (which decodes the protobuf), and a fake upstream records the `traceparent` it was sent.

#![cfg(feature = "otel")]

mod common;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use common::service::*;
use common::*;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

/// A caller's trace: what a front proxy would send.
const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// An OTLP/HTTP receiver on 127.0.0.1: keeps every span posted to `/v1/traces`.
struct Receiver {
    url: String,
    spans: Arc<Mutex<Vec<Span>>>,
}

async fn traces(body: web::Bytes, spans: web::Data<Arc<Mutex<Vec<Span>>>>) -> HttpResponse {
    let Ok(req) = ExportTraceServiceRequest::decode(body) else {
        return HttpResponse::BadRequest().finish();
    };
    let mut kept = spans.lock().unwrap();
    for rs in req.resource_spans {
        for ss in rs.scope_spans {
            kept.extend(ss.spans);
        }
    }
    HttpResponse::Ok()
        .content_type("application/x-protobuf")
        .finish()
}

impl Receiver {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let spans: Arc<Mutex<Vec<Span>>> = Arc::default();
        let data = web::Data::new(spans.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/v1/traces", web::post().to(traces))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        actix_rt::spawn(server);
        Receiver { url, spans }
    }

    fn spans(&self) -> Vec<Span> {
        self.spans.lock().unwrap().clone()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `(trace id, parent span id, flags)` of a `traceparent`.
fn parts(traceparent: &str) -> (String, String, String) {
    let p: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(p.len(), 4, "{traceparent}");
    (p[1].to_owned(), p[2].to_owned(), p[3].to_owned())
}

/// The binary on a config with `[server]` `extra_server`, the upstream, and `extra`; the batch
/// exporter sends every 100 ms.
fn start(upstream: &str, extra_server: &str, extra: &str) -> (Running, String, Scratch) {
    let listen = local();
    let dir = Scratch::new("telemetry");
    let path = dir.write(
        "c.toml",
        &format!(
            "[server]\nlisten = \"{listen}\"\nworkers = 1\n{extra_server}\n[proxy]\n\
             base_url = \"{upstream}\"\nsession_strategy = \"jwt\"\n{extra}"
        ),
    );
    let child = Command::new(BIN)
        .args(["--config", path.to_str().unwrap()])
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_TRACES_SAMPLER")
        .env_remove("OTEL_TRACES_SAMPLER_ARG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (Running(child), listen, dir)
}

fn telemetry(receiver: &Receiver) -> String {
    format!("[telemetry]\notlp_endpoint = \"{}\"\n", receiver.url)
}

/// One GET of `/api/auth/csrf`, with `traceparent` when given; waits for the service first.
async fn get(listen: &str, traceparent: Option<&str>) {
    let c = client();
    let url = format!("http://{listen}/api/auth/csrf");
    let mut up = false;
    for _ in 0..100 {
        if status_of(&c, &format!("http://{listen}/healthz")).await == Some(200) {
            up = true;
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "the service did not start");
    let mut req = c.get(url);
    if let Some(tp) = traceparent {
        req = req.insert_header(("traceparent", tp));
    }
    assert_eq!(req.send().await.unwrap().status().as_u16(), 200);
}

/// Stops the service (SIGTERM flushes the exporter) and answers the spans received, waiting
/// (bounded) until `want` of them came, and the service's stderr.
async fn stop_and_collect(
    running: Running,
    receiver: &Receiver,
    want: usize,
) -> (Vec<Span>, String) {
    let (clean, stderr) = running.stop().await;
    assert!(clean, "the service exits cleanly: {stderr}");
    for _ in 0..40 {
        if receiver.spans().len() >= want {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    (receiver.spans(), stderr)
}

fn named<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span {name:?} in {:?}", names(spans)))
}

/// The span of the request to `auth/csrf` (the probes of the wait have their own).
fn csrf_request(spans: &[Span]) -> &Span {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    spans
        .iter()
        .find(|s| {
            s.name == "HTTP GET"
                && s.attributes.iter().any(|kv| {
                    kv.key == "http.route"
                        && kv.value.as_ref().and_then(|v| v.value.as_ref())
                            == Some(&Value::StringValue("auth/csrf".into()))
                })
        })
        .unwrap_or_else(|| panic!("no request span for auth/csrf in {:?}", names(spans)))
}

fn names(spans: &[Span]) -> Vec<&str> {
    spans.iter().map(|s| s.name.as_str()).collect()
}

#[actix_rt::test]
async fn the_upstream_attempt_is_a_child_of_the_request_and_the_upstream_sees_its_trace() {
    let receiver = Receiver::start();
    let up = FakeUpstream::ok();
    let (running, listen, _dir) = start(&up.url(), "", &telemetry(&receiver));
    get(&listen, None).await;
    let (spans, stderr) = stop_and_collect(running, &receiver, 3).await;

    let request = csrf_request(&spans);
    let attempt = named(&spans, "upstream attempt");
    assert_eq!(attempt.trace_id, request.trace_id);
    assert_eq!(attempt.parent_span_id, request.span_id);
    assert!(request.parent_span_id.is_empty(), "a trace of its own");

    let sent = up
        .last()
        .header("traceparent")
        .expect("traceparent upstream");
    let (trace, parent, flags) = parts(&sent);
    assert_eq!(trace, hex(&request.trace_id));
    assert_eq!(
        parent,
        hex(&attempt.span_id),
        "the attempt is the upstream's parent"
    );
    assert_eq!(flags, "01");
    assert!(
        stderr.contains(&format!("trace_id={trace}")),
        "the access line carries the trace id: {stderr}"
    );
}

#[actix_rt::test]
async fn a_trusted_peer_s_traceparent_is_continued() {
    let receiver = Receiver::start();
    let up = FakeUpstream::ok();
    let (running, listen, _dir) = start(
        &up.url(),
        "trusted_proxies = [\"127.0.0.1/32\"]",
        &telemetry(&receiver),
    );
    get(
        &listen,
        Some(&format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01")),
    )
    .await;
    let (spans, _) = stop_and_collect(running, &receiver, 2).await;

    let request = csrf_request(&spans);
    assert_eq!(hex(&request.trace_id), CALLER_TRACE);
    assert_eq!(hex(&request.parent_span_id), CALLER_SPAN);
    let (trace, parent, _) = parts(&up.last().header("traceparent").unwrap());
    assert_eq!(trace, CALLER_TRACE);
    assert_ne!(
        parent, CALLER_SPAN,
        "the proxy's attempt is the upstream's parent"
    );
}

#[actix_rt::test]
async fn an_untrusted_peer_s_traceparent_starts_a_new_trace() {
    let receiver = Receiver::start();
    let up = FakeUpstream::ok();
    // The test client (loopback, trusted by default) is left out of the trust list.
    let (running, listen, _dir) = start(
        &up.url(),
        "trusted_proxies = [\"10.0.0.0/8\"]",
        &telemetry(&receiver),
    );
    get(
        &listen,
        Some(&format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01")),
    )
    .await;
    let (spans, _) = stop_and_collect(running, &receiver, 2).await;

    let request = csrf_request(&spans);
    assert_ne!(hex(&request.trace_id), CALLER_TRACE);
    assert!(request.parent_span_id.is_empty());
    let (trace, _, _) = parts(&up.last().header("traceparent").unwrap());
    assert_eq!(
        trace,
        hex(&request.trace_id),
        "the caller's header never goes upstream"
    );
}

#[actix_rt::test]
async fn sampling_zero_exports_nothing_but_still_tells_the_upstream() {
    let receiver = Receiver::start();
    let up = FakeUpstream::ok();
    let extra = format!(
        "{}sampler = \"traceidratio\"\nsampler_arg = \"0\"\n",
        telemetry(&receiver)
    );
    let (running, listen, _dir) = start(&up.url(), "", &extra);
    get(&listen, None).await;
    let (trace, _, flags) = parts(&up.last().header("traceparent").unwrap());
    assert_eq!(flags, "00", "not sampled");
    let (clean, stderr) = running.stop().await;
    assert!(clean);
    assert!(
        stderr.contains(&format!("trace_id={trace}")),
        "the access line carries the unsampled trace's id: {stderr}"
    );
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(names(&receiver.spans()), Vec::<&str>::new());
}

#[actix_rt::test]
async fn configured_trace_headers_never_go_next_to_the_proxy_s_own() {
    let receiver = Receiver::start();
    let up = FakeUpstream::ok();
    let extra = format!(
        "{}sampler = \"traceidratio\"\nsampler_arg = \"0\"\n",
        telemetry(&receiver)
    );
    let extra = extra.replace(
        "[telemetry]",
        "[proxy.headers]\ntracestate = \"x=1\"\ntraceparent = \"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\"\n[telemetry]",
    );
    let (running, listen, _dir) = start(&up.url(), "", &extra);
    get(&listen, None).await;
    let sent = up.last();
    let (trace, _, flags) = parts(&sent.header("traceparent").unwrap());
    assert_ne!(trace, "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(flags, "00");
    assert_eq!(sent.header("tracestate"), None);
    let (clean, _) = running.stop().await;
    assert!(clean);
}

#[actix_rt::test]
async fn tracing_off_adds_no_traceparent_and_passes_the_client_s_on_as_before() {
    let up = FakeUpstream::ok();
    let (running, listen, _dir) = start(&up.url(), "", "");
    get(&listen, None).await;
    assert_eq!(up.last().header("traceparent"), None);
    let theirs = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    get(&listen, Some(&theirs)).await;
    assert_eq!(up.last().header("traceparent"), Some(theirs));
    let (clean, stderr) = running.stop().await;
    assert!(clean);
    assert!(!stderr.contains("trace_id"), "{stderr}");
}

#[actix_rt::test]
async fn an_invalid_sampler_is_refused_naming_the_field() {
    let up = FakeUpstream::ok();
    let (mut running, _, _dir) = start(
        &up.url(),
        "",
        "[telemetry]\notlp_endpoint = \"http://127.0.0.1:1\"\nsampler = \"sometimes\"\n",
    );
    let mut status = None;
    for _ in 0..200 {
        status = running.0.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status.and_then(|s| s.code()), Some(64), "exits as invalid");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut running.0.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("telemetry.sampler"), "{stderr}");
}

#[actix_rt::test]
async fn a_forward_auth_decision_is_a_span_under_its_request_with_its_result() {
    let receiver = Receiver::start();
    let up = FakeUpstream::ok();
    let extra = format!(
        "secret = \"telemetry-test-secret\"\n[forward_auth]\nenabled = true\n{}",
        telemetry(&receiver)
    );
    let (running, listen, _dir) = start(&up.url(), "", &extra);
    get(&listen, None).await;
    let status = client()
        .get(format!("http://{listen}/_authjs/verify"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 401);
    let (spans, _) = stop_and_collect(running, &receiver, 5).await;
    let decision = named(&spans, "forward-auth decision");
    let parent = spans
        .iter()
        .find(|s| s.span_id == decision.parent_span_id)
        .expect("the decision's parent was exported");
    assert_eq!(parent.name, "HTTP GET");
    let result = decision
        .attributes
        .iter()
        .find(|kv| kv.key == "result")
        .and_then(|kv| kv.value.clone())
        .and_then(|v| v.value);
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    assert_eq!(result, Some(Value::StringValue("unauthenticated".into())));
}

#[actix_rt::test]
async fn a_sign_in_through_the_proxy_makes_one_trace_that_auth_js_joins() {
    use common::peer::{AuthJs, Browser, peer_ready};
    if !peer_ready() {
        return;
    }
    let peer = AuthJs::start("e2e-secret");
    let receiver = Receiver::start();
    let (running, listen, _dir) = start(&peer.url(), "", &telemetry(&receiver));
    get(&listen, None).await;
    // A front proxy on loopback (trusted by default) starts the trace of the sign-in.
    let mut b = Browser::new(format!("http://{listen}"));
    b.extra
        .push(("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01")));
    let res = b
        .sign_in("/api/auth", "ada@example.com", "analytical")
        .await;
    assert_eq!(res.status, 302);
    assert!(b.has_cookie("authjs.session-token"));

    let seen: serde_json::Value = client()
        .get(format!("{}/__e2e/traceparents", peer.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (spans, _) = stop_and_collect(running, &receiver, 6).await;
    let ours: Vec<&Span> = spans
        .iter()
        .filter(|s| hex(&s.trace_id) == CALLER_TRACE)
        .collect();
    let attempts: Vec<String> = ours
        .iter()
        .filter(|s| s.name == "upstream attempt")
        .map(|s| hex(&s.span_id))
        .collect();
    for step in ["GET /api/auth/csrf", "POST /api/auth/callback/credentials"] {
        let tp = seen[step]
            .as_str()
            .unwrap_or_else(|| panic!("Auth.js saw no traceparent on {step}: {seen}"));
        let (trace, parent, _) = parts(tp);
        assert_eq!(trace, CALLER_TRACE, "{step}");
        assert!(
            attempts.contains(&parent),
            "{step}: its parent is an exported attempt"
        );
    }
    let requests = ours.iter().filter(|s| s.name.starts_with("HTTP ")).count();
    assert_eq!(requests, 2, "csrf and callback, in the one trace");
}

#[actix_rt::test]
async fn a_trusted_caller_s_unsampled_trace_is_followed_without_exporting() {
    let receiver = Receiver::start();
    let up = FakeUpstream::ok();
    let extra = format!(
        "{}sampler = \"parentbased_always_on\"\n",
        telemetry(&receiver)
    );
    let (running, listen, _dir) = start(&up.url(), "", &extra);
    get(
        &listen,
        Some(&format!("00-{CALLER_TRACE}-{CALLER_SPAN}-00")),
    )
    .await;
    let (trace, parent, flags) = parts(&up.last().header("traceparent").unwrap());
    assert_eq!((trace.as_str(), flags.as_str()), (CALLER_TRACE, "00"));
    assert_ne!(parent, CALLER_SPAN);
    let (spans, stderr) = stop_and_collect(running, &receiver, 1).await;
    assert!(
        !spans.iter().any(|s| hex(&s.trace_id) == CALLER_TRACE),
        "nothing of the caller's trace exported"
    );
    assert!(
        stderr.contains(&format!("trace_id={CALLER_TRACE}")),
        "{stderr}"
    );
}
