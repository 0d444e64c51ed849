//! Projections: inline ones run inside the append's transaction (so a read model never lags
//! the log), asynchronous ones follow the log with their position written in the same
//! transaction as their rows (so a crash never applies an event twice or skips one).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::{Database, Transaction};
use tokio::sync::watch;

use crate::metrics;
use crate::{EventStore, GlobalPosition, RecordedEvent, StoreError};

/// Code that writes read-model tables inside the append's own transaction. If it fails, the
/// append fails and nothing is written.
#[async_trait]
pub trait InlineProjection<DB: Database>: Send + Sync {
    fn name(&self) -> &'static str;

    async fn apply(
        &self,
        conn: &mut DB::Connection,
        events: &[RecordedEvent],
    ) -> Result<(), StoreError>;
}

/// A read model that follows the log of every tenant, in each tenant's sequence order.
#[async_trait]
pub trait AsyncProjection<DB: Database>: Send + Sync {
    /// Also the name of its durable position.
    fn name(&self) -> &'static str;

    async fn apply(
        &self,
        conn: &mut DB::Connection,
        event: &RecordedEvent,
    ) -> Result<(), StoreError>;

    /// Deletes everything the projection wrote, before a rebuild from the start of the log.
    async fn reset(&self, conn: &mut DB::Connection) -> Result<(), StoreError>;
}

/// What a backend offers projection runners: a transaction that may read every tenant and in
/// which positions are read and written together with the projection's rows.
#[async_trait]
pub trait ProjectionHost: EventStore {
    type Db: Database;

    /// Begins a transaction that sees every tenant and holds `consumer`'s lock, so that two
    /// runners of one projection (on two nodes) never apply the same batch.
    async fn begin_projection(
        &self,
        consumer: &str,
    ) -> Result<Transaction<'static, Self::Db>, StoreError>;

    async fn load_position_in(
        &self,
        conn: &mut <Self::Db as Database>::Connection,
        consumer: &str,
    ) -> Result<GlobalPosition, StoreError>;

    async fn read_all_in(
        &self,
        conn: &mut <Self::Db as Database>::Connection,
        position: &GlobalPosition,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    async fn save_position_in(
        &self,
        conn: &mut <Self::Db as Database>::Connection,
        consumer: &str,
        position: &GlobalPosition,
    ) -> Result<(), StoreError>;

    async fn clear_position_in(
        &self,
        conn: &mut <Self::Db as Database>::Connection,
        consumer: &str,
    ) -> Result<(), StoreError>;
}

/// The span of one inline projection applying an append's events.
pub(crate) fn inline_span(projection: &'static str, events: usize) -> tracing::Span {
    tracing::info_span!(
        "eventstore.project",
        confide.projection = projection,
        events
    )
}

/// Drives one asynchronous projection.
pub struct ProjectionRunner<H: ProjectionHost> {
    host: Arc<H>,
    projection: Arc<dyn AsyncProjection<H::Db>>,
    batch_size: usize,
}

impl<H: ProjectionHost> ProjectionRunner<H> {
    pub fn new(host: Arc<H>, projection: Arc<dyn AsyncProjection<H::Db>>) -> Self {
        Self {
            host,
            projection,
            batch_size: 1_000,
        }
    }

    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// Applies the next batch of events and moves the position past them, in one
    /// transaction. Returns how many events were applied (0: caught up).
    #[tracing::instrument(
        name = "eventstore.projection.run_once",
        skip_all,
        fields(confide.projection = self.projection.name(), events = tracing::field::Empty)
    )]
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let name = self.projection.name();
        let mut tx = self.host.begin_projection(name).await?;
        let mut position = self.host.load_position_in(&mut tx, name).await?;
        let events = self
            .host
            .read_all_in(&mut tx, &position, self.batch_size)
            .await?;
        if events.is_empty() {
            tx.rollback().await?;
            metrics::projection_lag(name, None);
            return Ok(0);
        }
        for event in &events {
            self.projection.apply(&mut tx, event).await?;
            position.advance(event);
        }
        self.host.save_position_in(&mut tx, name, &position).await?;
        tx.commit().await?;
        tracing::Span::current().record("events", events.len());
        metrics::projection_lag(name, events.last().map(|event| event.recorded_at));
        Ok(events.len())
    }

    /// Runs batches until the projection has seen everything committed so far.
    pub async fn catch_up(&self) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            match self.run_once().await? {
                0 => return Ok(total),
                n => total += n,
            }
        }
    }

    /// Deletes the projection's rows and position in one transaction, then replays the log.
    pub async fn rebuild(&self) -> Result<usize, StoreError> {
        let name = self.projection.name();
        let mut tx = self.host.begin_projection(name).await?;
        self.projection.reset(&mut tx).await?;
        self.host.clear_position_in(&mut tx, name).await?;
        tx.commit().await?;
        self.catch_up().await
    }

    /// Follows the log until `shutdown` turns true: wakes on appends made by this process and
    /// polls every `poll` for appends made by other processes.
    pub async fn run(
        &self,
        poll: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), StoreError> {
        let mut appended = self.host.appended();
        while !*shutdown.borrow() {
            if self.catch_up().await? > 0 {
                continue;
            }
            tokio::select! {
                _ = appended.changed() => {}
                _ = shutdown.changed() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
        Ok(())
    }
}
