//! GraphQL over HTTP, following the GraphQL-over-HTTP specification:
//!
//! - `POST` with `Content-Type: application/json` (anything else: 415), or `GET` with the
//!   request in the query string; a mutation over `GET` is refused with 405 and `Allow: POST`.
//! - Content negotiation on `Accept`: `application/graphql-response+json` gets that media type
//!   and its status codes (400 when the document does not parse or validate, 503 with
//!   `Retry-After` when execution produced no data and every error is `UNAVAILABLE`, else 200
//!   once execution began; a 4xx or 5xx carries no `data`); `application/json` (or no
//!   `Accept`) gets `application/json` and 200 for every well-formed request, an outage
//!   included (`extensions.code` says `UNAVAILABLE`); anything else is 406. A browser asking for HTML gets GraphiQL when
//!   development mode is on.
//! - A body that is not JSON, not an object, or has no `query` is 400; batching (a JSON
//!   array) is refused; the body size is limited (413 past it).
//! - A bearer token that fails verification, and an `Authorization` header without one
//!   (`Bearer` alone, another scheme), is 401 with `WWW-Authenticate`; no `Authorization`
//!   header at all reaches the resolvers as an anonymous caller, which they refuse with
//!   `UNAUTHENTICATED`.

use std::sync::Arc;

use async_graphql::parser::types::OperationType;
use async_graphql::{ServerError, Variables};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Value, json};

use crate::ApiState;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// The media type the response is sent as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Media {
    GraphqlResponse,
    Json,
}

impl Media {
    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        })
    }
}

/// What the client accepts: a GraphQL response media type, HTML (a browser), or neither.
enum Wanted {
    Media(Media),
    Html,
    Nothing,
}

fn negotiate(headers: &HeaderMap) -> Wanted {
    let Some(accept) = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty())
    else {
        return Wanted::Media(Media::Json);
    };
    let mut json = false;
    let mut html = false;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let refused = parts.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        if refused {
            continue;
        }
        match media.as_str() {
            GRAPHQL_RESPONSE => return Wanted::Media(Media::GraphqlResponse),
            JSON | "application/*" | "*/*" => json = true,
            "text/html" => html = true,
            _ => {}
        }
    }
    if html {
        Wanted::Html
    } else if json {
        Wanted::Media(Media::Json)
    } else {
        Wanted::Nothing
    }
}

/// A response with GraphQL-shaped errors and no data: for requests refused before execution.
fn refusal(status: StatusCode, media: Media, message: &str, code: &str) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, media.content_type());
    response
}

/// The GraphQL request a body or query string carries.
fn parse_request(value: Value) -> Result<async_graphql::Request, &'static str> {
    let Value::Object(mut fields) = value else {
        return Err(if value.is_array() {
            "batched requests are not supported"
        } else {
            "the request must be a JSON object"
        });
    };
    let Some(Value::String(query)) = fields.remove("query") else {
        return Err("the request needs a `query` string");
    };
    let mut request = async_graphql::Request::new(query);
    match fields.remove("operationName") {
        None | Some(Value::Null) => {}
        Some(Value::String(name)) => request = request.operation_name(name),
        Some(_) => return Err("`operationName` must be a string"),
    }
    match fields.remove("variables") {
        None | Some(Value::Null) => {}
        Some(variables @ Value::Object(_)) => {
            request = request.variables(Variables::from_json(variables));
        }
        Some(_) => return Err("`variables` must be an object"),
    }
    match fields.remove("extensions") {
        None | Some(Value::Null) | Some(Value::Object(_)) => {}
        Some(_) => return Err("`extensions` must be an object"),
    }
    Ok(request)
}

/// Reads a `GET` request's parameters; `variables` and `extensions` are JSON text.
fn from_query_string(raw: Option<&str>) -> Result<Value, &'static str> {
    let mut fields = serde_json::Map::new();
    for (key, value) in url_pairs(raw.unwrap_or_default()) {
        let value = match key.as_str() {
            "variables" | "extensions" => serde_json::from_str(&value)
                .map_err(|_| "`variables` and `extensions` must be JSON")?,
            _ => Value::String(value),
        };
        fields.insert(key, value);
    }
    Ok(Value::Object(fields))
}

/// `application/x-www-form-urlencoded` pairs.
fn url_pairs(raw: &str) -> Vec<(String, String)> {
    fn decode(part: &str) -> String {
        let bytes = part.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let escaped = (bytes[i] == b'%')
                .then(|| bytes.get(i + 1..i + 3))
                .flatten()
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok());
            match (escaped, bytes[i]) {
                (Some(byte), _) => {
                    out.push(byte);
                    i += 3;
                }
                (None, b'+') => {
                    out.push(b' ');
                    i += 1;
                }
                (None, byte) => {
                    out.push(byte);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Whether the operation the request selects is a mutation (or a subscription): neither may
/// run over `GET`. A document that does not parse is left to execution to report.
fn is_mutation(request: &async_graphql::Request) -> bool {
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
        return false;
    };
    let selected = match &request.operation_name {
        Some(name) => document
            .operations
            .iter()
            .find(|(n, _)| n.map(|n| n.as_str()) == Some(name.as_str()))
            .map(|(_, op)| op.node.ty),
        None => document.operations.iter().next().map(|(_, op)| op.node.ty),
    };
    matches!(
        selected,
        Some(OperationType::Mutation | OperationType::Subscription)
    )
}

/// `GET` and `POST /graphql`.
pub(crate) async fn graphql(
    State(state): State<Arc<ApiState>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let media = match negotiate(&headers) {
        Wanted::Media(media) => media,
        Wanted::Html if method == Method::GET && state.development => {
            return Html(
                async_graphql::http::GraphiQLSource::build()
                    .endpoint("/graphql")
                    .title("Confide")
                    .finish(),
            )
            .into_response();
        }
        Wanted::Html | Wanted::Nothing => {
            return refusal(
                StatusCode::NOT_ACCEPTABLE,
                Media::Json,
                "accept application/graphql-response+json or application/json",
                "BAD_REQUEST",
            );
        }
    };
    let bad_request =
        |message: &str| refusal(StatusCode::BAD_REQUEST, media, message, "BAD_REQUEST");

    let parsed = if method == Method::GET {
        from_query_string(raw.as_deref())
    } else {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if essence != JSON {
            return refusal(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                media,
                "send the request as application/json",
                "BAD_REQUEST",
            );
        }
        serde_json::from_slice(&body).map_err(|_| "the body is not valid JSON")
    };
    let request = match parsed.and_then(parse_request) {
        Ok(request) => request,
        Err(message) => return bad_request(message),
    };
    if method == Method::GET && is_mutation(&request) {
        let mut response = refusal(
            StatusCode::METHOD_NOT_ALLOWED,
            media,
            "mutations are sent with POST",
            "BAD_REQUEST",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }

    let mut request = request;
    match crate::caller::from_headers(&state.auth, &headers).await {
        None => {}
        Some(Ok(caller)) => request = request.data(caller),
        Some(Err(error)) => {
            let mut response = refusal(
                StatusCode::UNAUTHORIZED,
                media,
                &error.to_string(),
                "UNAUTHENTICATED",
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
            return response;
        }
    }

    let response = state.schema.execute(request).await;
    let status = status_of(&response, media);
    let body = match serde_json::to_value(&response) {
        Ok(mut body) => {
            if !status.is_success()
                && let Some(fields) = body.as_object_mut()
            {
                // `application/graphql-response+json` pairs a 4xx or 5xx with no `data`.
                fields.remove("data");
            }
            body.to_string()
        }
        Err(_) => return bad_request("the response could not be encoded"),
    };
    let mut http = (status, body).into_response();
    http.headers_mut()
        .insert(header::CONTENT_TYPE, media.content_type());
    if status == StatusCode::SERVICE_UNAVAILABLE {
        http.headers_mut()
            .insert(header::RETRY_AFTER, crate::error::RETRY_AFTER);
    }
    http
}

/// The status of an executed request's response. `application/json` is always 200 (the
/// specification's SHOULD: a client cannot tell another status from an intermediary's).
/// `application/graphql-response+json` gives every response with data 200, and one without:
/// 400 for a request error (the document did not parse or validate: errors without a path,
/// whereas field errors during execution always carry one); 503 (with `Retry-After`) when
/// every error is an outage (`UNAVAILABLE`), so nothing of the request was answered and the
/// same request may succeed later; else 200, the specification's recommendation for a
/// response whose `data` is null.
fn status_of(response: &async_graphql::Response, media: Media) -> StatusCode {
    if media != Media::GraphqlResponse
        || response.data != async_graphql::Value::Null
        || response.errors.is_empty()
    {
        return StatusCode::OK;
    }
    let outage = |e: &ServerError| {
        e.extensions
            .as_ref()
            .and_then(|x| x.get("code"))
            .is_some_and(|code| code == &async_graphql::Value::from(crate::error::UNAVAILABLE))
    };
    if response.errors.iter().all(|e| e.path.is_empty()) {
        StatusCode::BAD_REQUEST
    } else if response.errors.iter().all(outage) {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{ErrorExtensions, PathSegment, Pos, ServerError, Value};

    use super::*;

    fn field_error(code: &str) -> ServerError {
        let mut error = async_graphql::Error::new("failed")
            .extend_with(|_, ext| ext.set("code", code))
            .into_server_error(Pos::default());
        error.path = vec![PathSegment::Field("tenant".to_owned())];
        error
    }

    fn response(data: Value, errors: Vec<ServerError>) -> async_graphql::Response {
        let mut response = async_graphql::Response::new(data);
        response.errors = errors;
        response
    }

    #[test]
    fn an_outage_that_left_no_data_is_503_under_the_graphql_response_type_only() {
        let outage = response(Value::Null, vec![field_error(crate::error::UNAVAILABLE)]);
        assert_eq!(
            status_of(&outage, Media::GraphqlResponse),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(status_of(&outage, Media::Json), StatusCode::OK);
    }

    #[test]
    fn partial_data_or_another_error_beside_the_outage_is_200() {
        let partial = response(
            Value::from_json(serde_json::json!({ "tenant": null })).unwrap(),
            vec![field_error(crate::error::UNAVAILABLE)],
        );
        assert_eq!(status_of(&partial, Media::GraphqlResponse), StatusCode::OK);
        let mixed = response(
            Value::Null,
            vec![
                field_error(crate::error::UNAVAILABLE),
                field_error("FORBIDDEN"),
            ],
        );
        assert_eq!(status_of(&mixed, Media::GraphqlResponse), StatusCode::OK);
    }

    #[test]
    fn a_request_error_is_400_under_the_graphql_response_type() {
        let invalid = response(
            Value::Null,
            vec![ServerError::new("unknown field", Some(Pos::default()))],
        );
        assert_eq!(
            status_of(&invalid, Media::GraphqlResponse),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(status_of(&invalid, Media::Json), StatusCode::OK);
    }
}
