//! The HTTP API (docs/api.md): submit, query, abort and retry workflows, list workflow types,
//! health, readiness, metrics and an OpenAPI document, as one axum [`Router`].
//!
//! The only module that speaks HTTP and JSON wire types. Not a server: the caller binds a
//! listener and serves [`router`]. Not a decision-maker: every operation is one store call.
//! Every refusal is JSON `{"error": {"code", "message"}}` from [`Error`]; no SQL ever leaks.

mod auth;
pub mod console;
mod error;
mod extract;
mod limit;
mod openapi;
mod ops;
mod overview;
mod watch;
mod wire;
mod workflows;

pub use auth::{jwt, token, Caller, Failure, Jwt, Scope, Scopes};
pub use error::Error;
pub use limit::SubmitRate;
pub use watch::{Waiter, Watcher};

use crate::definition::Registry;
use crate::store::Store;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;
use std::fmt;
use std::sync::Arc;

/// Limits and auth of the API.
#[derive(Clone)]
pub struct ApiConfig {
    /// Largest request body; larger is 413 `BODY_TOO_LARGE`.
    pub body_bytes_max: usize,
    /// Deepest nesting of arrays and objects in a JSON body; deeper is 400 `TOO_DEEP`.
    pub json_depth_max: usize,
    /// Longest JSON string or object key in a body; longer is 400 `STRING_TOO_LONG`.
    /// (The `Idempotency-Key` header's limit is the store's `Limits`.)
    pub string_bytes_max: usize,
    /// Accepted static bearer tokens (each carries every scope).
    pub tokens: Vec<String>,
    /// Accepted JWTs: keys, secret and required claims. With neither tokens nor a JWT key,
    /// the API asks for no credentials.
    pub jwt: Option<auth::Jwt>,
    /// Longest `?wait=`; a longer wait is shortened to it.
    pub wait_ms_max: u64,
    /// Requests handled at once; more are shed with 503 `OVERLOADED` (a `?wait=` gives its
    /// slot back while it waits; `/healthz` and `/metrics` are never shed).
    pub requests_in_flight_max: usize,
    /// Submits per caller (token or client address); over it is 429 `RATE_LIMITED`. `None`:
    /// no limit.
    pub submit_rate: Option<SubmitRate>,
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            body_bytes_max: 64 * 1024,
            json_depth_max: 32,
            string_bytes_max: 4096,
            tokens: Vec::new(),
            jwt: None,
            wait_ms_max: 30_000,
            requests_in_flight_max: httpguard::Limits::REQUESTS_IN_FLIGHT_MAX,
            submit_rate: None,
        }
    }
}

impl fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiConfig")
            .field("body_bytes_max", &self.body_bytes_max)
            .field("json_depth_max", &self.json_depth_max)
            .field("string_bytes_max", &self.string_bytes_max)
            .field("tokens", &format_args!("[{} redacted]", self.tokens.len()))
            .field("jwt", &self.jwt)
            .field("wait_ms_max", &self.wait_ms_max)
            .field("requests_in_flight_max", &self.requests_in_flight_max)
            .field("submit_rate", &self.submit_rate)
            .finish()
    }
}

/// Renders this process's metrics as Prometheus text.
pub type MetricsRender = Arc<dyn Fn() -> String + Send + Sync>;

/// Called after a submit created a workflow (not for an idempotent repeat): wakes idle
/// workers (ARCHITECTURE.md, "Wake-ups"). Must not block.
pub type SubmitHook = Arc<dyn Fn() + Send + Sync>;

/// What the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    store: Store,
    registry: Arc<Registry>,
    config: Arc<ApiConfig>,
    watcher: Watcher,
    metrics: Option<MetricsRender>,
    on_submit: Option<SubmitHook>,
    /// This process runs workers: the overview can count their fenced writes.
    local_workers: bool,
    /// The cap on requests in flight.
    in_flight: httpguard::InFlight,
    /// The per-caller submit rate, when configured.
    submit_limiter: Option<Arc<limit::SubmitLimiter>>,
}

impl ApiState {
    /// The API over `store` and `registry`. `watcher` wakes `?wait=` requests: feed it from
    /// the in-process worker ([`Watcher::notify_finished`]) or start its poller
    /// ([`Watcher::spawn_poller`]); without either, a wait always runs to its end.
    pub fn new(
        store: Store,
        registry: Arc<Registry>,
        config: ApiConfig,
        watcher: Watcher,
    ) -> ApiState {
        let shed: httpguard::Shed = Arc::new(|| {
            use axum::response::IntoResponse;
            crate::metrics::http_shed();
            Error::Overloaded {
                retry_after_secs: OVERLOADED_RETRY_AFTER_SECS,
            }
            .into_response()
        });
        let in_flight =
            httpguard::InFlight::new(config.requests_in_flight_max, shed).exempt(NEVER_SHED);
        let submit_limiter = config
            .submit_rate
            .map(|rate| Arc::new(limit::SubmitLimiter::new(rate)));
        ApiState {
            store,
            registry,
            config: Arc::new(config),
            watcher,
            metrics: None,
            on_submit: None,
            local_workers: false,
            in_flight,
            submit_limiter,
        }
    }

    /// Serves `render()` at `/metrics` (otherwise 404).
    pub fn with_metrics(mut self, render: MetricsRender) -> ApiState {
        self.metrics = Some(render);
        self
    }

    /// Says that this process runs workers, so the overview reports their fenced writes.
    pub fn with_local_workers(mut self) -> ApiState {
        self.local_workers = true;
        self
    }

    /// Calls `hook` after each submit that creates a workflow.
    pub fn with_on_submit(mut self, hook: SubmitHook) -> ApiState {
        self.on_submit = Some(hook);
        self
    }
}

/// The `Retry-After` of a shed request: a request in flight takes milliseconds, so a second
/// is plenty (and the smallest the header can say).
const OVERLOADED_RETRY_AFTER_SECS: u64 = 1;

/// Paths the in-flight cap never sheds: the liveness probe (a process under load is alive;
/// failing it would get it restarted when it is busiest) and `/metrics` (which is how an
/// operator sees the overload).
const NEVER_SHED: &[&str] = &["/healthz", "/metrics"];

/// What a route asks of its caller when the API asks for credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credentials (the health probes).
    Open,
    /// A caller holding this scope.
    Needs(Scope),
}

/// One route: a method on a path, what it asks of the caller, and its handler.
struct Endpoint {
    method: Method,
    path: &'static str,
    access: Access,
    handler: MethodRouter<ApiState>,
}

fn endpoint<H: Handler<T, ApiState>, T: 'static>(
    method: Method,
    path: &'static str,
    access: Access,
    handler: H,
) -> Endpoint {
    let filter = MethodFilter::try_from(method.clone()).expect("a routable method");
    let handler = match access {
        Access::Open => on(filter, handler),
        Access::Needs(scope) => on(filter, handler).route_layer(
            axum::middleware::from_fn_with_state(scope, auth::require_scope),
        ),
    };
    Endpoint {
        method,
        path,
        access,
        handler,
    }
}

/// Every route of the API with the access it needs: the route table. [`router`] is built
/// from this list alone, so [`routes`] (and the tests that hold the OpenAPI document and the
/// scopes to it) see exactly what is served.
fn endpoints() -> Vec<Endpoint> {
    use Access::{Needs, Open};
    use Scope::{Operate, Read, Submit};
    vec![
        endpoint(
            Method::POST,
            "/v1/workflows",
            Needs(Submit),
            workflows::submit,
        ),
        endpoint(Method::GET, "/v1/workflows", Needs(Read), workflows::list),
        endpoint(
            Method::GET,
            "/v1/workflows/{id}",
            Needs(Read),
            workflows::get,
        ),
        endpoint(
            Method::POST,
            "/v1/workflows/{id}/abort",
            Needs(Operate),
            workflows::abort,
        ),
        endpoint(
            Method::POST,
            "/v1/workflows/{id}/retry",
            Needs(Operate),
            workflows::retry,
        ),
        endpoint(
            Method::GET,
            "/v1/workflow-types",
            Needs(Read),
            workflows::workflow_types,
        ),
        endpoint(Method::GET, "/v1/overview", Needs(Read), overview::overview),
        endpoint(Method::GET, "/healthz", Open, ops::healthz),
        endpoint(Method::GET, "/readyz", Open, ops::readyz),
        endpoint(Method::GET, "/metrics", Needs(Read), ops::metrics),
        endpoint(Method::GET, "/openapi.json", Needs(Read), ops::openapi_json),
    ]
}

/// The method, path and access of every route the router serves.
pub fn route_access() -> Vec<(Method, &'static str, Access)> {
    endpoints()
        .into_iter()
        .map(|e| (e.method, e.path, e.access))
        .collect()
}

/// The method and path of every route the router serves.
pub fn routes() -> Vec<(Method, &'static str)> {
    endpoints()
        .into_iter()
        .map(|e| (e.method, e.path))
        .collect()
}

/// The OpenAPI 3.0 document describing every route, as a server with `config` and
/// `registry` serves it.
pub fn openapi_document(config: &ApiConfig, registry: &Registry) -> serde_json::Value {
    openapi::document(config, registry)
}

/// The API as a router, with the web console at `/ui/` ([`console`]): authentication (when
/// tokens or JWT keys are configured) runs before routing, each route's scope check after it;
/// unknown routes and wrong methods answer JSON errors too. Each request runs in a task of its own
/// ([`detach`]): a client that hangs up does not cut a handler short.
pub fn router(state: ApiState) -> Router {
    let body_bytes_max = state.config.body_bytes_max;
    endpoints()
        .into_iter()
        .fold(Router::new(), |router, e| router.route(e.path, e.handler))
        .merge(console::router())
        .fallback(ops::no_route)
        .method_not_allowed_fallback(ops::wrong_method)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(DefaultBodyLimit::max(body_bytes_max))
        .layer(axum::middleware::from_fn_with_state(
            state.in_flight.clone(),
            httpguard::limit_in_flight,
        ))
        .layer(axum::middleware::from_fn(record_request))
        .layer(axum::middleware::from_fn(detach))
        .with_state(state)
}

/// Runs the rest of the request in a task of its own and awaits it, so that a client hanging
/// up (hyper then drops the request future) no longer cancels the handler halfway through a
/// store call: every request that arrived runs to its end, its transaction commits or rolls
/// back, and only the answer is lost. The cost: an abandoned `?wait=` keeps its task until
/// the wait ends (at most `wait_ms_max`). A handler that panics is answered 500 instead of
/// taking the connection down.
async fn detach(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match tokio::spawn(next.run(request)).await {
        Ok(response) => response,
        Err(join) => Error::Panicked(join.to_string()).into_response(),
    }
}

/// Counts and times every request by method, route template and status (never the raw
/// path: ids would make the labels unbounded).
async fn record_request(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    crate::metrics::http_request(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The route table's scopes, as docs/api.md documents them: reads need `read`, the submit
    /// `submit`, abort and retry `operate`, and only the probes are open. A route added
    /// without a line here fails this test.
    #[test]
    fn every_route_has_the_documented_access() {
        use Access::{Needs, Open};
        use Scope::{Operate, Read, Submit};
        let expected = [
            ("POST", "/v1/workflows", Needs(Submit)),
            ("GET", "/v1/workflows", Needs(Read)),
            ("GET", "/v1/workflows/{id}", Needs(Read)),
            ("POST", "/v1/workflows/{id}/abort", Needs(Operate)),
            ("POST", "/v1/workflows/{id}/retry", Needs(Operate)),
            ("GET", "/v1/workflow-types", Needs(Read)),
            ("GET", "/v1/overview", Needs(Read)),
            ("GET", "/healthz", Open),
            ("GET", "/readyz", Open),
            ("GET", "/metrics", Needs(Read)),
            ("GET", "/openapi.json", Needs(Read)),
        ];
        let served: Vec<(String, &str, Access)> = route_access()
            .into_iter()
            .map(|(m, p, a)| (m.to_string(), p, a))
            .collect();
        let expected: Vec<(String, &str, Access)> = expected
            .into_iter()
            .map(|(m, p, a)| (m.to_owned(), p, a))
            .collect();
        assert_eq!(served, expected);
    }

    /// An open route is exactly one the auth layer lets through without a token: otherwise a
    /// route would be open in the table but guarded (or the reverse) before routing.
    #[test]
    fn open_routes_are_the_public_paths() {
        for (method, path, access) in route_access() {
            assert_eq!(
                access == Access::Open,
                auth::is_public(path),
                "{method} {path}"
            );
        }
    }
}
