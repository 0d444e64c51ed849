//! A catch-up subscription across tenants: first everything already committed, then live
//! appends as they commit.
//!
//! It plans its reads from a snapshot of every tenant's log size. Everything below a tenant's
//! size is committed (an append moves the size in its own transaction, and a tenant's events
//! commit in sequence order), so the reads are known in advance: up to `read_ahead` of them
//! run at once, and their events are handed out in order. When the plan is exhausted it takes
//! a new snapshot; when that shows nothing new it waits for an append.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{EventStore, GlobalPosition, RecordedEvent, StoreError, TenantId};

type Read = JoinHandle<Result<Vec<RecordedEvent>, StoreError>>;

pub struct Subscription {
    store: Arc<dyn EventStore>,
    position: GlobalPosition,
    /// Where the planned reads end, per tenant.
    planned: GlobalPosition,
    pending: VecDeque<(TenantId, u64, usize)>,
    in_flight: VecDeque<Read>,
    buffer: VecDeque<RecordedEvent>,
    appended: watch::Receiver<u64>,
    batch_size: usize,
    read_ahead: usize,
    poll: Duration,
}

impl Subscription {
    /// Starts after `position`. Appends made by this process wake the subscription at once;
    /// those made by other processes are found within `poll`.
    pub fn new(store: Arc<dyn EventStore>, position: GlobalPosition, poll: Duration) -> Self {
        let appended = store.appended();
        Self {
            store,
            planned: position.clone(),
            position,
            pending: VecDeque::new(),
            in_flight: VecDeque::new(),
            buffer: VecDeque::new(),
            appended,
            batch_size: 1_000,
            read_ahead: 2,
            poll,
        }
    }

    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// How many reads may run at once (1: none ahead of the one being handed out).
    pub fn with_read_ahead(mut self, reads: usize) -> Self {
        self.read_ahead = reads.max(1);
        self
    }

    /// The position just after the last event returned by `next`.
    pub fn position(&self) -> &GlobalPosition {
        &self.position
    }

    /// The next event, waiting for one to be committed if the subscription has caught up.
    pub async fn next(&mut self) -> Result<RecordedEvent, StoreError> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                self.position.advance(&event);
                return Ok(event);
            }
            self.start_reads();
            if let Some(read) = self.in_flight.pop_front() {
                let events = read.await.map_err(StoreError::unexpected)??;
                self.buffer.extend(events);
                self.start_reads();
                continue;
            }
            // Mark the current append count as seen before planning, so an append that
            // commits after the snapshot still wakes the wait below.
            self.appended.borrow_and_update();
            if self.plan().await? {
                continue;
            }
            tokio::select! {
                changed = self.appended.changed() => {
                    if changed.is_err() {
                        tokio::time::sleep(self.poll).await;
                    }
                }
                _ = tokio::time::sleep(self.poll) => {}
            }
        }
    }

    /// Plans reads up to every tenant's current size; false if there is nothing new.
    async fn plan(&mut self) -> Result<bool, StoreError> {
        for (tenant, size) in self.store.tenant_sizes().await? {
            let mut from = self.planned.get(&tenant);
            while from < size {
                let count = (size - from).min(self.batch_size as u64);
                self.pending
                    .push_back((tenant.clone(), from, count as usize));
                from += count;
            }
            self.planned.set(tenant, from);
        }
        Ok(!self.pending.is_empty())
    }

    fn start_reads(&mut self) {
        while self.in_flight.len() < self.read_ahead {
            let Some((tenant, from, count)) = self.pending.pop_front() else {
                return;
            };
            let store = self.store.clone();
            self.in_flight.push_back(tokio::spawn(async move {
                let events = store.read_tenant(&tenant, from, count).await?;
                if events.len() != count {
                    return Err(StoreError::Integrity(format!(
                        "tenant {tenant} has {} of the {count} committed events from {from}",
                        events.len()
                    )));
                }
                Ok(events)
            }));
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        for read in &self.in_flight {
            read.abort();
        }
    }
}
