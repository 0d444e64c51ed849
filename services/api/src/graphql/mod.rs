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
pub(crate) fn schema(app: Arc<App>, auth: Arc<Authenticator>) -> ConfideSchema {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .data(app)
        .data(auth)
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
