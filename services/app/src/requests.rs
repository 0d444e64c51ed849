//! Clients' rights requests (access, copy, erasure, portability), their deadlines, and their
//! decisions carried out in the same append: a granted erasure shreds the client's details
//! and schedules their recordings' destruction, a granted copy grants the client their own.

use chrono::{DateTime, Utc};
use confide_domain::aggregates::client::{Client, ClientCommand};
use confide_domain::aggregates::consent::Consent;
use confide_domain::aggregates::grant::{Grant, GrantCommand, Grantee};
use confide_domain::aggregates::recording::{DestructionReason, Recording, RecordingCommand};
use confide_domain::aggregates::subject_request::{
    SubjectRequest, SubjectRequestCommand, SubjectRequestKind, SubjectRequestOutcome,
};
use confide_domain::{Aggregate, ClientId, DomainError, GrantId, Purpose, SubjectRequestId, reads};
use confide_eventstore::StreamId;
use uuid::Uuid;

use crate::consents::client_key;
use crate::work::Work;
use crate::{App, AppError, Caller, Subject, stream};

/// How long a granted copy lets the client play their recordings (never past the consent).
const COPY_DAYS: i64 = 30;

impl App {
    /// Opens a request: the client through their link, or a practitioner or org_admin who
    /// received it by letter, email or phone. Its deadline follows the tenant's jurisdiction.
    pub async fn open_subject_request(
        &self,
        caller: &Caller,
        client_id: ClientId,
        kind: SubjectRequestKind,
        received_at: Option<DateTime<Utc>>,
    ) -> Result<SubjectRequest, AppError> {
        reads::own_client(&caller.actor, client_id)?;
        let id = SubjectRequestId::from_uuid(Uuid::now_v7())?;
        self.transact(&caller.tenant, &caller.actor, move |work| {
            Box::pin(async move {
                let client: Client = work.load(&stream(client_id)).await?;
                let target = stream(id);
                let request: SubjectRequest = work.load(&target).await?;
                let received_at = received_at.unwrap_or_else(|| work.now());
                work.decide(
                    &target,
                    &request,
                    SubjectRequestCommand::OpenSubjectRequest {
                        client: Box::new(client),
                        kind,
                        received_at,
                    },
                    &[id.as_uuid()],
                )
            })
        })
        .await?;
        self.subject_request(caller, id).await
    }

    /// Extends the deadline once, where the jurisdiction allows it, with the reason the client
    /// will be told.
    pub async fn extend_subject_request_deadline(
        &self,
        caller: &Caller,
        id: SubjectRequestId,
        reason: String,
    ) -> Result<SubjectRequest, AppError> {
        self.execute::<SubjectRequest>(
            &caller.tenant,
            &caller.actor,
            &stream(id),
            SubjectRequestCommand::ExtendSubjectRequestDeadline { reason },
            &[],
        )
        .await?;
        self.subject_request(caller, id).await
    }

    /// Decides a request and does what the decision promises in the same append: granting an
    /// erasure erases the client (their key destroyed first, so every sealed detail in the
    /// log becomes unreadable) and schedules each of their recordings for destruction now;
    /// granting a copy grants the client their own copy of each recording that consent
    /// allows. The key is destroyed only for a caller the decision allows.
    pub async fn decide_subject_request(
        &self,
        caller: &Caller,
        id: SubjectRequestId,
        outcome: SubjectRequestOutcome,
        reason: Option<String>,
    ) -> Result<SubjectRequest, AppError> {
        let (tenant, actor) = (&caller.tenant, &caller.actor);
        let command = SubjectRequestCommand::DecideSubjectRequest {
            outcome,
            reason: reason.clone(),
        };
        let mut check = self.reader(tenant, actor, &[]).await?;
        let request: SubjectRequest = check.load(&stream(id)).await?;
        let erasure = request.kind() == Some(SubjectRequestKind::Erasure)
            && outcome == SubjectRequestOutcome::Granted;
        if let (true, Some(client_id)) = (erasure, request.client_id()) {
            // Decided once before the key is destroyed: a caller who may not decide must not
            // be able to shred the client's details.
            request.decide(command.clone(), &check.ctx())?;
            drop(check);
            self.keys.destroy(tenant, &client_key(client_id)).await?;
        }
        self.transact(tenant, actor, move |work| {
            let command = command.clone();
            Box::pin(async move {
                let target = stream(id);
                let request: SubjectRequest = work.load(&target).await?;
                work.decide(&target, &request, command, &[])?;
                let Some(client_id) = request.client_id() else {
                    return Ok(());
                };
                match request.kind() {
                    Some(SubjectRequestKind::Erasure)
                        if outcome == SubjectRequestOutcome::Granted =>
                    {
                        erase(work, id, client_id).await
                    }
                    Some(SubjectRequestKind::Copy) if outcome != SubjectRequestOutcome::Refused => {
                        grant_client_copies(work, client_id).await
                    }
                    _ => Ok(()),
                }
            })
        })
        .await?;
        self.subject_request(caller, id).await
    }

    /// One request as it now stands.
    async fn subject_request(
        &self,
        caller: &Caller,
        id: SubjectRequestId,
    ) -> Result<SubjectRequest, AppError> {
        let request = self
            .load::<SubjectRequest>(&caller.tenant, &stream(id))
            .await?
            .state;
        request
            .id()
            .ok_or_else(|| DomainError::not_found("subject request"))?;
        Ok(request)
    }

    /// Subject requests, oldest first: a client link sees its own client's; an org_admin or
    /// practitioner sees the organisation's, or one client's when `client` is given.
    pub async fn subject_requests(
        &self,
        caller: &Caller,
        client: Option<ClientId>,
    ) -> Result<Vec<SubjectRequest>, AppError> {
        let organisation = self.organisation(&caller.tenant).await?;
        let client = reads::subject_requests(&organisation, &caller.actor, client)?;
        Ok(self
            .all_subject_requests(&caller.tenant)
            .await?
            .into_iter()
            .filter(|r| client.is_none() || r.client_id() == client)
            .collect())
    }

    /// Subject requests past their deadline and not yet decided.
    pub async fn overdue_subject_requests(
        &self,
        tenant: &confide_domain::TenantId,
    ) -> Result<Vec<SubjectRequest>, AppError> {
        let now = self.clock.now();
        Ok(self
            .all_subject_requests(tenant)
            .await?
            .into_iter()
            .filter(|r| r.is_overdue(now))
            .collect())
    }

    async fn all_subject_requests(
        &self,
        tenant: &confide_domain::TenantId,
    ) -> Result<Vec<SubjectRequest>, AppError> {
        Ok(self
            .linked::<SubjectRequest>(tenant, &Subject::SubjectRequests, "subject_request")
            .await?
            .into_iter()
            .map(|(_, r)| r)
            .collect())
    }
}

/// Erases the client and schedules each of their recordings for destruction now.
async fn erase(
    work: &mut Work<'_>,
    request_id: SubjectRequestId,
    client_id: ClientId,
) -> Result<(), AppError> {
    let client_stream = stream(client_id);
    let client: Client = work.load(&client_stream).await?;
    work.decide(
        &client_stream,
        &client,
        ClientCommand::EraseClient {
            subject_request_id: Some(request_id),
        },
        &[],
    )?;
    let recordings: Vec<(StreamId, Recording)> = work
        .linked(&Subject::Client(client_id.to_string()), "recording")
        .await?;
    for (recording_stream, recording) in recordings {
        let scheduled = recording.decide(
            RecordingCommand::ScheduleDestruction {
                due: work.now(),
                reason: DestructionReason::ErasureRequest {
                    subject_request_id: request_id,
                },
            },
            &work.ctx(),
        );
        match scheduled {
            Ok(events) => work.write(&recording_stream, &events)?,
            // Already destroyed, or already due no later than now: nothing to add.
            Err(DomainError::Conflict { .. }) => {}
            Err(other) => return Err(other.into()),
        }
    }
    Ok(())
}

/// Grants the client their own copy of each of their recordings whose consent covers
/// `client_copy`, for [`COPY_DAYS`] (never past the consent), conditioned on the recording
/// and consent it was decided from.
async fn grant_client_copies(work: &mut Work<'_>, client_id: ClientId) -> Result<(), AppError> {
    let recordings: Vec<(StreamId, Recording)> = work
        .linked(&Subject::Client(client_id.to_string()), "recording")
        .await?;
    let now = work.now();
    let copy_until = now + chrono::TimeDelta::days(COPY_DAYS);
    for (_, recording) in recordings {
        let Some(core) = recording.core() else {
            continue;
        };
        let consent: Consent = work.load(&stream(core.consent_id)).await?;
        let expires_at = consent
            .expires_at()
            .map_or(copy_until, |end| end.min(copy_until));
        let grant_id = GrantId::from_uuid(Uuid::now_v7())?;
        let new_ids = [grant_id.as_uuid()];
        let granted = Grant::default().decide(
            GrantCommand::GrantAccess {
                recording: Box::new(recording.clone()),
                consent: Box::new(consent),
                grantee: Grantee::Client { client_id },
                purpose: Purpose::ClientCopy,
                expires_at,
            },
            &work.ctx().with_new_ids(&new_ids),
        );
        match granted {
            Ok(events) => work.write(&stream(grant_id), &events)?,
            // This recording's consent does not cover a copy for the client.
            Err(DomainError::ConsentRequired { .. }) => {}
            Err(other) => return Err(other.into()),
        }
    }
    Ok(())
}
