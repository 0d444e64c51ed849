//! Notes on a recording's timeline: a tutor's comments, and the practitioner's bookmarks and
//! the comments read back (by the practitioner and whoever may play the recording).

use async_graphql::{Context, Object, SimpleObject};
use chrono::{DateTime, Utc};
use confide_domain::{Offset, RecordingId};
use uuid::Uuid;

use super::id;
use super::types::Purpose;
use crate::caller::{app, caller};
use crate::error::Result;

#[derive(Default)]
pub(super) struct NoteMutation;

#[derive(Default)]
pub(super) struct NoteQuery;

/// A bookmark or a comment at a moment of a recording.
#[derive(SimpleObject)]
struct Note {
    offset_ms: u64,
    text: String,
    /// Who made it.
    by: String,
    at: DateTime<Utc>,
}

/// A recording's bookmarks and comments, in the order they were made.
#[derive(SimpleObject)]
struct RecordingNotes {
    recording_id: Uuid,
    bookmarks: Vec<Note>,
    comments: Vec<Note>,
}

impl From<confide_app::Note> for Note {
    fn from(note: confide_app::Note) -> Self {
        Self {
            offset_ms: note.offset.as_millis(),
            text: note.text,
            by: note.by.to_string(),
            at: note.at,
        }
    }
}

#[Object]
impl NoteMutation {
    /// A tutor comments at a moment of a recording they may play for `purpose`. The text is
    /// sealed under the recording's own data key, so destroying the recording destroys it.
    async fn add_comment(
        &self,
        ctx: &Context<'_>,
        recording_id: Uuid,
        purpose: Purpose,
        offset_ms: u64,
        text: String,
    ) -> Result<RecordingNotes> {
        let recording = id(recording_id, RecordingId::from_uuid)?;
        let caller = caller(ctx)?;
        let offset = Offset::from_millis(offset_ms)?;
        app(ctx)
            .add_comment(caller, recording, purpose.into(), offset, &text)
            .await?;
        notes(ctx, recording, purpose).await
    }
}

#[Object]
impl NoteQuery {
    /// A recording's bookmarks and comments, for its practitioner or someone who may play it
    /// for `purpose`; none once it is destroyed.
    async fn recording_notes(
        &self,
        ctx: &Context<'_>,
        recording_id: Uuid,
        purpose: Purpose,
    ) -> Result<RecordingNotes> {
        notes(ctx, id(recording_id, RecordingId::from_uuid)?, purpose).await
    }
}

async fn notes(
    ctx: &Context<'_>,
    recording: RecordingId,
    purpose: Purpose,
) -> Result<RecordingNotes> {
    let notes = app(ctx)
        .notes(caller(ctx)?, recording, purpose.into())
        .await?;
    Ok(RecordingNotes {
        recording_id: recording.as_uuid(),
        bookmarks: notes.bookmarks.into_iter().map(Into::into).collect(),
        comments: notes.comments.into_iter().map(Into::into).collect(),
    })
}
