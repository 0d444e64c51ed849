//! What Confide tells its operators about requests, without telling them about people: every
//! request runs in a server span carrying its route, status and, once the caller is
//! authenticated, the tenant (never the user, the body or the variables), and is counted and
//! timed; every resolver of a root field or of an object runs in a span beneath it.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::registry::MetaTypeName;
use async_graphql::{ServerResult, Value};
use axum::extract::{MatchedPath, Request};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram};
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::TraceContextExt;
use tracing::Instrument;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use confide_app::Caller;

struct Instruments {
    requests: Counter<u64>,
    duration: Histogram<f64>,
}

/// Made on first use, from the meter provider the binary installed before serving.
fn instruments() -> &'static Instruments {
    static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();
    INSTRUMENTS.get_or_init(|| {
        let meter = opentelemetry::global::meter("confide-api");
        Instruments {
            requests: meter
                .u64_counter("confide.http.requests")
                .with_description("HTTP requests served, by route and status")
                .with_unit("{request}")
                .build(),
            duration: meter
                .f64_histogram("http.server.request.duration")
                .with_description("How long HTTP requests took to serve")
                .with_unit("s")
                .with_boundaries(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ])
                .build(),
        }
    })
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}

/// Runs a request in its span, then counts and times it.
pub async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let span = tracing::info_span!(
        "HTTP request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = Empty,
        confide.tenant = Empty,
    );
    // A caller that is itself traced (W3C `traceparent`) continues its trace here;
    // otherwise the request span is the root of a new one.
    let caller = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&Headers(request.headers()))
    });
    if caller.span().span_context().is_valid() {
        // Fails only without an OpenTelemetry layer, when there is no trace to join.
        let _ = span.set_parent(caller);
    }

    let response = next.run(request).instrument(span.clone()).await;

    let status = response.status();
    let elapsed = started.elapsed();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    tracing::info!(
        parent: &span,
        status = status.as_u16(),
        elapsed_ms = elapsed.as_secs_f64() * 1_000.0,
        "served {method} {route}"
    );
    let attributes = [
        KeyValue::new("http.request.method", method),
        KeyValue::new("http.route", route),
        KeyValue::new("http.response.status_code", i64::from(status.as_u16())),
    ];
    let instruments = instruments();
    instruments.requests.add(1, &attributes);
    instruments
        .duration
        .record(elapsed.as_secs_f64(), &attributes);
    response
}

/// Puts each resolver that does work in a span: root fields (queries and mutations) and
/// fields that return objects. Scalar fields of an object already in hand are left out,
/// and so are arguments: they may carry personal data.
pub(crate) struct ResolverSpans;

impl ExtensionFactory for ResolverSpans {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ResolverSpans)
    }
}

#[async_trait::async_trait]
impl Extension for ResolverSpans {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if !traced(ctx, &info) {
            return next.run(ctx, info).await;
        }
        let span = tracing::info_span!(
            "GraphQL resolver",
            otel.name = %format_args!("{}.{}", info.parent_type, info.name),
            otel.status_code = Empty,
            graphql.field.parent_type = info.parent_type,
            graphql.field.name = info.name,
            error.type = Empty,
        );
        let resolved = next.run(ctx, info).instrument(span.clone()).await;
        if let Err(error) = &resolved {
            span.record("otel.status_code", "ERROR");
            if let Some(Value::String(code)) = error
                .extensions
                .as_ref()
                .and_then(|extensions| extensions.get("code"))
            {
                span.record("error.type", code.as_str());
            }
        }
        resolved
    }
}

fn traced(ctx: &ExtensionContext<'_>, info: &ResolveInfo<'_>) -> bool {
    if info.is_for_introspection {
        return false;
    }
    let registry = &ctx.schema_env.registry;
    let root = info.parent_type == registry.query_type
        || registry.mutation_type.as_deref() == Some(info.parent_type);
    root || registry
        .types
        .get(MetaTypeName::concrete_typename(info.return_type))
        .is_some_and(|ty| !ty.is_leaf())
}

/// Records the caller's tenant on the current span, the request's: traces carry the tenant
/// and nothing else of who called.
pub(crate) fn record_tenant(caller: &Caller) {
    tracing::Span::current().record("confide.tenant", caller.tenant.as_str());
}
