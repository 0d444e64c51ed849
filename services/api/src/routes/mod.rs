//! The routes outside GraphQL: media upload and playback, audit bundle downloads, and the
//! health and readiness probes.

pub(crate) mod export;
pub(crate) mod media;
pub(crate) mod probes;
