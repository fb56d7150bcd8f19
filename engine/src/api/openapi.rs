//! The OpenAPI 3.0 document of the API, written by hand as JSON.
//!
//! Not generated from the handlers: it describes `wire` and the routes of `endpoints()`, and
//! a test fails when a served route is missing here (or described here but not served).

use serde_json::{json, Map, Value};

/// The whole document, served at `/openapi.json`.
pub fn document() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Sagaflow",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Durable saga/TCC workflows: submit, query, abort and retry. \
                Errors are {\"error\": {\"code\", \"message\"}}.",
        },
        "security": [{"bearer": []}],
        "paths": paths(),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "parameters": parameters(),
            "schemas": schemas(),
        },
    })
}

fn paths() -> Value {
    let id_errors = &[400, 401, 404, 409, 503];
    json!({
        "/v1/workflows": {
            "post": op("Start a workflow", &["wait", "idempotencyKey"], Some("SubmitRequest"),
                responses(
                    &[("201", "Created", "StatusAnswer"),
                      ("200", "Made earlier with this Idempotency-Key and body", "StatusAnswer")],
                    &[400, 401, 413, 415, 422, 503])),
            "get": op("List workflows, newest first", &["status", "type", "limit", "cursor"], None,
                responses(&[("200", "A page", "WorkflowList")], &[400, 401, 503])),
        },
        "/v1/workflows/{id}": {
            "get": op("A workflow with its journal and attempts", &["id", "wait"], None,
                responses(&[("200", "The workflow", "Workflow")], &[400, 401, 404, 503])),
        },
        "/v1/workflows/{id}/abort": {
            "post": op("Abort a workflow before its pivot", &["id"], None,
                responses(&[("200", "Abort accepted", "StatusAnswer")], id_errors)),
        },
        "/v1/workflows/{id}/retry": {
            "post": op("Retry a parked (failed) workflow", &["id"], None,
                responses(&[("200", "Resumed", "StatusAnswer")], id_errors)),
        },
        "/v1/workflow-types": {
            "get": op("Loaded workflow types", &[], None,
                responses(&[("200", "Every type and version", "WorkflowTypes")], &[401])),
        },
        "/healthz": {"get": public(op("Liveness: the process serves HTTP", &[], None,
            responses(&[("200", "Alive", "Health")], &[])))},
        "/readyz": {"get": public(op("Readiness: the database answers", &[], None,
            responses(&[("200", "Ready", "Health")], &[503])))},
        "/metrics": {"get": op("Prometheus metrics", &[], None, json!({
            "200": {"description": "Prometheus text format",
                    "content": {"text/plain": {"schema": {"type": "string"}}}},
            "401": error_response(401),
            "404": error_response(404),
        }))},
        "/openapi.json": {"get": op("This document", &[], None, json!({
            "200": {"description": "OpenAPI 3.0",
                    "content": {"application/json": {"schema": {"type": "object"}}}},
            "401": error_response(401),
        }))},
    })
}

/// An operation using shared parameters (by name) and an optional JSON body schema.
fn op(summary: &str, params: &[&str], body: Option<&str>, responses: Value) -> Value {
    let parameters: Vec<Value> = params
        .iter()
        .map(|p| json!({"$ref": format!("#/components/parameters/{p}")}))
        .collect();
    let mut op = json!({"summary": summary, "parameters": parameters, "responses": responses});
    if let Some(schema) = body {
        op["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": schema_ref(schema)}},
        });
    }
    op
}

/// An operation open without a token.
fn public(mut op: Value) -> Value {
    op["security"] = json!([]);
    op
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// Success responses `(status, description, schema)` plus the error statuses.
fn responses(ok: &[(&str, &str, &str)], errors: &[u16]) -> Value {
    let mut all = Map::new();
    for (status, description, schema) in ok {
        all.insert(
            (*status).into(),
            json!({"description": description,
                   "content": {"application/json": {"schema": schema_ref(schema)}}}),
        );
    }
    for status in errors {
        all.insert(status.to_string(), error_response(*status));
    }
    Value::Object(all)
}

fn error_response(status: u16) -> Value {
    let description = match status {
        400 => {
            "BAD_REQUEST, TOO_DEEP, STRING_TOO_LONG, INVALID_WORKFLOW_ID or \
             IDEMPOTENCY_KEY_TOO_LONG"
        }
        401 => "UNAUTHORIZED: a bearer token is required",
        404 => "NOT_FOUND",
        409 => "CONFLICT: not possible in the workflow's status",
        413 => "BODY_TOO_LARGE or INPUT_TOO_LARGE",
        415 => "UNSUPPORTED_MEDIA_TYPE: send application/json",
        422 => "UNKNOWN_WORKFLOW_TYPE, INVALID_INPUT or IDEMPOTENCY_KEY_REUSED",
        503 => "UNAVAILABLE: the database does not answer",
        _ => "Error",
    };
    json!({"description": description,
           "content": {"application/json": {"schema": schema_ref("Error")}}})
}

fn query_parameter(name: &str, description: &str, schema: Value) -> Value {
    json!({
        "name": name, "in": "query", "required": false,
        "description": description, "schema": schema,
    })
}

fn parameters() -> Value {
    let q = query_parameter;
    json!({
        "id": {"name": "id", "in": "path", "required": true, "description": "Workflow id",
               "schema": {"type": "string", "format": "uuid"}},
        "wait": q("wait", "Hold the request until the workflow is terminal or this ends \
            (5s, 500ms or plain milliseconds; capped by the server), then answer the \
            current state", json!({"type": "string", "example": "5s"})),
        "idempotencyKey": {"name": "Idempotency-Key", "in": "header", "required": false,
            "description": "Same key and body: the existing workflow (200); \
                same key, other body: 422",
            "schema": {"type": "string", "maxLength": 255}},
        "status": q("status", "Only this status", schema_ref("WorkflowStatus")),
        "type": q("type", "Only this workflow type", json!({"type": "string"})),
        "limit": q("limit", "Page size (default 50, at most 500)",
            json!({"type": "integer", "minimum": 1, "maximum": 500, "default": 50})),
        "cursor": q("cursor", "next_cursor of the previous page",
            json!({"type": "string", "format": "uuid"})),
    })
}

fn object(required: &[&str], properties: Value) -> Value {
    json!({"type": "object", "required": required, "properties": properties})
}

fn nullable(type_name: &str) -> Value {
    json!({"type": type_name, "nullable": true})
}

fn one_of(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}

fn time(nullable: bool) -> Value {
    json!({"type": "string", "format": "date-time", "nullable": nullable})
}

fn schemas() -> Value {
    let mut all = workflow_schemas();
    let map = all.as_object_mut().expect("an object");
    let kinds = [
        "integer", "number", "string", "boolean", "object", "array", "any",
    ];
    let step = object(
        &["name", "service", "compensable", "after_pivot"],
        json!({"name": {"type": "string"}, "service": {"type": "string"},
               "compensable": {"type": "boolean"}, "after_pivot": {"type": "boolean"}}),
    );
    map.extend(
        json!({
            "Error": object(&["error"], json!({"error": object(&["code", "message"],
                json!({"code": {"type": "string"}, "message": {"type": "string"}}))})),
            "ActivityError": object(&["code", "message"],
                json!({"code": {"type": "string"}, "message": {"type": "string"}})),
            "WorkflowStatus": one_of(&["pending", "running", "compensating", "completed",
                "compensated", "failed"]),
            "SubmitRequest": {"type": "object", "required": ["type", "input"],
                "additionalProperties": false,
                "properties": {"type": {"type": "string"}, "input": {"type": "object"}}},
            "StatusAnswer": object(&["id", "status"], json!({
                "id": {"type": "string", "format": "uuid"},
                "status": schema_ref("WorkflowStatus")})),
            "WorkflowTypes": object(&["workflow_types"], json!({
                "workflow_types": {"type": "array", "items": schema_ref("WorkflowType")}})),
            "WorkflowType": object(&["name", "version", "steps", "input"], json!({
                "name": {"type": "string"}, "version": {"type": "integer"},
                "description": {"type": "string"}, "pivot_after": nullable("string"),
                "input": {"type": "object", "additionalProperties": one_of(&kinds)},
                "steps": {"type": "array", "items": step}})),
            "Health": object(&["status"], json!({"status": {"type": "string"}})),
        })
        .as_object()
        .expect("an object")
        .clone(),
    );
    all
}

/// The workflow, its journal and lists of workflows.
fn workflow_schemas() -> Value {
    let error = json!({"allOf": [schema_ref("ActivityError")], "nullable": true});
    let kind = one_of(&["action", "compensation"]);
    let outcomes = [
        "succeeded",
        "business_error",
        "retryable_error",
        "lease_expired",
        "aborted",
    ];
    json!({
        "Workflow": object(&["id", "type", "version", "status", "input", "outputs",
                "activities", "created_at", "updated_at"], json!({
            "id": {"type": "string", "format": "uuid"}, "type": {"type": "string"},
            "version": {"type": "integer"}, "status": schema_ref("WorkflowStatus"),
            "current_step": {"type": "integer"}, "current_kind": kind,
            "input": {"type": "object"}, "outputs": {"type": "object"}, "error": error,
            "failed_step": nullable("integer"), "parked_reason": nullable("string"),
            "abort_requested": {"type": "boolean"}, "idempotency_key": nullable("string"),
            "created_at": time(false), "updated_at": time(false), "finished_at": time(true),
            "activities": {"type": "array", "items": schema_ref("Activity")}})),
        "Activity": object(&["step", "name", "kind", "status", "attempt", "max_attempts",
                "attempts"], json!({
            "step": {"type": "integer"}, "name": {"type": "string"}, "kind": kind,
            "status": one_of(&["ready", "leased", "succeeded", "failed"]),
            "attempt": {"type": "integer"}, "max_attempts": {"type": "integer"},
            "run_at": time(true), "lease_owner": nullable("string"),
            "request": {"type": "object", "nullable": true}, "response": {"nullable": true},
            "error": error, "created_at": time(false), "finished_at": time(true),
            "attempts": {"type": "array", "items": schema_ref("Attempt")}})),
        "Attempt": object(&["attempt", "started_at", "finished_at", "duration_us", "outcome"],
            json!({
            "attempt": {"type": "integer"}, "worker": nullable("string"),
            "started_at": time(false), "finished_at": time(false),
            "duration_us": {"type": "integer"}, "outcome": one_of(&outcomes), "error": error})),
        "WorkflowList": object(&["workflows", "next_cursor"], json!({
            "workflows": {"type": "array", "items": schema_ref("WorkflowLine")},
            "next_cursor": {"type": "string", "format": "uuid", "nullable": true}})),
        "WorkflowLine": object(&["id", "type", "status", "created_at"], json!({
            "id": {"type": "string", "format": "uuid"}, "type": {"type": "string"},
            "status": schema_ref("WorkflowStatus"), "created_at": time(false),
            "finished_at": time(true)})),
    })
}
