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
