//! The operational routes: liveness, readiness, metrics text, the OpenAPI document, and the
//! JSON answers for an unknown route or a wrong method.
//!
//! Not the metrics themselves: `/metrics` renders whatever the process handed to
//! [`super::ApiState::with_metrics`].

use super::error::Error;
use super::openapi;
use super::ApiState;
use axum::extract::State;
use axum::http::{header, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::time::Duration;

/// How long readiness waits for the database clock before answering 503.
const READY_TIMEOUT_MS: u64 = 2_000;

/// `GET /healthz`: the process serves HTTP. Never touches the database.
pub(super) async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: 200 when the database answers (and, on a Galera node, is synced), else
/// 503. The check runs in a task of its own, so the timeout gives up waiting for it without
/// cutting its transaction short.
pub(super) async fn readyz(State(state): State<ApiState>) -> Result<Json<Value>, Error> {
    let timeout = Duration::from_millis(READY_TIMEOUT_MS);
    let store = state.store.clone();
    let check = tokio::spawn(async move { store.ready().await });
    match tokio::time::timeout(timeout, check).await {
        Ok(Ok(Ok(_))) => Ok(Json(json!({"status": "ready"}))),
        Ok(Err(join)) => Err(Error::Panicked(join.to_string())),
        Ok(Ok(Err(err))) => {
            tracing::warn!(error = %err, "readiness check failed");
            Err(Error::NotReady)
        }
        Err(_) => {
            tracing::warn!(timeout_ms = READY_TIMEOUT_MS, "readiness check timed out");
            Err(Error::NotReady)
        }
    }
}

/// `GET /metrics`: the Prometheus text of this process; 404 when it exports none.
pub(super) async fn metrics(State(state): State<ApiState>) -> Result<Response, Error> {
    let render = state.metrics.as_ref().ok_or(Error::NoMetrics)?;
    let content_type = [(
        header::CONTENT_TYPE,
        "text/plain; version=0.0.4; charset=utf-8",
    )];
    Ok((content_type, render()).into_response())
}

/// `GET /openapi.json`: the document of this server (its auth, types and limits).
pub(super) async fn openapi_json(State(state): State<ApiState>) -> Json<Value> {
    Json(openapi::document(&state.config, &state.registry))
}

/// Any path no route matches.
pub(super) async fn no_route(uri: Uri) -> Error {
    Error::NoRoute(uri.path().to_owned())
}

/// A route's path with a method it does not serve.
pub(super) async fn wrong_method(method: Method, uri: Uri) -> Error {
    Error::MethodNotAllowed {
        method: method.to_string(),
        path: uri.path().to_owned(),
    }
}
