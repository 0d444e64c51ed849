//! What Confide tells its operators: traces and metrics over OTLP, structured logs on stderr.
//!
//! - Traces: every `tracing` span (HTTP requests, GraphQL resolvers, event store operations)
//!   is an OpenTelemetry span. They leave the process only when `OTEL_EXPORTER_OTLP_ENDPOINT`
//!   is set, over `OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf` (the default) or `grpc`. The
//!   other standard variables (`OTEL_SERVICE_NAME`, `OTEL_EXPORTER_OTLP_HEADERS`,
//!   `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_BSP_*`, `OTEL_METRIC_EXPORT_INTERVAL`) apply as usual.
//! - Metrics: recorded through the global meter, exported with the traces.
//! - Logs: JSON lines when `CONFIDE_LOG_FORMAT=json` or outside development mode, text in
//!   development (`CONFIDE_LOG_FORMAT=text` forces it); `RUST_LOG` filters them. A line logged
//!   inside a traced operation, such as a request, carries its `trace_id` and `span_id`.
//!
//! Exports run as tasks on the server's runtime; [`Telemetry::shutdown`] flushes what is left.

use std::fmt;

use anyhow::{Context as _, Result, bail};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry::{KeyValue, global};
use opentelemetry_otlp::tonic_types::transport::ClientTlsConfig;
use opentelemetry_otlp::{
    MetricExporter, Protocol, SpanExporter, WithExportConfig as _, WithTonicConfig as _,
};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::metrics::periodic_reader_with_async_runtime::PeriodicReader;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::runtime;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer as _, Registry};

/// What `RUST_LOG` is when unset.
const DEFAULT_FILTER: &str = "info,sqlx=warn";

/// The installed providers, kept to be flushed on shutdown.
pub(crate) struct Telemetry {
    tracer_provider: SdkTracerProvider,
    meter_provider: Option<SdkMeterProvider>,
}

impl Telemetry {
    /// Exports every finished span and the metrics' last values, then stops the exporters.
    pub(crate) async fn shutdown(self) {
        // The providers block until their export tasks, on this runtime's workers, are done.
        let flushed = tokio::task::spawn_blocking(move || {
            let traces = self.tracer_provider.shutdown();
            let metrics = self.meter_provider.map(|provider| provider.shutdown());
            (traces, metrics)
        })
        .await;
        match flushed {
            Ok((traces, metrics)) => {
                if let Err(error) = traces {
                    tracing::warn!(%error, "flushing traces failed");
                }
                if let Some(Err(error)) = metrics {
                    tracing::warn!(%error, "flushing metrics failed");
                }
            }
            Err(error) => tracing::warn!(%error, "flushing telemetry failed"),
        }
    }
}

/// How exported telemetry travels. Over HTTP, TLS follows the endpoint's scheme; gRPC
/// loads the platform's root certificates unless the endpoint is `http://`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    HttpProtobuf,
    Grpc { tls: bool },
}

impl Transport {
    /// `None` when `OTEL_EXPORTER_OTLP_ENDPOINT` is unset: nothing is exported.
    fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        let Some(endpoint) = var("OTEL_EXPORTER_OTLP_ENDPOINT").filter(|e| !e.trim().is_empty())
        else {
            return Ok(None);
        };
        match var("OTEL_EXPORTER_OTLP_PROTOCOL").as_deref().map(str::trim) {
            None | Some("" | "http/protobuf") => Ok(Some(Self::HttpProtobuf)),
            // An endpoint without a scheme is TLS unless `OTEL_EXPORTER_OTLP_INSECURE` says not.
            Some("grpc") => Ok(Some(Self::Grpc {
                tls: !endpoint.trim().starts_with("http://"),
            })),
            Some(other) => {
                bail!("OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf or grpc, not {other}")
            }
        }
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    Json,
    Text,
}

impl LogFormat {
    fn from_env(var: impl Fn(&str) -> Option<String>, development: bool) -> Result<Self> {
        match var("CONFIDE_LOG_FORMAT").as_deref().map(str::trim) {
            Some("json") => Ok(Self::Json),
            Some("text") => Ok(Self::Text),
            None | Some("") if development => Ok(Self::Text),
            None | Some("") => Ok(Self::Json),
            Some(other) => bail!("CONFIDE_LOG_FORMAT must be json or text, not {other}"),
        }
    }
}

/// Installs the global `tracing` subscriber, tracer and meter providers, and the W3C trace
/// context propagator. Call it once, inside the Tokio runtime, before anything is traced.
pub(crate) fn init(development: bool) -> Result<Telemetry> {
    let var = |name: &str| std::env::var(name).ok();
    let format = LogFormat::from_env(var, development)?;
    let transport = Transport::from_env(var)?;

    let resource = if var("OTEL_SERVICE_NAME").is_some() {
        Resource::builder()
    } else {
        Resource::builder().with_service_name("confide")
    }
    .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
    .build();

    let mut tracer_provider = SdkTracerProvider::builder().with_resource(resource.clone());
    let mut meter_provider = None;
    if let Some(transport) = transport {
        let (spans, metrics) = exporters(transport)?;
        tracer_provider = tracer_provider
            .with_span_processor(BatchSpanProcessor::builder(spans, runtime::Tokio).build());
        let provider = SdkMeterProvider::builder()
            .with_resource(resource)
            .with_reader(PeriodicReader::builder(metrics, runtime::Tokio).build())
            .build();
        global::set_meter_provider(provider.clone());
        meter_provider = Some(provider);
    }
    // Without an exporter spans are still made, so that log lines carry trace ids.
    let tracer_provider = tracer_provider.build();
    global::set_tracer_provider(tracer_provider.clone());
    global::set_text_map_propagator(TraceContextPropagator::new());

    // The exporters' own HTTP and gRPC clients are never traced: their spans would be
    // exported by the very requests they describe.
    let exporters = Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_targets(
            ["h2", "hyper", "reqwest", "tonic", "tower", "opentelemetry"]
                .map(|target| (target, LevelFilter::OFF)),
        );
    let traces = tracing_opentelemetry::layer()
        .with_tracer(tracer_provider.tracer("confide"))
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_filter(exporters);
    let json = (format == LogFormat::Json).then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .map_event_format(|inner| WithTraceIds { inner, json: true })
            .with_writer(std::io::stderr)
    });
    let text = (format == LogFormat::Text).then(|| {
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .map_event_format(|inner| WithTraceIds { inner, json: false })
            .with_writer(std::io::stderr)
    });
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    Registry::default()
        .with(filter)
        .with(traces)
        .with(json)
        .with(text)
        .try_init()
        .context("installing the tracing subscriber")?;

    Ok(Telemetry {
        tracer_provider,
        meter_provider,
    })
}

/// The OTLP exporters for `transport`; the endpoint and the rest come from `OTEL_…` variables.
fn exporters(transport: Transport) -> Result<(SpanExporter, MetricExporter)> {
    // The platform's roots, loaded only for a collector reached over TLS.
    let roots = || ClientTlsConfig::new().with_native_roots();
    let spans = match transport {
        Transport::HttpProtobuf => SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .build(),
        Transport::Grpc { tls: false } => SpanExporter::builder().with_tonic().build(),
        Transport::Grpc { tls: true } => SpanExporter::builder()
            .with_tonic()
            .with_tls_config(roots())
            .build(),
    }
    .context("configuring the OTLP trace exporter")?;
    let metrics = match transport {
        Transport::HttpProtobuf => MetricExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .build(),
        Transport::Grpc { tls: false } => MetricExporter::builder().with_tonic().build(),
        Transport::Grpc { tls: true } => MetricExporter::builder()
            .with_tonic()
            .with_tls_config(roots())
            .build(),
    }
    .context("configuring the OTLP metric exporter")?;
    Ok((spans, metrics))
}

/// An event format that adds the trace and span ids of the span an event happens in.
struct WithTraceIds<F> {
    inner: F,
    json: bool,
}

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let ids = ctx.parent_span().and_then(|span| {
            let dispatch = tracing::dispatcher::get_default(tracing::Dispatch::clone);
            let context = tracing_opentelemetry::get_otel_context(&span.id(), &dispatch)?;
            let span = context.span();
            let ids = span.span_context();
            ids.is_valid().then(|| (ids.trace_id(), ids.span_id()))
        });
        let Some((trace_id, span_id)) = ids else {
            return self.inner.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        if self.json {
            // The inner format writes one JSON object per line: the ids open it.
            let fields = line.strip_prefix('{').unwrap_or(&line);
            write!(
                writer,
                "{{\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\",{fields}"
            )
        } else {
            let text = line.strip_suffix('\n').unwrap_or(&line);
            writeln!(writer, "{text} trace_id={trace_id} span_id={span_id}")
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    #[test]
    fn exports_only_to_a_configured_endpoint() {
        assert_eq!(Transport::from_env(lookup(&[])).unwrap(), None);
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
        assert_eq!(
            Transport::from_env(lookup(&[endpoint])).unwrap(),
            Some(Transport::HttpProtobuf)
        );
        assert_eq!(
            Transport::from_env(lookup(&[endpoint, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]))
                .unwrap(),
            Some(Transport::Grpc { tls: false })
        );
        assert_eq!(
            Transport::from_env(lookup(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
            ]))
            .unwrap(),
            Some(Transport::Grpc { tls: true })
        );
        let refused = Transport::from_env(lookup(&[
            endpoint,
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ]))
        .unwrap_err();
        assert!(refused.to_string().contains("http/json"), "{refused}");
    }

    /// Exporters connect lazily, so building them checks their configuration only; the wire
    /// is checked by `tests/otlp.rs` (HTTP/protobuf).
    #[tokio::test]
    async fn builds_the_exporters_of_both_transports() {
        for transport in [
            Transport::HttpProtobuf,
            Transport::Grpc { tls: false },
            Transport::Grpc { tls: true },
        ] {
            exporters(transport).unwrap();
        }
    }

    #[test]
    fn logs_json_outside_development_unless_told() {
        assert_eq!(
            LogFormat::from_env(lookup(&[]), true).unwrap(),
            LogFormat::Text
        );
        assert_eq!(
            LogFormat::from_env(lookup(&[]), false).unwrap(),
            LogFormat::Json
        );
        assert_eq!(
            LogFormat::from_env(lookup(&[("CONFIDE_LOG_FORMAT", "json")]), true).unwrap(),
            LogFormat::Json
        );
        assert_eq!(
            LogFormat::from_env(lookup(&[("CONFIDE_LOG_FORMAT", "text")]), false).unwrap(),
            LogFormat::Text
        );
        assert!(LogFormat::from_env(lookup(&[("CONFIDE_LOG_FORMAT", "xml")]), true).is_err());
    }
}
