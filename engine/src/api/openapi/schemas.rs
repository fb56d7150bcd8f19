//! The document's schemas: the wire types of `super::super::wire`, the submit body built
//! from the loaded workflow types, and the small builders they share.

use super::schema_ref;
use crate::api::ApiConfig;
use crate::definition::{FieldType, Registry};
use serde_json::{json, Map, Value};

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

pub(super) fn schemas(config: &ApiConfig, registry: &Registry) -> Value {
    let mut all = workflow_schemas();
    let map = all.as_object_mut().expect("an object");
    let kinds = [
        "integer", "number", "string", "boolean", "object", "array", "any",
    ];
    let retry = object(
        &[
            "max_attempts",
            "initial_interval_ms",
            "multiplier",
            "max_interval_ms",
            "jitter",
        ],
        json!({"max_attempts": {"type": "integer"}, "initial_interval_ms": {"type": "integer"},
               "multiplier": {"type": "number"}, "max_interval_ms": {"type": "integer"},
               "jitter": {"type": "number"}}),
    );
    let step = object(
        &[
            "name",
            "service",
            "compensable",
            "after_pivot",
            "action_retry",
            "compensation_retry",
            "timeout_ms",
        ],
        json!({"name": {"type": "string"}, "service": {"type": "string"},
               "compensable": {"type": "boolean"}, "after_pivot": {"type": "boolean"},
               "action_retry": schema_ref("RetryPolicy"),
               "compensation_retry": {"allOf": [schema_ref("RetryPolicy")], "nullable": true},
               "timeout_ms": {"type": "integer"}}),
    );
    let count = || json!({"type": "integer", "minimum": 0});
    map.extend(
        json!({
            "Error": object(&["error"], json!({"error": object(&["code", "message"],
                json!({"code": {"type": "string"}, "message": {"type": "string"}}))})),
            "ActivityError": object(&["code", "message"],
                json!({"code": {"type": "string"}, "message": {"type": "string"}})),
            "WorkflowStatus": one_of(&["pending", "running", "compensating", "completed",
                "compensated", "failed"]),
            "SubmitRequest": submit_request(config, registry),
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
            "RetryPolicy": retry,
            "Health": object(&["status"], json!({"status": {"type": "string"}})),
            "Overview": object(&["now", "window_s", "bucket_s", "counts", "finished",
                    "lease_expiries", "fenced_writes", "services", "sampled_workflows_max"], json!({
                "now": time(false), "window_s": count(), "bucket_s": count(),
                "counts": {"type": "array", "items": object(&["type", "status", "count"], json!({
                    "type": {"type": "string"}, "status": schema_ref("WorkflowStatus"),
                    "count": count()}))},
                "finished": {"type": "array", "items": object(
                    &["at", "completed", "compensated", "failed"], json!({
                    "at": time(false), "completed": count(), "compensated": count(),
                    "failed": count()}))},
                "lease_expiries": count(),
                "fenced_writes": {"type": "integer", "minimum": 0, "nullable": true},
                "services": {"type": "array", "items": object(
                    &["service", "calls", "retryable_errors", "business_errors", "lease_expiries"],
                    json!({"service": {"type": "string"}, "calls": count(),
                        "retryable_errors": count(), "business_errors": count(),
                        "lease_expiries": count()}))},
                "sampled_workflows_max": count()})),
        })
        .as_object()
        .expect("an object")
        .clone(),
    );
    all
}

/// A submit's body: one alternative per loaded workflow type (its latest version, as submit
/// runs it), with the input fields it declares; with no type loaded, any non-empty name.
fn submit_request(config: &ApiConfig, registry: &Registry) -> Value {
    let body = |name: Value, input: Value| {
        json!({"type": "object", "required": ["type", "input"], "additionalProperties": false,
               "properties": {"type": name, "input": input}})
    };
    let mut names: Vec<&str> = registry
        .all()
        .into_iter()
        .map(|d| d.name.as_str())
        .collect();
    names.dedup();
    let types: Vec<Value> = names
        .into_iter()
        .filter_map(|name| registry.latest(name))
        .map(|def| {
            let properties: Map<String, Value> = def
                .input
                .iter()
                .map(|(field, kind)| (field.clone(), field_schema(*kind, config)))
                .collect();
            let input = json!({"type": "object", "additionalProperties": false,
                "required": def.input.keys().collect::<Vec<_>>(), "properties": properties});
            body(json!({"type": "string", "enum": [def.name]}), input)
        })
        .collect();
    match types.len() {
        0 => body(
            json!({"type": "string", "minLength": 1}),
            json!({"type": "object"}),
        ),
        1 => types.into_iter().next().unwrap_or_default(),
        _ => json!({"oneOf": types}),
    }
}

/// What an input field of `kind` accepts (`definition::input`), within the body limits.
fn field_schema(kind: FieldType, config: &ApiConfig) -> Value {
    match kind {
        FieldType::Integer => json!({"type": "integer", "minimum": i64::MIN, "maximum": i64::MAX}),
        FieldType::Number => json!({"type": "number"}),
        // maxLength counts characters, the limit bytes: a character is at most 4 bytes.
        FieldType::String => json!({"type": "string", "maxLength": config.string_bytes_max / 4}),
        FieldType::Boolean => json!({"type": "boolean"}),
        FieldType::Object => json!({"type": "object"}),
        FieldType::Array => json!({"type": "array"}),
        FieldType::Any => {
            let kinds = ["string", "number", "boolean", "object", "array"];
            json!({"anyOf": kinds.map(|t| json!({"type": t}))})
        }
    }
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
            "submitted_by": nullable("string"), "aborted_by": nullable("string"),
            "retried_by": nullable("string"),
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
