//! Destroying a recording by crypto-shredding.
//!
//! Destruction takes three steps that cannot share a transaction: the data key is destroyed,
//! the ciphertext object is deleted, and `RecordingDestroyed` is appended. So the intent is
//! made durable first, as a `RecordingDestructionScheduled` event naming who asked and why;
//! [`App::carry_out_destructions`] then carries out every destruction that is due, and a
//! crash anywhere between the steps leaves the schedule in place for the next run (at
//! start-up and periodically) to finish. Each step is idempotent: a destroyed key destroys as
//! nothing, a deleted object deletes as nothing.

use confide_domain::aggregates::recording::{DestructionReason, Recording, RecordingCommand};
use confide_domain::{Actor, Aggregate, DomainError, RecordingId, SystemJob, TenantId, reads};
use confide_eventstore::StreamId;
use confide_vault::BlobKey;

use super::media_key_id;
use crate::{App, AppError, Caller, stream};

/// The lease under which a node runs a tenant's retention and destructions (`job_leases`).
pub const DESTRUCTION_JOB: &str = "destruction";

/// How long a node's lease on a tenant's background job lasts unless renewed: longer than
/// one run takes, so a live node keeps it; the time another node waits to take over from one
/// that died.
pub const JOB_LEASE: std::time::Duration = std::time::Duration::from_secs(120);

impl App {
    /// Destroys a recording now at the caller's request (its practitioner or an org_admin):
    /// the request is recorded (who and why) before anything is shredded, then carried out.
    /// A caller who may not destroy the recording is refused before anything happens.
    pub async fn destroy_recording(
        &self,
        caller: &Caller,
        recording_id: RecordingId,
    ) -> Result<Recording, AppError> {
        reads::member(&caller.actor)?;
        let reason = DestructionReason::Manual;
        let (tenant, actor) = (&caller.tenant, &caller.actor);
        let target = stream(recording_id);
        let recording = self.existing_recording(tenant, recording_id).await?;
        // Decided as the caller before the schedule: the schedule alone must not let a caller
        // who may not destroy the recording have it destroyed.
        let check = self.reader(tenant, actor, &[]).await?;
        recording.decide(
            RecordingCommand::DestroyRecording {
                reason,
                destroyed_key_id: recording.media().map(|m| m.data_key_id.clone()),
                object_sha256s: Vec::new(),
            },
            &check.ctx(),
        )?;
        drop(check);
        let now = self.clock.now();
        let already_due = recording
            .scheduled_destruction()
            .is_some_and(|(due, _)| due <= now);
        if !already_due {
            self.execute::<Recording>(
                tenant,
                actor,
                &target,
                RecordingCommand::ScheduleDestruction { due: now, reason },
                &[],
            )
            .await?;
        }
        self.carry_out(tenant, actor, &target).await?;
        Ok(self.load::<Recording>(tenant, &target).await?.state)
    }

    /// Carries out every destruction of `tenant` that is scheduled and due, including any a
    /// crash left half done. Returns the recordings destroyed.
    pub async fn carry_out_destructions(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<RecordingId>, AppError> {
        let job = Actor::system(SystemJob::Retention);
        let now = self.clock.now();
        let mut destroyed = Vec::new();
        for row in self.read.due_before(tenant, now).await? {
            if row.scheduled_for.is_none_or(|at| at > now) {
                continue;
            }
            let recording_id = RecordingId::parse(&row.recording_id)?;
            if let Some(id) = self.carry_out(tenant, &job, &stream(recording_id)).await? {
                destroyed.push(id);
            }
        }
        Ok(destroyed)
    }

    /// The retention job and the destructions it leads to, for every tenant whose
    /// [`DESTRUCTION_JOB`] lease this node holds or can take: what is due is scheduled, and
    /// what is scheduled and due is destroyed. A tenant whose lease another node holds is that
    /// node's to do and is skipped. Returns how many recordings were destroyed. A tenant that
    /// fails is reported and the others still run.
    ///
    /// With several nodes on one database each tenant's job runs on one node at a time; a
    /// node that dies mid-job leaves its lease to expire within [`JOB_LEASE`], after which the
    /// next node's run takes it over and finishes what was half done (each step is safe to
    /// repeat, and each effect is appended at the stream version it was decided at, so even
    /// two runs at once record each scheduling and each destruction once).
    pub async fn run_destruction_jobs(&self) -> Result<usize, AppError> {
        let mut destroyed = 0;
        let mut first_error = None;
        for (tenant, _) in self.store.tenant_sizes().await? {
            let outcome = async {
                if !self.hold_lease(&tenant).await? {
                    return Ok(Vec::new());
                }
                self.run_retention(&tenant).await?;
                // Renewed between the two halves: each may take a while.
                if !self.hold_lease(&tenant).await? {
                    return Ok(Vec::new());
                }
                let done = self.carry_out_destructions(&tenant).await;
                self.read
                    .release_lease(&tenant, DESTRUCTION_JOB, &self.node)
                    .await?;
                done
            }
            .await;
            match outcome {
                Ok(ids) => destroyed += ids.len(),
                Err(error) => {
                    tracing::warn!(tenant_id = %tenant, %error, "a tenant's destructions failed");
                    first_error.get_or_insert(error);
                }
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(destroyed),
        }
    }

    /// Takes or renews this node's [`DESTRUCTION_JOB`] lease on `tenant`; whether it holds it.
    async fn hold_lease(&self, tenant: &TenantId) -> Result<bool, AppError> {
        Ok(self
            .read
            .take_lease(tenant, DESTRUCTION_JOB, &self.node, JOB_LEASE)
            .await?)
    }

    /// Destroys a recording whose destruction is scheduled and due: key, then object, then
    /// the record. `None` if there is nothing (left) to do.
    async fn carry_out(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        target: &StreamId,
    ) -> Result<Option<RecordingId>, AppError> {
        let recording: Recording = self.load(tenant, target).await?.state;
        let (Some(core), Some((due, reason))) =
            (recording.core(), recording.scheduled_destruction())
        else {
            return Ok(None);
        };
        if recording.destroyed_at().is_some() || due > self.clock.now() {
            return Ok(None);
        }
        let recording_id = core.id;
        let media = recording.media().cloned();
        // The recording's key, whether or not its media arrived: an upload refused before
        // the recording was destroyed may have made it.
        let key = match &media {
            Some(media) => media.data_key_id.clone(),
            None => media_key_id(recording_id),
        };
        self.keys
            .destroy(tenant, &key)
            .await
            .map_err(|e| AppError::Vault {
                step: "destroying the data key",
                retryable: e.is_retryable(),
                reason: e.to_string(),
            })?;
        if let Some(media) = &media {
            // Media recorded before objects were named has none to delete.
            if !media.object_key.is_empty() {
                let deleted = match BlobKey::parse(&media.object_key) {
                    Ok(object) => self.blobs.delete(&object).await,
                    Err(error) => Err(error),
                };
                deleted.map_err(|e| AppError::Vault {
                    step: "deleting the ciphertext",
                    retryable: e.is_retryable(),
                    reason: e.to_string(),
                })?;
            }
        }
        let command = RecordingCommand::DestroyRecording {
            reason,
            destroyed_key_id: media.as_ref().map(|m| m.data_key_id.clone()),
            object_sha256s: media.iter().map(|m| m.sha256).collect(),
        };
        match self
            .execute::<Recording>(tenant, actor, target, command, &[])
            .await
        {
            Ok(_) => Ok(Some(recording_id)),
            // Another run finished it first.
            Err(AppError::Domain(DomainError::Conflict { .. }))
                if self
                    .load::<Recording>(tenant, target)
                    .await?
                    .state
                    .destroyed_at()
                    .is_some() =>
            {
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }
}
