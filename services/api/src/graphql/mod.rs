//! The GraphQL schema (`docs/design.md` section 5). Resolvers are thin: take the caller from
//! the request, convert the arguments, call one use case of [`confide_app::App`], map the
//! answer. Every operation works in the caller's one tenant; what a caller may do or read is
//! the application's and the domain's to decide.

mod audit;
mod courses;
mod lists;
mod mutation;
mod notes;
mod notices;
mod outbox;
mod query;
mod receipts;
mod recordings;
mod requests;
mod types;

use std::sync::Arc;

use async_graphql::{EmptySubscription, MergedObject, Schema};
use confide_app::App;
use confide_domain::{DomainError, UserId};

use crate::auth::Authenticator;
use crate::error::Result;
use crate::links::SignedClientLinks;

/// Every read, by area.
#[derive(MergedObject, Default)]
pub struct Query(
    query::ConsentQuery,
    notes::NoteQuery,
    lists::ListQuery,
    courses::CourseQuery,
    requests::SubjectRequestQuery,
    audit::AuditQuery,
    receipts::ReceiptQuery,
    outbox::OutboxQuery,
);

/// Every write, by area.
#[derive(MergedObject, Default)]
pub struct Mutation(
    mutation::ConsentMutation,
    notices::NoticeMutation,
    notes::NoteMutation,
    recordings::RecordingMutation,
    courses::CourseMutation,
    requests::SubjectRequestMutation,
    audit::AuditMutation,
    outbox::OutboxMutation,
);

/// The schema type.
pub type ConfideSchema = Schema<Query, Mutation, EmptySubscription>;

/// Deepest selection accepted, and the most fields one request may ask for.
pub const MAX_DEPTH: usize = 12;
pub const MAX_COMPLEXITY: usize = 1_000;

/// Builds the schema over the application and the authenticator every request shares.
pub(crate) fn schema(app: Arc<App>, auth: Arc<Authenticator>, public_url: &str) -> ConfideSchema {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .data(app)
        .data(auth.clone())
        .data(SignedClientLinks::new(auth.clone(), public_url))
        .extension(crate::telemetry::ResolverSpans)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .finish()
}

/// A client's link as a resolver hands it out: the URL the client opens from an e-mail
/// (`{public URL}/link/{secret}`), the same secret as a bearer token for programs acting for
/// the client, and when both expire.
#[derive(async_graphql::SimpleObject)]
pub(crate) struct ClientLink {
    /// The page the client opens: it reads the form, gives or refuses consent, withdraws it,
    /// sees who accessed their recordings and makes requests, and nothing else.
    pub(crate) url: String,
    /// The link's secret as a bearer token, for a program acting for the client (the API
    /// grants it exactly what the page does).
    pub(crate) token: String,
    pub(crate) expires_at: chrono::DateTime<chrono::Utc>,
}

/// A fresh link for `client` of the caller's tenant.
pub(crate) fn client_link(
    ctx: &async_graphql::Context<'_>,
    tenant: &confide_domain::TenantId,
    client: confide_domain::ClientId,
) -> Result<ClientLink> {
    let link = ctx
        .data_unchecked::<SignedClientLinks>()
        .issue(tenant, client, chrono::Utc::now())
        .map_err(|e| crate::error::ApiError::internal(&e))?;
    Ok(ClientLink {
        url: link.url,
        token: link.token,
        expires_at: link.expires_at,
    })
}

/// The schema in SDL, as committed in `schema/graphql/schema.graphql`.
pub fn sdl() -> String {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .finish()
        .sdl()
}

/// A user id from an argument.
pub(crate) fn user(id: &str) -> Result<UserId> {
    Ok(UserId::parse(id)?)
}

/// A typed id from an argument.
pub(crate) fn id<T>(
    uuid: uuid::Uuid,
    parse: fn(uuid::Uuid) -> std::result::Result<T, DomainError>,
) -> Result<T> {
    Ok(parse(uuid)?)
}
