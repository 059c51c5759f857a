//! Trace export: the OpenTelemetry pipeline `[telemetry]` asks for (OTLP over HTTP/protobuf, a
//! batch exporter on its own thread), the `tracing` layer that feeds it, and the flush at
//! shutdown. The spans themselves are made in [`crate::core::obs::trace`].

use crate::core::error::ConfigError;
use crate::options::TelemetryOptions;

/// What [`start`] could not do.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The options are invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The exporter could not be built.
    #[error("telemetry exporter not built: {0}")]
    Exporter(String),
}

/// The running pipeline; [`Telemetry::shutdown`] sends what is still buffered.
pub struct Telemetry {
    #[cfg(feature = "otel")]
    provider: opentelemetry_sdk::trace::SdkTracerProvider,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Telemetry")
    }
}

/// The `tracing` layer of a running pipeline, for [`crate::app::logging::init_with`].
#[cfg(feature = "otel")]
pub type Layer = Box<dyn tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync>;
/// The `tracing` layer of a running pipeline (none in a build without `otel`).
#[cfg(not(feature = "otel"))]
pub type Layer = std::convert::Infallible;

/// Starts the pipeline when `options` name an endpoint (else `None`: nothing runs and no span
/// is made). Call outside any async runtime (the exporter's HTTP client is a blocking one).
pub fn start(options: &TelemetryOptions) -> Result<Option<(Telemetry, Layer)>, TelemetryError> {
    let Some(url) = options.traces_url()? else {
        return Ok(None);
    };
    let service = options.service_name()?.to_owned();
    let sampling = options.sampling()?;
    #[cfg(feature = "otel")]
    {
        let (telemetry, layer, parent_based, ratio) = pipeline(&url, service, sampling)?;
        crate::core::obs::trace::enable(parent_based, ratio);
        Ok(Some((telemetry, layer)))
    }
    #[cfg(not(feature = "otel"))]
    {
        let _ = (url, service, sampling);
        Err(TelemetryError::Config(ConfigError::new(
            "telemetry.otlp_endpoint",
            "this build has no trace export (built without the `otel` feature)",
        )))
    }
}

#[cfg(feature = "otel")]
fn pipeline(
    url: &str,
    service: String,
    sampling: crate::options::telemetry::Sampling,
) -> Result<(Telemetry, Layer, bool, f64), TelemetryError> {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
    use tracing_subscriber::Layer as _;

    use crate::options::telemetry::{RootSampling, Sampling};

    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url)
        .build()
        .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    // The sampling decision is made when a request starts (`trace::start_request`): a
    // request that is not sampled makes no span at all, and the spans of one that is are all
    // kept.
    let root = |s: RootSampling| match s {
        RootSampling::AlwaysOn => 1.0,
        RootSampling::AlwaysOff => 0.0,
        RootSampling::Ratio(r) => r,
    };
    let (parent_based, ratio) = match sampling {
        Sampling::AlwaysOn => (false, 1.0),
        Sampling::AlwaysOff => (false, 0.0),
        Sampling::Ratio(r) => (false, r),
        Sampling::ParentBased(s) => (true, root(s)),
    };
    let sampler = Sampler::AlwaysOn;
    // The batch processor reads OTEL_BSP_* (schedule delay, queue size) from the environment.
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(sampler)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name(service)
                .build(),
        )
        .build();
    let tracer = provider.tracer("authjs-proxy");
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_level(false)
        .with_tracked_inactivity(false)
        .with_filter(TraceSpans { keep: true })
        .boxed();
    Ok((Telemetry { provider }, layer, parent_based, ratio))
}

/// The spans made for export (target [`crate::core::obs::trace::TARGET`]): kept by the
/// exporter's layer (`keep: true`), left out of the log output (`keep: false`). Decided once
/// per callsite: every other callsite (the debug and trace events of actix, tokio, awc) stays
/// as cheap as without tracing, never asked again per event.
#[cfg(feature = "otel")]
#[derive(Debug, Clone, Copy)]
pub struct TraceSpans {
    /// Whether the trace spans are the ones kept.
    pub keep: bool,
}

#[cfg(feature = "otel")]
impl TraceSpans {
    fn keeps(self, meta: &tracing::Metadata<'_>) -> bool {
        (meta.target() == crate::core::obs::trace::TARGET) == self.keep
    }
}

#[cfg(feature = "otel")]
impl<S> tracing_subscriber::layer::Filter<S> for TraceSpans {
    fn enabled(
        &self,
        meta: &tracing::Metadata<'_>,
        _: &tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        self.keeps(meta)
    }

    // A hint, so the `log` records of actix and awc below the log level stay off at the source
    // (without one the subscriber's maximum level is unknown, and every `trace!` is asked).
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(if self.keep {
            // The trace spans are all at INFO.
            tracing::level_filters::LevelFilter::INFO
        } else {
            tracing::level_filters::LevelFilter::TRACE
        })
    }

    fn callsite_enabled(
        &self,
        meta: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if self.keeps(meta) {
            tracing::subscriber::Interest::always()
        } else {
            tracing::subscriber::Interest::never()
        }
    }
}

impl Telemetry {
    /// Sends the spans still buffered and stops the exporter. Call outside any async runtime.
    pub fn shutdown(self) {
        #[cfg(feature = "otel")]
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "telemetry: spans not flushed at shutdown");
        }
    }
}
