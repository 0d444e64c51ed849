//! The GraphQL schema (DESIGN.md section 5). Resolvers are thin: take the caller from the
//! request, convert the arguments, call [`confide_app::App`], map the answer. Every
//! operation works in the caller's one tenant; a client link may only do what a client may.

mod audit;
mod courses;
mod mutation;
mod query;
mod receipts;
mod recordings;
mod requests;
mod types;

use std::sync::Arc;

use std::collections::BTreeSet;

use async_graphql::{EmptySubscription, ErrorExtensions, MergedObject, Schema};
use confide_app::{App, AppError, Loaded, tenant_stream};
use confide_domain::aggregates::tenant::Tenant as DomainTenant;
use confide_domain::{Actor, ClientId, DomainError, Role, UserId};
use confide_eventstore::checkpoint::CheckpointSigner;
use confide_vault::{BlobStore, KeyStore};

use crate::auth::{Authenticator, Principal};

/// Every read, by area.
#[derive(MergedObject, Default)]
pub struct Query(
    query::ConsentQuery,
    courses::CourseQuery,
    requests::SubjectRequestQuery,
    audit::AuditQuery,
    receipts::ReceiptQuery,
);

/// Every write, by area.
#[derive(MergedObject, Default)]
pub struct Mutation(
    mutation::ConsentMutation,
    recordings::RecordingMutation,
    courses::CourseMutation,
    requests::SubjectRequestMutation,
    audit::AuditMutation,
);

/// The schema type.
pub type ConfideSchema = Schema<Query, Mutation, EmptySubscription>;

/// What every resolver may use.
pub struct Services {
    pub app: Arc<App>,
    pub auth: Arc<Authenticator>,
    /// Keys that seal clients' personal details (one per client) and encrypt recordings'
    /// media (one per recording).
    pub keys: Arc<dyn KeyStore>,
    /// Where recordings' ciphertext is kept.
    pub blobs: Arc<dyn BlobStore>,
    /// Signs checkpoints of tenants' logs.
    pub signer: Arc<CheckpointSigner>,
}

/// Deepest selection accepted, and the most fields one request may ask for.
pub const MAX_DEPTH: usize = 12;
pub const MAX_COMPLEXITY: usize = 1_000;

/// Builds the schema; `services` is shared by every request.
pub fn schema(services: Arc<Services>) -> ConfideSchema {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .data(services)
        .extension(crate::telemetry::ResolverSpans)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .finish()
}

/// The schema in SDL, as committed in `schema/graphql/schema.graphql`.
pub fn sdl() -> String {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .finish()
        .sdl()
}

/// A GraphQL error with its `extensions.code` (DESIGN.md section 5). Internal failures are
/// logged with a reference and reach the caller only as that reference.
pub(crate) fn error(e: AppError) -> async_graphql::Error {
    match e {
        AppError::Domain(domain) => coded(domain.to_string(), domain.code()),
        AppError::Contention { .. } => coded(
            "the data changed while the request was decided; retry".to_owned(),
            "CONFLICT",
        ),
        other => {
            let reference = uuid::Uuid::now_v7();
            tracing::error!(%reference, error = %other, "request failed");
            coded(
                format!("internal error (reference {reference})"),
                "INTERNAL",
            )
        }
    }
}

pub(crate) fn coded(message: String, code: &'static str) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, ext| ext.set("code", code))
}

pub(crate) fn bad_input(e: DomainError) -> async_graphql::Error {
    coded(e.to_string(), e.code())
}

/// Records the caller's tenant on the current span, the request's: traces carry the tenant
/// and nothing else of who called.
pub(crate) fn record_tenant(principal: &Principal) {
    tracing::Span::current().record("confide.tenant", principal.tenant.as_str());
}

/// The authenticated caller of this request.
pub(crate) fn caller<'a>(ctx: &async_graphql::Context<'a>) -> async_graphql::Result<&'a Principal> {
    ctx.data_opt::<Principal>()
        .ok_or_else(|| coded("authentication required".to_owned(), "UNAUTHENTICATED"))
}

pub(crate) fn services<'a>(ctx: &async_graphql::Context<'a>) -> &'a Arc<Services> {
    ctx.data_unchecked::<Arc<Services>>()
}

/// The caller as a member of the organisation; client links are refused.
pub(crate) fn member<'a>(
    ctx: &async_graphql::Context<'a>,
) -> async_graphql::Result<(&'a Principal, &'a UserId)> {
    let principal = caller(ctx)?;
    match &principal.actor {
        Actor::User { user_id } => Ok((principal, user_id)),
        _ => Err(coded(
            "a client link cannot do this".to_owned(),
            "FORBIDDEN",
        )),
    }
}

/// Refuses a client link acting on another client's data.
pub(crate) fn own_client(principal: &Principal, client: ClientId) -> async_graphql::Result<()> {
    match principal.client() {
        Some(own) if own != client => Err(coded(
            "a client link reaches only its own client".to_owned(),
            "FORBIDDEN",
        )),
        _ => Ok(()),
    }
}

/// The stream of an aggregate (ids are UUIDs, so the name is always valid).
pub(crate) fn stream(
    kind: &str,
    id: impl std::fmt::Display,
) -> async_graphql::Result<confide_eventstore::StreamId> {
    confide_app::stream_of(kind, id).map_err(|e| error(AppError::Store(e)))
}

/// The caller as a member holding at least one role, with their organisation as it now
/// stands: what the organisation's own records (its members, consents, courses) are shown
/// to. A valid token of the tenant is not enough; an external assessor, for one, reaches only
/// what a grant gives them.
pub(crate) async fn organisation_member<'a>(
    ctx: &async_graphql::Context<'a>,
) -> async_graphql::Result<(&'a Principal, DomainTenant)> {
    let (principal, user_id) = member(ctx)?;
    let organisation = organisation(ctx).await?;
    if organisation
        .roles_of(user_id)
        .is_none_or(BTreeSet::is_empty)
    {
        return Err(coded(
            "only the organisation's members see this".to_owned(),
            "FORBIDDEN",
        ));
    }
    Ok((principal, organisation))
}

/// The roles the caller holds in their tenant now (from membership events, never the
/// token); none for a client link.
pub(crate) async fn roles(
    ctx: &async_graphql::Context<'_>,
) -> async_graphql::Result<BTreeSet<Role>> {
    let principal = caller(ctx)?;
    let Actor::User { user_id } = &principal.actor else {
        return Ok(BTreeSet::new());
    };
    Ok(organisation(ctx)
        .await?
        .roles_of(user_id)
        .cloned()
        .unwrap_or_default())
}

/// The caller's organisation: its policy and members.
async fn organisation(ctx: &async_graphql::Context<'_>) -> async_graphql::Result<DomainTenant> {
    let principal = caller(ctx)?;
    let tenant: Loaded<DomainTenant> = services(ctx)
        .app
        .load(&principal.tenant, &tenant_stream())
        .await
        .map_err(error)?;
    Ok(tenant.state)
}
