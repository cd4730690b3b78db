use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, LogSettings, TelemetrySettings};

/// Installs the log subscriber on stderr (no traces). `RUST_LOG` overrides `log.level`.
pub fn init_logs(settings: &LogSettings) {
    let off = TelemetrySettings {
        otlp_endpoint: String::new(),
        service_name: String::new(),
    };
    // Without an endpoint there is no exporter to fail to build.
    let _ = init(settings, &off);
}

/// Installs the log subscriber on stderr and, when `telemetry.otlp_endpoint` is set, the trace
/// exporter beside it. A subscriber already installed (tests) is left as it is.
pub fn init(
    log: &LogSettings,
    telemetry: &TelemetrySettings,
) -> Result<(), opentelemetry_otlp::ExporterBuildError> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.level));
    // Colours only for a person at a terminal: not in a file, a pipe or the journal.
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let fmt = match log.format {
        LogFormat::Pretty => fmt.compact().boxed(),
        LogFormat::Json => fmt.json().flatten_event(true).boxed(),
    };
    let traces = super::traces::layer(telemetry)?;
    // `try_init` fails only when a subscriber is already installed, which is fine.
    let _ = tracing_subscriber::registry()
        .with(traces)
        .with(fmt)
        .with(filter)
        .try_init();
    Ok(())
}
