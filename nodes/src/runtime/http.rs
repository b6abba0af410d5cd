//! The client API over HTTP/1.1, as documented in [`crate::api`].
//!
//! Handlers only translate: they decode the route and body into an [`api::Request`],
//! hand it to the node's actor through a bounded channel with a oneshot for the answer, and
//! encode what comes back. If the channel is full the answer is `unavailable` at once,
//! so a flood of clients queues nowhere. Every failure of the request itself (a malformed
//! body, wrong types, an unknown route or method, a body over the limit) is a definite
//! JSON [`ErrorBody`] with the code's HTTP status, never a panic or a bare status line.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot};

use super::clock::ClockChange;
use super::node::{Answer, ClientInput};
use crate::api::{body, ApiError, ErrorBody, ErrorCode, Request, Response};
use crate::committed_log::LogQuery;

/// What every handler shares.
#[derive(Clone)]
pub struct ApiState {
    pub inbox: mpsc::Sender<ClientInput>,
    /// How long a handler waits for the actor. The actor answers `timeout` itself at the
    /// request deadline; this is a margin beyond it in case the actor is stuck on a disk.
    pub wait: Duration,
}

/// The router for the whole client API.
pub fn router(state: ApiState, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/kv/{key}", get(kv_get).put(kv_put))
        .route("/kv/{key}/cas", post(kv_cas))
        .route("/set/{key}/add", post(set_add))
        .route("/set/{key}", get(set_read))
        .route("/txn", post(txn))
        .route("/status", get(status))
        .route("/health", get(health))
        .route("/admin/log", get(admin_log))
        .route("/admin/clock", post(admin_clock))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

type Key = Result<Path<String>, PathRejection>;
type RawBody = Result<Bytes, BytesRejection>;

async fn kv_get(State(state): State<ApiState>, key: Key) -> HttpResponse {
    let key = match key_of(key) {
        Ok(key) => key,
        Err(e) => return error(e),
    };
    submit(&state, Request::Get { key }).await
}

async fn kv_put(State(state): State<ApiState>, key: Key, raw: RawBody) -> HttpResponse {
    let parsed = key_of(key).and_then(|key| Ok((key, decode::<body::Put>(raw)?)));
    match parsed {
        Ok((key, b)) => submit(&state, Request::Put { key, value: b.value }).await,
        Err(e) => error(e),
    }
}

async fn kv_cas(State(state): State<ApiState>, key: Key, raw: RawBody) -> HttpResponse {
    let parsed = key_of(key).and_then(|key| Ok((key, decode::<body::Cas>(raw)?)));
    match parsed {
        Ok((key, b)) => submit(&state, Request::Cas { key, from: b.from, to: b.to }).await,
        Err(e) => error(e),
    }
}

async fn set_add(State(state): State<ApiState>, key: Key, raw: RawBody) -> HttpResponse {
    let parsed = key_of(key).and_then(|key| Ok((key, decode::<body::SetAdd>(raw)?)));
    match parsed {
        Ok((key, b)) => submit(&state, Request::SetAdd { key, element: b.element }).await,
        Err(e) => error(e),
    }
}

async fn set_read(State(state): State<ApiState>, key: Key) -> HttpResponse {
    match key_of(key) {
        Ok(key) => submit(&state, Request::SetRead { key }).await,
        Err(e) => error(e),
    }
}

async fn txn(State(state): State<ApiState>, raw: RawBody) -> HttpResponse {
    match decode::<body::Txn>(raw) {
        Ok(b) => submit(&state, Request::Txn { ops: b.ops }).await,
        Err(e) => error(e),
    }
}

async fn status(State(state): State<ApiState>) -> HttpResponse {
    let (tx, rx) = oneshot::channel();
    if state.inbox.try_send(ClientInput::Status { answer: tx }).is_err() {
        return error(busy());
    }
    match tokio::time::timeout(state.wait, rx).await {
        Ok(Ok(status)) => (StatusCode::OK, Json(status)).into_response(),
        Ok(Err(_)) => error(stopped()),
        Err(_) => error(ApiError::new(ErrorCode::Timeout, "the node did not report its status in time")),
    }
}

/// `GET /admin/log?from=K&limit=N`: the committed prefix as running hashes
/// ([`crate::committed_log`]).
async fn admin_log(State(state): State<ApiState>, RawQuery(raw): RawQuery) -> HttpResponse {
    let query = match log_query(raw.as_deref()) {
        Ok(query) => query,
        Err(message) => return error(ApiError::new(ErrorCode::BadRequest, message)),
    };
    let (tx, rx) = oneshot::channel();
    if state.inbox.try_send(ClientInput::Log { query, answer: tx }).is_err() {
        return error(busy());
    }
    match tokio::time::timeout(state.wait, rx).await {
        Ok(Ok(Some(page))) => (StatusCode::OK, Json(page)).into_response(),
        Ok(Ok(None)) => error(ApiError::new(ErrorCode::NotFound, "this protocol keeps no committed log")),
        Ok(Err(_)) => error(stopped()),
        Err(_) => error(ApiError::new(ErrorCode::Timeout, "the node did not report its log in time")),
    }
}

/// `POST /admin/clock`: skew the protocol's clock ([`super::clock`]).
async fn admin_clock(State(state): State<ApiState>, raw: RawBody) -> HttpResponse {
    let change = match raw {
        Ok(bytes) => ClockChange::parse(&bytes),
        Err(e) => Err(format!("could not read the request body: {}", e.body_text())),
    };
    let change = match change {
        Ok(change) => change,
        Err(message) => return error(ApiError::new(ErrorCode::BadRequest, message)),
    };
    let (tx, rx) = oneshot::channel();
    if state.inbox.try_send(ClientInput::Clock { change, answer: tx }).is_err() {
        return error(busy());
    }
    match tokio::time::timeout(state.wait, rx).await {
        Ok(Ok(reading)) => (StatusCode::OK, Json(reading)).into_response(),
        Ok(Err(_)) => error(stopped()),
        Err(_) => error(ApiError::new(ErrorCode::Timeout, "the node did not change its clock in time")),
    }
}

/// `from` and `limit` out of a raw query string; any other parameter is refused.
fn log_query(raw: Option<&str>) -> Result<LogQuery, String> {
    let mut from = None;
    let mut limit = None;
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "from" => from = Some(value),
            "limit" => limit = Some(value),
            other => return Err(format!("unknown query parameter {other:?}; expected from, limit")),
        }
    }
    LogQuery::parse(from, limit)
}

async fn health() -> HttpResponse {
    (StatusCode::OK, Json(serde_json::json!({ "ok": true }))).into_response()
}

async fn not_found(method: Method, uri: Uri) -> HttpResponse {
    error(ApiError::new(ErrorCode::NotFound, format!("no route {method} {}", uri.path())))
}

async fn method_not_allowed(method: Method, uri: Uri) -> HttpResponse {
    error(ApiError::new(ErrorCode::BadRequest, format!("method {method} is not allowed on {}", uri.path())))
}

/// Hand a request to the actor and wait for its answer.
async fn submit(state: &ApiState, request: Request) -> HttpResponse {
    let (tx, rx) = oneshot::channel();
    if state.inbox.try_send(ClientInput::Request { body: request, answer: tx }).is_err() {
        return error(busy());
    }
    let answer: Answer = match tokio::time::timeout(state.wait, rx).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(_)) => Err(stopped()),
        Err(_) => {
            Err(ApiError::new(ErrorCode::Timeout, "no answer in time; the operation may still take effect"))
        }
    };
    match answer {
        Ok(response) => ok(response),
        Err(e) => error(e),
    }
}

fn ok(response: Response) -> HttpResponse {
    (StatusCode::OK, Json(response)).into_response()
}

/// An error answer with its code's HTTP status.
pub fn error(e: ApiError) -> HttpResponse {
    let status = StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(ErrorBody { error: e })).into_response()
}

fn busy() -> ApiError {
    ApiError::new(ErrorCode::Unavailable, "the node is saturated with requests; try later")
}

fn stopped() -> ApiError {
    // The actor ended with the request in hand: it may have been persisted and replicated.
    ApiError::new(
        ErrorCode::Internal,
        "the node stopped before answering; the operation may have taken effect",
    )
}

fn key_of(key: Key) -> Result<String, ApiError> {
    key.map(|Path(key)| key)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("bad key in path: {}", e.body_text())))
}

fn decode<T: DeserializeOwned>(raw: RawBody) -> Result<T, ApiError> {
    let bytes = raw.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(
            axum::extract::rejection::FailedToBufferBody::LengthLimitError(_),
        ) => ApiError::new(ErrorCode::PayloadTooLarge, "request body exceeds the size limit"),
        other => ApiError::new(
            ErrorCode::BadRequest,
            format!("could not read the request body: {}", other.body_text()),
        ),
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("malformed JSON body: {e}")))
}
