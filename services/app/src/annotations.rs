//! Notes on a recording's timeline: the practitioner's bookmarks and a tutor's comments
//! (`docs/design.md` section 1). Each is an event whose text is sealed under the recording's
//! own data key, so destroying the recording (or erasing the client) leaves them unreadable
//! with the media. They are read back by the recording's practitioner and by whoever may play
//! the recording, as its consent allows.

use chrono::{DateTime, Utc};
use confide_domain::aggregates::recording::{
    Annotation, Recording, RecordingCommand, RecordingEvent,
};
use confide_domain::{DomainError, Medium, Offset, Purpose, RecordingId, Sealed, UserId, reads};
use confide_vault::KeyError;

use crate::recordings::access_facts;
use crate::{App, AppError, Caller, stream};

/// The longest bookmark label, in characters.
pub const MAX_LABEL_CHARS: usize = 200;
/// The longest comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 4_000;

/// A bookmark or a comment, opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub offset: Offset,
    pub text: String,
    pub by: UserId,
    pub at: DateTime<Utc>,
}

/// A recording's bookmarks and comments, in the order they were made.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Notes {
    pub bookmarks: Vec<Note>,
    pub comments: Vec<Note>,
}

impl App {
    /// The practitioner marks a moment of a stored recording. Returns when it was recorded.
    pub async fn add_bookmark(
        &self,
        caller: &Caller,
        recording_id: RecordingId,
        offset: Offset,
        label: &str,
    ) -> Result<DateTime<Utc>, AppError> {
        reads::member(&caller.actor)?;
        let label = confide_domain::text("label", label, MAX_LABEL_CHARS)?;
        let recording = self
            .existing_recording(&caller.tenant, recording_id)
            .await?;
        let label = self.seal_note(caller, &recording, label).await?;
        let events = self
            .execute::<Recording>(
                &caller.tenant,
                &caller.actor,
                &stream(recording_id),
                RecordingCommand::AddBookmark { offset, label },
                &[],
            )
            .await?;
        match events.first() {
            Some(RecordingEvent::BookmarkAdded { at, .. }) => Ok(*at),
            _ => Err(DomainError::conflict("no bookmark was recorded").into()),
        }
    }

    /// A tutor comments at a moment of a stored recording they may play for `purpose`.
    /// Returns when it was recorded.
    pub async fn add_comment(
        &self,
        caller: &Caller,
        recording_id: RecordingId,
        purpose: Purpose,
        offset: Offset,
        body: &str,
    ) -> Result<DateTime<Utc>, AppError> {
        reads::member(&caller.actor)?;
        let body = confide_domain::text_block("comment", body, MAX_COMMENT_CHARS)?;
        let recording = self
            .existing_recording(&caller.tenant, recording_id)
            .await?;
        let body = self.seal_note(caller, &recording, body).await?;
        let events = self
            .transact(&caller.tenant, &caller.actor, move |work| {
                let body = body.clone();
                Box::pin(async move {
                    let target = stream(recording_id);
                    let recording: Recording = work.load(&target).await?;
                    let facts = access_facts(work, &recording).await?;
                    let command = RecordingCommand::AddComment {
                        offset,
                        body,
                        purpose,
                        facts: Box::new(facts),
                    };
                    work.decide(&target, &recording, command, &[])
                })
            })
            .await?;
        match events.first() {
            Some(RecordingEvent::CommentAdded { at, .. }) => Ok(*at),
            _ => Err(DomainError::conflict("no comment was recorded").into()),
        }
    }

    /// A recording's bookmarks and comments, opened, for its practitioner or someone who may
    /// play it for `purpose` now. Empty once the recording is destroyed: the key that sealed
    /// them is gone.
    pub async fn notes(
        &self,
        caller: &Caller,
        recording_id: RecordingId,
        purpose: Purpose,
    ) -> Result<Notes, AppError> {
        let (view, _) = self
            .access_now(caller, recording_id, purpose, Medium::Audio)
            .await?;
        reads::recording_notes(&view.recording, &caller.actor, &view.access)?;
        Ok(Notes {
            bookmarks: self.open_notes(caller, view.recording.bookmarks()).await?,
            comments: self.open_notes(caller, view.recording.comments()).await?,
        })
    }

    async fn seal_note(
        &self,
        caller: &Caller,
        recording: &Recording,
        text: &str,
    ) -> Result<Sealed, AppError> {
        let key = recording
            .media()
            .map(|m| m.data_key_id.clone())
            .ok_or_else(|| DomainError::conflict("notes mark stored media; upload it first"))?;
        let sealed = self
            .keys
            .seal(&caller.tenant, &key, text.as_bytes())
            .await?;
        Ok(Sealed::new(key, sealed)?)
    }

    async fn open_notes(
        &self,
        caller: &Caller,
        annotations: &[Annotation],
    ) -> Result<Vec<Note>, AppError> {
        let mut notes = Vec::with_capacity(annotations.len());
        for annotation in annotations {
            let sealed = &annotation.text;
            let text = match self
                .keys
                .open(&caller.tenant, sealed.key_id(), sealed.ciphertext())
                .await
            {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(KeyError::Destroyed { .. }) => continue,
                Err(other) => return Err(other.into()),
            };
            notes.push(Note {
                offset: annotation.offset,
                text,
                by: annotation.by.clone(),
                at: annotation.at,
            });
        }
        Ok(notes)
    }
}
