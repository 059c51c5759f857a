//! Log output of the binary: text (ANSI colours only on a terminal) or one JSON object per
//! line; the level comes from `RUST_LOG` (default `info`).

use std::io::IsTerminal;

use crate::options::LogFormat;

/// Installs the global `tracing` subscriber writing to stderr. Call once.
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        // `span` holds the innermost span's fields (`request_id`), every event field is at the
        // top level next to `message`.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

/// [`init`], plus the trace exporter's layer when tracing is on
/// ([`crate::app::telemetry::start`]). The log output leaves the exported spans out: its
/// lines carry their `trace_id` in the `request` span instead.
pub fn init_with(format: LogFormat, telemetry: Option<crate::app::telemetry::Layer>) {
    #[cfg(feature = "otel")]
    if let Some(otel) = telemetry {
        use tracing_subscriber::Layer as _;
        use tracing_subscriber::filter::FilterExt as _;
        use tracing_subscriber::layer::SubscriberExt as _;
        use tracing_subscriber::util::SubscriberInitExt as _;

        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let not_spans = crate::app::telemetry::TraceSpans { keep: false };
        let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
        let fmt = match format {
            LogFormat::Text => fmt
                .with_ansi(std::io::stderr().is_terminal())
                .with_filter(not_spans.and(filter))
                .boxed(),
            LogFormat::Json => fmt
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .with_filter(not_spans.and(filter))
                .boxed(),
        };
        tracing_subscriber::registry().with(otel).with(fmt).init();
        return;
    }
    #[cfg(not(feature = "otel"))]
    if let Some(never) = telemetry {
        match never {}
    }
    init(format);
}
