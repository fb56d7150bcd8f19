//! Workflow types as data: the TOML files under `workflows/`, checked when they load, and
//! the rendering of one activity's HTTP request from a step and the workflow's state.
//!
//! Not the decision of what runs next (that is `scheduler`) and not I/O beyond reading the
//! files (that is [`registry`]). A bad file is rejected with an error that names the file,
//! the step and the problem; nothing half-checked is ever used.
//!
//! One endpoint, one step: no two steps may call the same service and path (actions and
//! compensations alike, whatever the method) when both bodies carry `$workflow.id`. A TCC
//! participant keys its barrier by transaction id and phase, and the workflow id is the one
//! transaction id a template can give (there is no per-step id), so the second call would
//! replay the first's answer and take no effect: a second Try reserving nothing, a second
//! Cancel releasing nothing. Try and Confirm of one resource are different paths (different
//! phases) and stay allowed, as do calls that do not carry the workflow id.

mod input;
pub mod registry;
pub mod template;

pub use input::{FieldType, InputError};
pub use registry::Registry;

use crate::model::{ActivityKind, WorkflowId};
use crate::retry::RetryPolicy;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use template::{Context, Reference, Template};

/// Longest per-attempt timeout a definition may ask for.
const TIMEOUT_MS_MAX: u64 = 600_000;
/// Per-attempt timeout when neither the step nor the definition sets one.
const TIMEOUT_MS_DEFAULT: u64 = 5_000;

/// A definition that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: not a valid workflow definition: {message}")]
    Parse { file: PathBuf, message: String },
    #[error("{file}: {problem}")]
    Definition { file: PathBuf, problem: String },
    #[error("{file}: step `{step}`: {problem}")]
    Step {
        file: PathBuf,
        step: String,
        problem: String,
    },
    #[error(transparent)]
    SharedEndpoint(Box<SharedEndpoint>),
    #[error("{file}: workflow type `{name}` version {version} is already defined in {other}")]
    Duplicate {
        file: PathBuf,
        name: String,
        version: u32,
        other: PathBuf,
    },
}

/// Two steps that call one endpoint with the workflow id (see the module documentation).
#[derive(Debug, thiserror::Error)]
#[error(
    "{file}: steps `{first}` ({first_call}) and `{second}` ({second_call}) both call `{path}` \
     on service `{service}` with `$workflow.id`: the participant keys its barrier by \
     transaction id and phase, so the second call would replay the first's answer and take no \
     effect; give each step its own endpoint"
)]
pub struct SharedEndpoint {
    pub file: PathBuf,
    pub service: String,
    pub path: String,
    pub first: String,
    pub first_call: &'static str,
    pub second: String,
    pub second_call: &'static str,
}

/// A checked workflow type.
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    pub name: String,
    pub version: u32,
    pub description: String,
    /// Input fields every workflow of this type must carry, with their JSON types.
    pub input: BTreeMap<String, FieldType>,
    pub steps: Vec<Step>,
    /// Index of the last step before the pivot; `None` when every step can be compensated.
    pub pivot: Option<usize>,
    /// The file it was loaded from (for messages).
    pub source: PathBuf,
}

/// One checked step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub name: String,
    /// The participant service; the worker's configuration maps it to a base URL.
    pub service: String,
    pub action: Call,
    pub compensation: Option<Call>,
    /// Policy of the action (the README's before the pivot, persistent after it).
    pub action_retry: RetryPolicy,
    /// Policy of the compensation (persistent: compensations must eventually succeed).
    pub compensation_retry: RetryPolicy,
    pub timeout_ms: u64,
    /// True for steps after the pivot: never compensated, retried until they succeed.
    pub after_pivot: bool,
}

/// One HTTP call of a step.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub body: Template,
}

/// A rendered HTTP request, stored in the activity row and sent by the worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub service: String,
    pub method: String,
    pub path: String,
    pub body: Value,
    pub timeout_ms: u64,
    /// Sent as the `Idempotency-Key` header: `{workflow_id}:{step}:{kind}`.
    pub idempotency_key: String,
}

impl Definition {
    /// Parses and checks one definition file's text.
    pub fn parse(file: &Path, text: &str) -> Result<Definition, Error> {
        let raw: raw::Definition = toml::from_str(text).map_err(|e| Error::Parse {
            file: file.to_owned(),
            message: e.to_string(),
        })?;
        raw.check(file)
    }

    /// The step at `index`; panics on an index the journal could not hold (a bug).
    pub fn step(&self, index: u32) -> &Step {
        &self.steps[index as usize]
    }

    /// Number of steps, as the journal counts them.
    pub fn step_count(&self) -> u32 {
        self.steps.len() as u32
    }

    /// The retry policy that governs one activity of this type.
    pub fn policy(&self, step: u32, kind: ActivityKind) -> RetryPolicy {
        let step = self.step(step);
        match kind {
            ActivityKind::Action => step.action_retry,
            ActivityKind::Compensation => step.compensation_retry,
        }
    }

    /// Checks a workflow input against the declared fields.
    pub fn check_input(&self, input: &Value) -> Result<(), InputError> {
        input::check(&self.input, input)
    }

    /// Renders the request of one activity from the workflow's input and the outputs so far.
    /// Fails when a referenced value is missing (an earlier step answered without it).
    pub fn render(
        &self,
        workflow_id: WorkflowId,
        step: u32,
        kind: ActivityKind,
        input: &Value,
        outputs: &BTreeMap<String, Value>,
    ) -> Result<Request, String> {
        let s = self.step(step);
        let call = match kind {
            ActivityKind::Action => &s.action,
            ActivityKind::Compensation => s
                .compensation
                .as_ref()
                .expect("a compensation activity exists only for steps that have one"),
        };
        let id = workflow_id.to_string();
        let ctx = Context {
            workflow_id: &id,
            workflow_type: &self.name,
            input,
            outputs,
        };
        Ok(Request {
            service: s.service.clone(),
            method: call.method.clone(),
            path: call.path.clone(),
            body: call.body.render(&ctx)?,
            timeout_ms: s.timeout_ms,
            idempotency_key: format!("{id}:{}:{kind}", s.name),
        })
    }
}

/// The file format, before checking.
mod raw {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Definition {
        pub name: String,
        pub version: u32,
        #[serde(default)]
        pub description: String,
        #[serde(default)]
        pub pivot_after: Option<String>,
        #[serde(default)]
        pub input: BTreeMap<String, FieldType>,
        #[serde(default)]
        pub retry: Option<RetryPolicy>,
        #[serde(default)]
        pub persistent_retry: Option<RetryPolicy>,
        #[serde(default)]
        pub timeout_ms: Option<u64>,
        pub steps: Vec<Step>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Step {
        pub name: String,
        pub service: String,
        pub action: Call,
        #[serde(default)]
        pub compensation: Option<Call>,
        #[serde(default)]
        pub retry: Option<RetryPolicy>,
        #[serde(default)]
        pub compensation_retry: Option<RetryPolicy>,
        #[serde(default)]
        pub timeout_ms: Option<u64>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Call {
        #[serde(default = "post")]
        pub method: String,
        pub path: String,
        #[serde(default)]
        pub body: Option<Value>,
    }

    fn post() -> String {
        "POST".into()
    }
}

impl raw::Definition {
    fn check(self, file: &Path) -> Result<Definition, Error> {
        let def_err = |problem: String| Error::Definition {
            file: file.to_owned(),
            problem,
        };
        if !is_identifier(&self.name) {
            return Err(def_err(format!(
                "name `{}` must be letters, digits, `_` or `-`",
                self.name
            )));
        }
        if self.version == 0 {
            return Err(def_err("version must be at least 1".into()));
        }
        if self.steps.is_empty() {
            return Err(def_err("a workflow type needs at least one step".into()));
        }
        for policy in [&self.retry, &self.persistent_retry].into_iter().flatten() {
            policy
                .validate()
                .map_err(|p| def_err(format!("retry policy: {p}")))?;
        }
        let pivot = match &self.pivot_after {
            None => None,
            Some(name) => Some(
                self.steps
                    .iter()
                    .position(|s| &s.name == name)
                    .ok_or_else(|| def_err(format!("pivot_after names no step: `{name}`")))?,
            ),
        };
        let mut seen = HashSet::new();
        let mut steps = Vec::with_capacity(self.steps.len());
        for (index, raw) in self.steps.into_iter().enumerate() {
            let name = raw.name.clone();
            let step_err = |problem: String| Error::Step {
                file: file.to_owned(),
                step: name.clone(),
                problem,
            };
            if !is_identifier(&raw.name) {
                return Err(step_err(
                    "step names must be letters, digits, `_` or `-`".into(),
                ));
            }
            if !seen.insert(raw.name.clone()) {
                return Err(step_err("two steps have this name".into()));
            }
            let ctx = StepContext {
                after_pivot: pivot.is_some_and(|p| index > p),
                earlier: &seen,
                input: &self.input,
                retry: self.retry,
                persistent_retry: self.persistent_retry,
                timeout_ms: self.timeout_ms,
            };
            steps.push(raw.check(&ctx).map_err(step_err)?);
        }
        one_step_per_endpoint(file, &steps)?;
        Ok(Definition {
            name: self.name,
            version: self.version,
            description: self.description,
            input: self.input,
            steps,
            pivot,
            source: file.to_owned(),
        })
    }
}

/// What a step's check needs to know about the definition around it.
struct StepContext<'a> {
    after_pivot: bool,
    /// Names of this step and the steps before it.
    earlier: &'a HashSet<String>,
    input: &'a BTreeMap<String, FieldType>,
    retry: Option<RetryPolicy>,
    persistent_retry: Option<RetryPolicy>,
    timeout_ms: Option<u64>,
}

impl raw::Step {
    fn check(self, ctx: &StepContext<'_>) -> Result<Step, String> {
        if self.service.trim().is_empty() {
            return Err("service must not be empty".into());
        }
        if ctx.after_pivot && self.compensation.is_some() {
            return Err(
                "a step after the pivot is never compensated; remove its compensation".into(),
            );
        }
        let persistent = self
            .compensation_retry
            .or(ctx.persistent_retry)
            .unwrap_or(RetryPolicy::PERSISTENT);
        let action_retry = match (self.retry, ctx.after_pivot) {
            (Some(p), _) => p,
            (None, false) => ctx.retry.unwrap_or(RetryPolicy::README),
            (None, true) => ctx.persistent_retry.unwrap_or(RetryPolicy::PERSISTENT),
        };
        for policy in [&action_retry, &persistent] {
            policy
                .validate()
                .map_err(|p| format!("retry policy: {p}"))?;
        }
        let timeout_ms = self
            .timeout_ms
            .or(ctx.timeout_ms)
            .unwrap_or(TIMEOUT_MS_DEFAULT);
        if timeout_ms == 0 || timeout_ms > TIMEOUT_MS_MAX {
            return Err(format!("timeout_ms must be between 1 and {TIMEOUT_MS_MAX}"));
        }
        let own_name = self.name.as_str();
        let action = self.action.check("action", ctx, own_name)?;
        let compensation = match self.compensation {
            Some(call) => Some(call.check("compensation", ctx, own_name)?),
            None => None,
        };
        Ok(Step {
            name: self.name,
            service: self.service,
            action,
            compensation,
            action_retry,
            compensation_retry: persistent,
            timeout_ms,
            after_pivot: ctx.after_pivot,
        })
    }
}

impl raw::Call {
    /// `own` is the step this call belongs to: neither its action nor its compensation may use
    /// its output (a compensation also runs when the action's outcome is unknown).
    fn check(self, what: &str, ctx: &StepContext<'_>, own: &str) -> Result<Call, String> {
        let method = self.method.to_ascii_uppercase();
        if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
            return Err(format!("{what}: unsupported method `{}`", self.method));
        }
        if !self.path.starts_with('/') {
            return Err(format!("{what}: path `{}` must start with `/`", self.path));
        }
        let body = Template::new(
            self.body
                .unwrap_or_else(|| Value::Object(Default::default())),
        );
        for reference in body.references().map_err(|e| format!("{what}: {e}"))? {
            match reference {
                Reference::Input { field, .. } if !ctx.input.contains_key(&field) => {
                    return Err(format!(
                        "{what}: `$input.{field}` is not declared in [input]"
                    ));
                }
                Reference::Step { step, .. } if !ctx.earlier.contains(&step) || step == own => {
                    return Err(format!("{what}: `$steps.{step}` is not an earlier step"));
                }
                _ => {}
            }
        }
        Ok(Call {
            method,
            path: self.path,
            body,
        })
    }
}

/// The same-endpoint rule of the module documentation: the first pair of steps whose calls
/// share a service and path while both carry `$workflow.id` is an error.
fn one_step_per_endpoint(file: &Path, steps: &[Step]) -> Result<(), Error> {
    let mut callers: BTreeMap<(&str, &str), (&str, &'static str)> = BTreeMap::new();
    for step in steps {
        let calls = [
            ("action", Some(&step.action)),
            ("compensation", step.compensation.as_ref()),
        ];
        for (what, call) in calls {
            let Some(call) = call else { continue };
            let carries_workflow_id = call
                .body
                .references()
                .map_err(|problem| Error::Step {
                    file: file.to_owned(),
                    step: step.name.clone(),
                    problem,
                })?
                .contains(&Reference::WorkflowId);
            if !carries_workflow_id {
                continue;
            }
            let endpoint = (step.service.as_str(), call.path.as_str());
            match callers.get(&endpoint) {
                Some(&(first, first_call)) if first != step.name => {
                    return Err(Error::SharedEndpoint(Box::new(SharedEndpoint {
                        file: file.to_owned(),
                        service: step.service.clone(),
                        path: call.path.clone(),
                        first: first.to_owned(),
                        first_call,
                        second: step.name.clone(),
                        second_call: what,
                    })));
                }
                Some(_) => {}
                None => {
                    callers.insert(endpoint, (step.name.as_str(), what));
                }
            }
        }
    }
    Ok(())
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests;
