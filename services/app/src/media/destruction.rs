//! What the application does with a recording's bytes: recording an upload once its
//! ciphertext is stored, and destroying a recording by crypto-shredding.
//!
//! Destruction takes three steps that cannot share a transaction: the data key is destroyed,
//! the ciphertext object is deleted, and `RecordingDestroyed` is appended. So the intent is
//! made durable first, as a `RecordingDestructionScheduled` event naming who asked and why;
//! [`App::carry_out_destructions`] then carries out every destruction that is due, and a
//! crash anywhere between the steps leaves the schedule in place for the next run (at
//! start-up and periodically) to finish. Each step is idempotent: a destroyed key destroys as
//! nothing, a deleted object deletes as nothing.

use confide_domain::aggregates::consent::Consent;
use confide_domain::aggregates::recording::{
    DestructionReason, Recording, RecordingCommand, RecordingEvent, StoredMedia,
};
use confide_domain::{Actor, Aggregate, Ctx, DomainError, KeyId, RecordingId, SystemJob};
use confide_eventstore::{AppendRequest, ExpectedVersion, StreamId, TenantId};
use confide_vault::{BlobKey, BlobStore, KeyStore};

use crate::{App, AppError, Loaded, MAX_ATTEMPTS, new_events, stream_of};

/// Where a recording's bytes live: its data keys and its ciphertext objects.
#[derive(Clone, Copy)]
pub struct Vault<'a> {
    pub keys: &'a dyn KeyStore,
    pub blobs: &'a dyn BlobStore,
}

/// The id of the key a recording's media is encrypted under.
pub fn media_key_id(recording: RecordingId) -> Result<KeyId, DomainError> {
    KeyId::parse(&format!("media-{recording}"))
}

impl App {
    /// Records that a recording's media is stored, as probed and encrypted: decided against the
    /// recording and its consent as they now stand, and conditioned on the consent, so a
    /// withdrawal committed during the upload refuses it.
    pub async fn store_media(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        recording_id: RecordingId,
        media: StoredMedia,
    ) -> Result<RecordingEvent, AppError> {
        let stream = stream_of("recording", recording_id)?;
        for _ in 0..MAX_ATTEMPTS {
            let (organisation, recording) =
                self.load_with_tenant::<Recording>(tenant, &stream).await?;
            let core = recording
                .state
                .core()
                .ok_or_else(|| DomainError::not_found("recording"))?;
            let consent_stream = stream_of("consent", core.consent_id)?;
            let consent: Loaded<Consent> = self.load(tenant, &consent_stream).await?;
            let now = self.clock.now();
            let ctx = Ctx::new(tenant.clone(), &organisation.state, actor.clone(), now);
            let decided = recording.state.decide(
                RecordingCommand::StoreMedia {
                    media: media.clone(),
                    consent: Box::new(consent.state),
                },
                &ctx,
            )?;
            let Some(stored) = decided.first().cloned() else {
                return Err(DomainError::conflict("storing the media recorded nothing").into());
            };
            let request = AppendRequest::new(now)
                .write(
                    stream.clone(),
                    ExpectedVersion::Exact(recording.version),
                    new_events(&decided, actor)?,
                )
                .condition(consent_stream, ExpectedVersion::Exact(consent.version));
            if self.commit(tenant, request, &organisation).await? {
                return Ok(stored);
            }
        }
        Err(AppError::Contention { stream })
    }

    /// Destroys a recording now at `actor`'s request: the request is recorded (who and why)
    /// before anything is shredded, then carried out. A caller who may not destroy the
    /// recording is refused before anything happens.
    pub async fn destroy_recording(
        &self,
        vault: Vault<'_>,
        tenant: &TenantId,
        actor: &Actor,
        recording_id: RecordingId,
        reason: DestructionReason,
    ) -> Result<Recording, AppError> {
        let stream = stream_of("recording", recording_id)?;
        let recording: Loaded<Recording> = self.load(tenant, &stream).await?;
        // Decided as the caller before the schedule: the schedule alone must not let a caller
        // who may not destroy the recording have it destroyed.
        self.check(
            tenant,
            actor,
            &recording.state,
            RecordingCommand::DestroyRecording {
                reason,
                destroyed_key_id: recording.state.media().map(|m| m.data_key_id.clone()),
                object_sha256s: Vec::new(),
            },
        )
        .await?;
        let now = self.clock.now();
        let already_due = recording
            .state
            .scheduled_destruction()
            .is_some_and(|(due, _)| due <= now);
        if !already_due {
            self.execute::<Recording>(
                tenant,
                actor,
                &stream,
                RecordingCommand::ScheduleDestruction { due: now, reason },
                &[],
            )
            .await?;
        }
        self.carry_out(vault, tenant, actor, &stream).await?;
        Ok(self.load::<Recording>(tenant, &stream).await?.state)
    }

    /// Carries out every destruction of `tenant` that is scheduled and due, including any a
    /// crash left half done. Returns the recordings destroyed.
    pub async fn carry_out_destructions(
        &self,
        vault: Vault<'_>,
        tenant: &TenantId,
    ) -> Result<Vec<RecordingId>, AppError> {
        let job = Actor::system(SystemJob::Retention);
        let now = self.clock.now();
        let mut destroyed = Vec::new();
        for row in self.read.due_before(tenant, now).await? {
            if row.scheduled_for.is_none_or(|at| at > now) {
                continue;
            }
            let stream = stream_of("recording", &row.recording_id)?;
            if let Some(id) = self.carry_out(vault, tenant, &job, &stream).await? {
                destroyed.push(id);
            }
        }
        Ok(destroyed)
    }

    /// The retention job and the destructions it leads to, for every tenant: what is due is
    /// scheduled, and what is scheduled and due is destroyed. Returns how many recordings were
    /// destroyed. A tenant that fails is reported and the others still run.
    pub async fn run_destruction_jobs(&self, vault: Vault<'_>) -> Result<usize, AppError> {
        let mut destroyed = 0;
        let mut first_error = None;
        for (tenant, _) in self.store.tenant_sizes().await? {
            let outcome = async {
                self.run_retention(&tenant).await?;
                self.carry_out_destructions(vault, &tenant).await
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

    /// Destroys a recording whose destruction is scheduled and due: key, then object, then
    /// the record. `None` if there is nothing (left) to do.
    async fn carry_out(
        &self,
        vault: Vault<'_>,
        tenant: &TenantId,
        actor: &Actor,
        stream: &StreamId,
    ) -> Result<Option<RecordingId>, AppError> {
        let recording: Loaded<Recording> = self.load(tenant, stream).await?;
        let (Some(core), Some((due, reason))) = (
            recording.state.core(),
            recording.state.scheduled_destruction(),
        ) else {
            return Ok(None);
        };
        if recording.state.destroyed_at().is_some() || due > self.clock.now() {
            return Ok(None);
        }
        let recording_id = core.id;
        let media = recording.state.media().cloned();
        // The recording's key, whether or not its media arrived: an upload refused before
        // the recording was destroyed may have made it.
        let key = match &media {
            Some(media) => media.data_key_id.clone(),
            None => media_key_id(recording_id)?,
        };
        vault
            .keys
            .destroy(tenant, &key)
            .await
            .map_err(|e| AppError::Vault {
                step: "destroying the data key",
                reason: e.to_string(),
            })?;
        if let Some(media) = &media {
            // Media recorded before objects were named has none to delete.
            if !media.object_key.is_empty() {
                let deleted = match BlobKey::parse(&media.object_key) {
                    Ok(object) => vault.blobs.delete(&object).await,
                    Err(error) => Err(error),
                };
                deleted.map_err(|e| AppError::Vault {
                    step: "deleting the ciphertext",
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
            .execute::<Recording>(tenant, actor, stream, command, &[])
            .await
        {
            Ok(_) => Ok(Some(recording_id)),
            // Another run finished it first.
            Err(AppError::Domain(DomainError::Conflict { .. }))
                if self
                    .load::<Recording>(tenant, stream)
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
