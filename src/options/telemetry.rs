//! `[telemetry]`: OpenTelemetry traces exported over OTLP/HTTP (protobuf). Off unless an
//! endpoint is set, in the file or in the standard `OTEL_EXPORTER_OTLP_ENDPOINT`. The standard
//! `OTEL_*` variables win over the file (they are what an operator's platform sets).

use serde::{Deserialize, Serialize};

use crate::core::error::ConfigError;

/// The standard variables read, with the field each one sets.
pub const ENV_VARS: [(&str, &str); 4] = [
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "otlp_endpoint"),
    ("OTEL_SERVICE_NAME", "service_name"),
    ("OTEL_TRACES_SAMPLER", "sampler"),
    ("OTEL_TRACES_SAMPLER_ARG", "sampler_arg"),
];

/// The service name spans are exported under when none is set.
pub const DEFAULT_SERVICE_NAME: &str = "authjs-proxy";

/// Tracing export (`[telemetry]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryOptions {
    /// The collector's OTLP/HTTP base URL (`http://127.0.0.1:4318`); spans go to
    /// `<endpoint>/v1/traces`. Unset (default): no export, no trace headers added.
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the exported spans (default `authjs-proxy`).
    pub service_name: Option<String>,
    /// Which traces are kept, as `OTEL_TRACES_SAMPLER` names them: `always_on`, `always_off`,
    /// `traceidratio`, `parentbased_always_on` (default), `parentbased_always_off`,
    /// `parentbased_traceidratio`.
    pub sampler: Option<String>,
    /// The ratio of the `*traceidratio` samplers, 0 to 1 (default 1).
    pub sampler_arg: Option<String>,
}

/// A sampler, checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    /// Every trace.
    AlwaysOn,
    /// None.
    AlwaysOff,
    /// A share of the trace ids, 0 to 1.
    Ratio(f64),
    /// As the caller's trace when one is continued, else the inner sampler.
    ParentBased(RootSampling),
}

/// The sampler of a trace that starts here, under [`Sampling::ParentBased`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RootSampling {
    /// Every trace.
    AlwaysOn,
    /// None.
    AlwaysOff,
    /// A share of the trace ids, 0 to 1.
    Ratio(f64),
}

impl TelemetryOptions {
    /// Sets the fields the standard `OTEL_*` variables in `env` give (non-empty ones).
    pub fn apply_env(&mut self, env: &std::collections::HashMap<String, String>) {
        let get = |name: &str| env.get(name).filter(|v| !v.trim().is_empty()).cloned();
        if let Some(v) = get("OTEL_EXPORTER_OTLP_ENDPOINT") {
            self.otlp_endpoint = Some(v);
        }
        if let Some(v) = get("OTEL_SERVICE_NAME") {
            self.service_name = Some(v);
        }
        if let Some(v) = get("OTEL_TRACES_SAMPLER") {
            self.sampler = Some(v);
        }
        if let Some(v) = get("OTEL_TRACES_SAMPLER_ARG") {
            self.sampler_arg = Some(v);
        }
    }

    /// Whether spans are exported (an endpoint is set).
    pub fn enabled(&self) -> bool {
        self.otlp_endpoint.is_some()
    }

    /// The URL spans are posted to: `<otlp_endpoint>/v1/traces`.
    pub fn traces_url(&self) -> Result<Option<String>, ConfigError> {
        let Some(base) = &self.otlp_endpoint else {
            return Ok(None);
        };
        let field = "telemetry.otlp_endpoint";
        let parsed = url::Url::parse(base.trim())
            .map_err(|_| ConfigError::new(field, "expected a URL like http://127.0.0.1:4318"))?;
        if parsed.scheme() != "http" {
            return Err(ConfigError::new(
                field,
                "must be an http:// URL (OTLP/HTTP to a collector nearby; this build has no \
                 TLS for export)",
            ));
        }
        if parsed.host_str().is_none_or(str::is_empty) || parsed.query().is_some() {
            return Err(ConfigError::new(
                field,
                "expected a URL like http://127.0.0.1:4318",
            ));
        }
        Ok(Some(format!(
            "{}/v1/traces",
            parsed.as_str().trim_end_matches('/')
        )))
    }

    /// `service_name`, or `authjs-proxy`.
    pub fn service_name(&self) -> Result<&str, ConfigError> {
        match self.service_name.as_deref().map(str::trim) {
            None => Ok(DEFAULT_SERVICE_NAME),
            Some("") => Err(ConfigError::new(
                "telemetry.service_name",
                "must not be empty",
            )),
            Some(name) => Ok(name),
        }
    }

    /// The sampler `sampler` and `sampler_arg` name.
    pub fn sampling(&self) -> Result<Sampling, ConfigError> {
        let ratio = || -> Result<f64, ConfigError> {
            let Some(arg) = &self.sampler_arg else {
                return Ok(1.0);
            };
            match arg.trim().parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
                _ => Err(ConfigError::new(
                    "telemetry.sampler_arg",
                    "expected a ratio from 0 to 1",
                )),
            }
        };
        let name = self
            .sampler
            .as_deref()
            .map_or("parentbased_always_on", str::trim);
        Ok(match name {
            "always_on" => Sampling::AlwaysOn,
            "always_off" => Sampling::AlwaysOff,
            "traceidratio" => Sampling::Ratio(ratio()?),
            "parentbased_always_on" => Sampling::ParentBased(RootSampling::AlwaysOn),
            "parentbased_always_off" => Sampling::ParentBased(RootSampling::AlwaysOff),
            "parentbased_traceidratio" => Sampling::ParentBased(RootSampling::Ratio(ratio()?)),
            _ => {
                return Err(ConfigError::new(
                    "telemetry.sampler",
                    "expected always_on, always_off, traceidratio, parentbased_always_on, \
                     parentbased_always_off or parentbased_traceidratio",
                ));
            }
        })
    }

    /// All checks: the endpoint, the service name and the sampler.
    pub fn check(&self) -> Result<(), ConfigError> {
        self.traces_url()?;
        self.service_name()?;
        self.sampling()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(endpoint: &str) -> TelemetryOptions {
        TelemetryOptions {
            otlp_endpoint: Some(endpoint.to_owned()),
            ..Default::default()
        }
    }

    #[test]
    fn off_without_an_endpoint() {
        let t = TelemetryOptions::default();
        assert!(!t.enabled());
        assert_eq!(t.traces_url().unwrap(), None);
    }

    #[test]
    fn the_traces_path_is_appended_to_the_endpoint() {
        for base in ["http://127.0.0.1:4318", "http://127.0.0.1:4318/"] {
            assert_eq!(
                with(base).traces_url().unwrap().as_deref(),
                Some("http://127.0.0.1:4318/v1/traces")
            );
        }
    }

    #[test]
    fn a_bad_endpoint_names_the_field() {
        for bad in ["collector:4318", "https://c:4318", "http://c/?a=1"] {
            assert_eq!(
                with(bad).check().unwrap_err().field,
                "telemetry.otlp_endpoint"
            );
        }
    }

    #[test]
    fn the_standard_variables_win_over_the_file() {
        let mut t = with("http://file:4318");
        let env = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318"),
            ("OTEL_SERVICE_NAME", "edge"),
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        t.apply_env(&env);
        assert_eq!(t.otlp_endpoint.as_deref(), Some("http://env:4318"));
        assert_eq!(t.service_name().unwrap(), "edge");
        assert_eq!(t.sampling().unwrap(), Sampling::Ratio(0.25));
    }

    #[test]
    fn samplers_are_read_as_the_standard_names_them() {
        let s = |name: &str, arg: Option<&str>| TelemetryOptions {
            sampler: Some(name.to_owned()),
            sampler_arg: arg.map(str::to_owned),
            ..Default::default()
        };
        assert_eq!(
            TelemetryOptions::default().sampling().unwrap(),
            Sampling::ParentBased(RootSampling::AlwaysOn)
        );
        assert_eq!(
            s("parentbased_traceidratio", Some("0")).sampling().unwrap(),
            Sampling::ParentBased(RootSampling::Ratio(0.0))
        );
        assert_eq!(
            s("sometimes", None).sampling().unwrap_err().field,
            "telemetry.sampler"
        );
        assert_eq!(
            s("traceidratio", Some("2")).sampling().unwrap_err().field,
            "telemetry.sampler_arg"
        );
    }
}
