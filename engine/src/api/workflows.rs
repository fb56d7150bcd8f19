//! The workflow routes: submit, get (both with `?wait=`), list, abort, retry, and the loaded
//! workflow types.
//!
//! Thin: each handler reads its request, calls one store operation and converts the answer to
//! wire types. Every check that can refuse a request runs before the store writes anything.

use super::auth::Subject;
use super::error::Error;
use super::extract::{idempotency_key, parse_wait, ApiQuery, JsonBody, WorkflowPath};
use super::limit::SubmitAllowed;
use super::wire::{
    ListQuery, StatusAnswer, SubmitRequest, WaitQuery, Workflow, WorkflowLine, WorkflowList,
    WorkflowType, WorkflowTypes,
};
use super::ApiState;
use crate::store::{self, NewWorkflow, WorkflowRecord};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use httpguard::Slot;
use kernel::model::{WorkflowId, WorkflowStatus};
use std::time::Duration;

/// Rows in a list page when the query names no `limit`.
const PAGE_ROWS_DEFAULT: u32 = 50;
/// Most rows in a list page; a larger `limit` is lowered to it.
const PAGE_ROWS_MAX: u32 = 500;

/// `POST /v1/workflows[?wait=]`: 201 for a new workflow, 200 for the one an earlier submit
/// with the same `Idempotency-Key` and body created.
pub(super) async fn submit(
    _rate: SubmitAllowed,
    Subject(subject): Subject,
    State(state): State<ApiState>,
    slot: Option<Extension<Slot>>,
    ApiQuery(query): ApiQuery<WaitQuery>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SubmitRequest>,
) -> Result<Response, Error> {
    let wait = parse_wait(query.wait.as_deref(), state.config.wait_ms_max)?;
    let new = NewWorkflow {
        workflow_type: body.workflow_type,
        input: body.input,
        idempotency_key: idempotency_key(&headers)?,
        submitted_by: subject,
    };
    let submitted = state.store.submit(&state.registry, &new).await?;
    if submitted.created {
        crate::metrics::submitted(&new.workflow_type);
    }
    if let (true, Some(hook)) = (submitted.created, &state.on_submit) {
        hook();
    }
    let status = match wait.is_zero() {
        true => submitted.status,
        false => wait_for_status(&state, submitted, wait, slot.as_deref()).await?,
    };
    let code = match submitted.created {
        true => StatusCode::CREATED,
        false => StatusCode::OK,
    };
    let location = format!("/v1/workflows/{}", submitted.id);
    let answer = StatusAnswer {
        id: submitted.id,
        status,
    };
    Ok((code, [(header::LOCATION, location)], Json(answer)).into_response())
}

/// `GET /v1/workflows/{id}[?wait=]`: the workflow with its journal and attempts.
pub(super) async fn get(
    State(state): State<ApiState>,
    WorkflowPath(id): WorkflowPath,
    slot: Option<Extension<Slot>>,
    ApiQuery(query): ApiQuery<WaitQuery>,
) -> Result<Json<Workflow>, Error> {
    let wait = parse_wait(query.wait.as_deref(), state.config.wait_ms_max)?;
    let record = match wait.is_zero() {
        true => read(&state, id).await?,
        false => wait_for_end(&state, id, wait, slot.as_deref()).await?,
    };
    Ok(Json(Workflow::from(&record)))
}

/// Holds until `id` is terminal or `wait` ends, then answers its record. Queries the database
/// twice whatever the wait (once after registering, once at the end), never in a loop: the
/// wake-up comes from the [`super::Watcher`]. While it waits, the request gives its slot
/// under the in-flight cap back: a long poll is not load.
async fn wait_for_end(
    state: &ApiState,
    id: WorkflowId,
    wait: Duration,
    slot: Option<&Slot>,
) -> Result<WorkflowRecord, Error> {
    let mut waiter = state.watcher.watch(id);
    let record = read(state, id).await?;
    if record.status.is_terminal() {
        return Ok(record);
    }
    if let Some(slot) = slot {
        slot.release();
    }
    // Either it finished or the wait ended first: both answer the current record.
    let _ = tokio::time::timeout(wait, waiter.finished()).await;
    drop(waiter);
    read(state, id).await
}

/// Like [`wait_for_end`] for an answer that is only the status, as a submit's: the finish
/// comes from the [`super::Watcher`] with its status, so the workflow is not read back then;
/// one status read after registering covers a finish before it.
async fn wait_for_status(
    state: &ApiState,
    submitted: store::Submitted,
    wait: Duration,
    slot: Option<&Slot>,
) -> Result<WorkflowStatus, Error> {
    if submitted.status.is_terminal() {
        return Ok(submitted.status);
    }
    let id = submitted.id;
    let mut waiter = state.watcher.watch(id);
    let status = read_status(state, id).await?;
    if status.is_terminal() {
        return Ok(status);
    }
    if let Some(slot) = slot {
        slot.release();
    }
    match tokio::time::timeout(wait, waiter.finished()).await {
        Ok(finished) => Ok(finished),
        Err(_elapsed) => {
            drop(waiter);
            read_status(state, id).await
        }
    }
}

async fn read_status(state: &ApiState, id: WorkflowId) -> Result<WorkflowStatus, Error> {
    let status = state.store.status(id).await?;
    Ok(status.ok_or(store::Error::NotFound(id))?)
}

async fn read(state: &ApiState, id: WorkflowId) -> Result<WorkflowRecord, Error> {
    let record = state.store.get(id).await?;
    Ok(record.ok_or(store::Error::NotFound(id))?)
}

/// `GET /v1/workflows?status=&type=&idempotency_key=&limit=&cursor=`: newest first; `cursor` is the
/// `next_cursor` of the previous page.
pub(super) async fn list(
    State(state): State<ApiState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<WorkflowList>, Error> {
    let limit = query.limit.unwrap_or(PAGE_ROWS_DEFAULT);
    if limit == 0 {
        return Err(Error::BadRequest("limit must be at least 1".into()));
    }
    let limit = limit.min(PAGE_ROWS_MAX);
    // One row more than the page tells whether another page follows.
    let mut rows = state
        .store
        .list(
            &store::ListFilter {
                status: query.status,
                workflow_type: query.workflow_type.as_deref(),
                idempotency_key: query.idempotency_key.as_deref(),
                before: query.cursor,
            },
            limit + 1,
        )
        .await?;
    let next_cursor = match rows.len() > limit as usize {
        true => {
            rows.truncate(limit as usize);
            rows.last().map(|w| w.id)
        }
        false => None,
    };
    Ok(Json(WorkflowList {
        workflows: rows.iter().map(WorkflowLine::from).collect(),
        next_cursor,
    }))
}

/// `POST /v1/workflows/{id}/abort`: 409 once terminal or past the pivot.
pub(super) async fn abort(
    State(state): State<ApiState>,
    Subject(subject): Subject,
    WorkflowPath(id): WorkflowPath,
) -> Result<Json<StatusAnswer>, Error> {
    let status = state
        .store
        .abort(&state.registry, id, subject.as_deref())
        .await?;
    if status.is_terminal() {
        // Nothing had run yet: the abort finished the workflow at once.
        state.watcher.notify_finished(id, status);
    }
    Ok(Json(StatusAnswer { id, status }))
}

/// `POST /v1/workflows/{id}/retry`: 409 unless parked as `failed`.
pub(super) async fn retry(
    State(state): State<ApiState>,
    Subject(subject): Subject,
    WorkflowPath(id): WorkflowPath,
) -> Result<Json<StatusAnswer>, Error> {
    let status = state
        .store
        .retry(&state.registry, id, subject.as_deref())
        .await?;
    Ok(Json(StatusAnswer { id, status }))
}

/// `GET /v1/workflow-types`: every loaded type and version.
pub(super) async fn workflow_types(State(state): State<ApiState>) -> Json<WorkflowTypes> {
    let workflow_types = state
        .registry
        .all()
        .into_iter()
        .map(|def| WorkflowType::from(def.as_ref()))
        .collect();
    Json(WorkflowTypes { workflow_types })
}
