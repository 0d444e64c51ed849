//! The API's one error edge: every failure a caller sees becomes an [`ApiError`] here, with
//! a wire code from `docs/design.md` section 5 and an HTTP status from one table. GraphQL
//! answers carry the code in `extensions.code`; the media and export routes answer a JSON
//! body `{"error": {"code", "message"}}` with the status, and `reasons` beside `code` where
//! a stable code names the case (why an upload was refused). Internal details never reach the
//! caller: every 5xx is logged once, here, with a reference the caller is given.

use async_graphql::ErrorExtensions;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use confide_app::{AppError, UploadRefusal};
use confide_domain::DomainError;
use serde_json::json;

use crate::auth::AuthError;

/// What a resolver or route handler returns.
pub(crate) type Result<T, E = ApiError> = std::result::Result<T, E>;

/// The wire code of an outage: the request may succeed if sent again later.
pub(crate) const UNAVAILABLE: &str = "UNAVAILABLE";

/// `Retry-After` (in seconds) on every 503 an outage is answered with: the database or the
/// store answers again, or the answer is an outage again, well within it.
pub(crate) const RETRY_AFTER: HeaderValue = HeaderValue::from_static("2");

/// The wire codes, each with its status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Code {
    Unauthenticated,
    Forbidden,
    NotFound,
    /// Existed, and has been destroyed for good: `NOT_FOUND` on the wire, 410 over HTTP.
    Gone,
    Conflict,
    BadUserInput,
    ConsentRequired,
    UnsupportedMedia,
    /// An outage of the database or a store: retry later.
    Unavailable,
    Internal,
}

impl Code {
    /// The code table.
    const fn wire(self) -> (&'static str, StatusCode) {
        match self {
            Self::Unauthenticated => ("UNAUTHENTICATED", StatusCode::UNAUTHORIZED),
            Self::Forbidden => ("FORBIDDEN", StatusCode::FORBIDDEN),
            Self::NotFound => ("NOT_FOUND", StatusCode::NOT_FOUND),
            Self::Gone => ("NOT_FOUND", StatusCode::GONE),
            Self::Conflict => ("CONFLICT", StatusCode::CONFLICT),
            Self::BadUserInput => ("BAD_USER_INPUT", StatusCode::BAD_REQUEST),
            Self::ConsentRequired => ("CONSENT_REQUIRED", StatusCode::FORBIDDEN),
            Self::UnsupportedMedia => ("UNSUPPORTED_MEDIA", StatusCode::UNSUPPORTED_MEDIA_TYPE),
            Self::Unavailable => (UNAVAILABLE, StatusCode::SERVICE_UNAVAILABLE),
            Self::Internal => ("INTERNAL", StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

/// A failure as the caller is told it: a code and a sentence a person understands.
#[derive(Clone, Debug)]
pub(crate) struct ApiError {
    code: Code,
    message: String,
    /// The stable names of the reasons behind a refusal (`extensions.reasons`), if any.
    reasons: Vec<&'static str>,
}

impl ApiError {
    pub(crate) fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            reasons: Vec::new(),
        }
    }

    /// The same error, naming the stable reason behind it (why an upload was refused).
    fn with_reason(mut self, reason: &'static str) -> Self {
        self.reasons.push(reason);
        self
    }

    /// A server-side failure: logged once with a reference, which is all the caller sees.
    fn server(code: Code, error: &dyn std::fmt::Display) -> Self {
        let reference = uuid::Uuid::now_v7();
        match code {
            Code::Unavailable => {
                tracing::warn!(%reference, %error, "request failed: a dependency is unavailable");
                Self::new(
                    code,
                    format!("the service is unavailable; retry shortly (reference {reference})"),
                )
            }
            _ => {
                tracing::error!(%reference, %error, "request failed");
                Self::new(code, format!("internal error (reference {reference})"))
            }
        }
    }

    /// A failure of the server's own making, such as a token it could not sign.
    pub(crate) fn internal(error: &dyn std::fmt::Display) -> Self {
        Self::server(Code::Internal, error)
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        let code = match &error {
            DomainError::NotFound { .. } => Code::NotFound,
            DomainError::Conflict { .. } => Code::Conflict,
            DomainError::Forbidden { .. } => Code::Forbidden,
            DomainError::ConsentRequired { .. } => Code::ConsentRequired,
            DomainError::Invalid { .. } => Code::BadUserInput,
        };
        Self {
            reasons: error.reasons().to_vec(),
            ..Self::new(code, error.to_string())
        }
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        if error.is_unavailable() {
            return Self::server(Code::Unavailable, &error);
        }
        match error {
            AppError::Domain(error) => error.into(),
            AppError::Contention { .. } => Self::new(
                Code::Conflict,
                "the data changed while the request was decided; retry",
            ),
            AppError::Upload(refusal) => {
                let code = match refusal {
                    UploadRefusal::Incomplete | UploadRefusal::Empty => Code::BadUserInput,
                    _ => Code::UnsupportedMedia,
                };
                Self::new(code, refusal.to_string()).with_reason(refusal.reason())
            }
            AppError::Gone { what } => Self::new(Code::Gone, format!("{what} has been destroyed")),
            other => Self::server(Code::Internal, &other),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        Self::new(Code::Unauthenticated, error.to_string())
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        let (code, _) = error.code.wire();
        async_graphql::Error::new(error.message).extend_with(|_, ext| {
            ext.set("code", code);
            if !error.reasons.is_empty() {
                ext.set("reasons", error.reasons.clone());
            }
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (code, status) = self.code.wire();
        let mut response = (
            status,
            Json(json!({
                "error": { "code": code, "message": self.message, "reasons": self.reasons }
            })),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.code == Code::Unavailable {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, RETRY_AFTER);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_unavailable_and_says_nothing_of_the_cause() {
        let outage = AppError::Vault {
            step: "deleting the ciphertext",
            reason: "connection refused by s3://secret-bucket".to_owned(),
            retryable: true,
        };
        let error = ApiError::from(outage);
        assert_eq!(error.code, Code::Unavailable);
        assert_eq!(error.code.wire().1, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!error.message.contains("secret"), "{}", error.message);
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }

    #[test]
    fn an_unreachable_database_is_an_outage() {
        let outage = AppError::Store(confide_eventstore::StoreError::from(
            sqlx::Error::PoolTimedOut,
        ));
        assert!(outage.is_unavailable());
        assert_eq!(ApiError::from(outage).code, Code::Unavailable);
    }

    #[test]
    fn a_refusal_keeps_its_sentence() {
        let error = ApiError::from(AppError::Domain(DomainError::forbidden(
            "the log is read by an auditor or an org_admin",
        )));
        assert_eq!(error.code, Code::Forbidden);
        assert!(error.message.contains("auditor"));
    }
}
