//! Given / when / then tests for every command, one module per aggregate.

mod case_study;
mod client;
mod consent;
mod consent_form;
mod course;
mod grant;
mod recording;
mod subject_request;
mod tenant;
