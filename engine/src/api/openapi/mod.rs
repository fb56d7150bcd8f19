//! The OpenAPI 3.0 document of the API, written by hand as JSON.
//!
//! Not generated from the handlers: it describes `wire` and the routes of `endpoints()`, and
//! a test fails when a served route is missing here (or described here but not served). Built
//! per server, so that it says what this one does: bearer auth (and each route's scope) only
//! when it asks for credentials (static tokens or JWT keys), the
//! workflow types (and their inputs) it has loaded, and its limits.

mod schemas;

use super::ApiConfig;
use crate::definition::Registry;
use schemas::schemas;
use serde_json::{json, Map, Value};

/// The `?wait=` durations `extract::parse_wait` accepts: digits, then `ms`, `s` or nothing.
pub const WAIT_PATTERN: &str = "^[0-9]+(ms|s)?$";

/// The whole document of a server with `config` and `registry`, served at `/openapi.json`.
pub fn document(config: &ApiConfig, registry: &Registry) -> Value {
    let auth = super::auth::enabled(config);
    let mut paths = paths();
    match auth {
        true => add_scopes(&mut paths),
        false => drop_response(&mut paths, "401"),
    }
    add_overloaded(&mut paths);
    if config.submit_rate.is_some() {
        paths["/v1/workflows"]["post"]["responses"]["429"] = error_response(429);
    }
    let mut doc = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Sagaflow",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Durable saga/TCC workflows: submit, query, abort and retry. \
                Errors are {\"error\": {\"code\", \"message\"}}.",
        },
        "paths": paths,
        "components": {
            "parameters": parameters(),
            "schemas": schemas(config, registry),
        },
    });
    if auth {
        doc["security"] = json!([{"bearer": []}]);
        let mut scheme = json!({"type": "http", "scheme": "bearer", "description":
            "A static API token (every scope) or a JWT whose `scope` or `scp` claim names \
             sagaflow:read, sagaflow:submit or sagaflow:operate."});
        if config.jwt.as_ref().is_some_and(super::Jwt::accepts_any) {
            scheme["bearerFormat"] = json!("JWT");
        }
        doc["components"]["securitySchemes"] = json!({ "bearer": scheme });
    }
    doc
}

/// Removes the response `status` from every operation (401 where no token is asked for).
fn drop_response(paths: &mut Value, status: &str) {
    let operations = paths
        .as_object_mut()
        .into_iter()
        .flat_map(|p| p.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|ops| ops.values_mut());
    for op in operations {
        if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
            responses.remove(status);
        }
    }
}

/// Adds 503 (OVERLOADED, and UNAVAILABLE where the database is asked) to every operation the
/// in-flight cap can shed: all but those of `super::NEVER_SHED`.
fn add_overloaded(paths: &mut Value) {
    let Some(paths) = paths.as_object_mut() else {
        return;
    };
    for (path, ops) in paths.iter_mut() {
        if super::NEVER_SHED.contains(&path.as_str()) {
            continue;
        }
        let operations = ops.as_object_mut().into_iter().flat_map(|o| o.values_mut());
        for op in operations {
            op["responses"]["503"] = error_response(503);
        }
    }
}

/// Adds 403 and the scope each guarded operation needs (from the route table).
fn add_scopes(paths: &mut Value) {
    for (method, path, access) in super::route_access() {
        let super::Access::Needs(scope) = access else {
            continue;
        };
        let method = method.as_str().to_ascii_lowercase();
        if let Some(op) = paths.get_mut(path).and_then(|p| p.get_mut(&method)) {
            op["description"] = json!(format!("Needs the scope `{scope}`."));
            op["responses"]["403"] = error_response(403);
        }
    }
}

fn paths() -> Value {
    let id_errors = &[400, 401, 404, 409, 503];
    json!({
        "/v1/workflows": {
            "post": op("Start a workflow", &["wait", "idempotencyKey"], Some("SubmitRequest"),
                responses(
                    &[("201", "Created", "StatusAnswer"),
                      ("200", "Made earlier with this Idempotency-Key and body", "StatusAnswer")],
                    &[400, 401, 408, 413, 415, 422, 503])),
            "get": op("List workflows, newest first", &["status", "type", "idempotencyKeyFilter", "limit", "cursor"], None,
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
        "/v1/overview": {
            "get": op("What the console's overview shows: counts, finishes, expiries, errors",
                &[], None, responses(&[("200", "The last ten minutes", "Overview")], &[401, 503])),
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

pub(super) fn schema_ref(name: &str) -> Value {
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
        401 => {
            "UNAUTHORIZED: no bearer token, or one refused (the message says why: expired, \
             wrong audience, ...)"
        }
        403 => "FORBIDDEN: the token does not carry the scope this route needs",
        404 => "NOT_FOUND",
        408 => "BODY_TIMEOUT: the body did not arrive within the body-read timeout",
        409 => "CONFLICT: not possible in the workflow's status",
        413 => "BODY_TOO_LARGE or INPUT_TOO_LARGE",
        415 => "UNSUPPORTED_MEDIA_TYPE: send application/json",
        422 => "UNKNOWN_WORKFLOW_TYPE, INVALID_INPUT or IDEMPOTENCY_KEY_REUSED",
        429 => "RATE_LIMITED: too many submits from this caller (see Retry-After)",
        503 => {
            "UNAVAILABLE: the database does not answer, or OVERLOADED: too many requests in \
             flight (see Retry-After)"
        }
        _ => "Error",
    };
    let mut response = json!({"description": description,
           "content": {"application/json": {"schema": schema_ref("Error")}}});
    if matches!(status, 429 | 503) {
        response["headers"] = json!({"Retry-After": {
            "description": "Seconds to wait before trying again (with RATE_LIMITED and OVERLOADED)",
            "schema": {"type": "integer", "minimum": 1},
        }});
    }
    response
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
            current state", json!({"type": "string", "pattern": WAIT_PATTERN, "example": "5s"})),
        "idempotencyKey": {"name": "Idempotency-Key", "in": "header", "required": false,
            "description": "Visible ASCII. Same key and body: the existing workflow (200); \
                same key, other body: 422",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255,
                       "pattern": "^[!-~]([ -~]*[!-~])?$"}},
        "status": q("status", "Only this status", schema_ref("WorkflowStatus")),
        "type": q("type", "Only this workflow type", json!({"type": "string"})),
        "idempotencyKeyFilter": q("idempotency_key",
            "Only the workflow submitted with exactly this Idempotency-Key",
            json!({"type": "string"})),
        "limit": q("limit", "Page size (default 50; a larger one is lowered to 500)",
            json!({"type": "integer", "minimum": 1, "maximum": u32::MAX, "default": 50})),
        "cursor": q("cursor", "next_cursor of the previous page",
            json!({"type": "string", "format": "uuid"})),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every status any operation of `doc` documents.
    fn statuses(doc: &Value) -> Vec<String> {
        let paths = doc["paths"].as_object().expect("paths");
        paths
            .values()
            .flat_map(|ops| ops.as_object().expect("operations").values())
            .flat_map(|op| op["responses"].as_object().expect("responses").keys())
            .cloned()
            .collect()
    }

    #[test]
    fn auth_is_declared_only_when_the_server_has_tokens() {
        let registry = Registry::shipped();
        let open = document(&ApiConfig::default(), &registry);
        assert!(open.get("security").is_none());
        assert!(open["components"].get("securitySchemes").is_none());
        assert!(!statuses(&open).contains(&"401".to_owned()));

        let config = ApiConfig {
            tokens: vec!["secret".into()],
            ..ApiConfig::default()
        };
        let guarded = document(&config, &registry);
        assert_eq!(guarded["security"], json!([{"bearer": []}]));
        assert_eq!(
            guarded["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        assert!(statuses(&guarded).contains(&"401".to_owned()));
        assert_eq!(guarded["paths"]["/healthz"]["get"]["security"], json!([]));
        assert!(!statuses(&open).contains(&"403".to_owned()));
        let submit = &guarded["paths"]["/v1/workflows"]["post"];
        assert_eq!(
            submit["responses"]["403"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Error"
        );
        assert!(submit["description"]
            .as_str()
            .unwrap()
            .contains("sagaflow:submit"));
        let abort = &guarded["paths"]["/v1/workflows/{id}/abort"]["post"];
        assert!(abort["description"]
            .as_str()
            .unwrap()
            .contains("sagaflow:operate"));
        assert!(guarded["paths"]["/healthz"]["get"]["responses"]
            .get("403")
            .is_none());
        assert!(guarded["components"]["securitySchemes"]["bearer"]
            .get("bearerFormat")
            .is_none());

        let jwt = crate::api::Jwt::default()
            .with_hs256_secret(&[1; 32])
            .unwrap();
        let config = ApiConfig {
            jwt: Some(jwt),
            ..ApiConfig::default()
        };
        let by_jwt = document(&config, &registry);
        assert_eq!(by_jwt["security"], json!([{"bearer": []}]));
        assert_eq!(
            by_jwt["components"]["securitySchemes"]["bearer"]["bearerFormat"],
            "JWT"
        );
    }

    #[test]
    fn shedding_is_declared_everywhere_it_happens_and_the_rate_limit_only_when_set() {
        let registry = Registry::shipped();
        let open = document(&ApiConfig::default(), &registry);
        for (path, ops) in open["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                let sheds = !super::super::NEVER_SHED.contains(&path.as_str());
                let responses = &op["responses"];
                assert_eq!(responses.get("503").is_some(), sheds, "{method} {path}");
                if sheds {
                    assert!(responses["503"]["headers"].get("Retry-After").is_some());
                }
                assert!(
                    responses.get("429").is_none(),
                    "{method} {path}: no rate by default"
                );
            }
        }
        let config = ApiConfig {
            submit_rate: Some("10/s".parse().unwrap()),
            ..ApiConfig::default()
        };
        let limited = document(&config, &registry);
        let with_429: Vec<String> = limited["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, ops)| {
                ops.as_object()
                    .unwrap()
                    .iter()
                    .filter(|(_, op)| op["responses"].get("429").is_some())
                    .map(move |(method, _)| format!("{method} {path}"))
            })
            .collect();
        assert_eq!(with_429, ["post /v1/workflows"], "only submits are limited");
    }

    #[test]
    fn a_submit_names_a_loaded_type_with_its_declared_input() {
        let config = ApiConfig::default();
        let doc = document(&config, &Registry::shipped());
        let body = &doc["components"]["schemas"]["SubmitRequest"];
        assert_eq!(body["properties"]["type"]["enum"], json!(["purchase"]));
        let input = &body["properties"]["input"];
        assert_eq!(input["additionalProperties"], false);
        let required = input["required"].as_array().expect("required fields");
        assert_eq!(required.len(), 4, "{input}");
        assert!(required.contains(&json!("user_id")));
        assert_eq!(input["properties"]["quantity"]["type"], "integer");

        let mut registry = Registry::shipped();
        let text = include_str!("../../../../workflows/purchase.toml")
            .replace("name = \"purchase\"", "name = \"other\"");
        let other = crate::definition::Definition::parse(std::path::Path::new("o"), &text)
            .expect("a valid definition");
        registry.insert(other).expect("a new type");
        let doc = document(&config, &registry);
        let types: Vec<&Value> = doc["components"]["schemas"]["SubmitRequest"]["oneOf"]
            .as_array()
            .expect("one alternative per type")
            .iter()
            .map(|t| &t["properties"]["type"]["enum"][0])
            .collect();
        assert_eq!(types, [&json!("other"), &json!("purchase")]);

        let none = document(&config, &Registry::default());
        let name = &none["components"]["schemas"]["SubmitRequest"]["properties"]["type"];
        assert_eq!(name["minLength"], 1, "an empty type is never valid");
    }

    #[test]
    fn wait_declares_the_duration_syntax() {
        let doc = document(&ApiConfig::default(), &Registry::shipped());
        let wait = &doc["components"]["parameters"]["wait"]["schema"];
        assert_eq!(wait["pattern"], WAIT_PATTERN);
    }
}
