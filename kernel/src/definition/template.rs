//! Request-body templates: JSON values whose `$`-strings refer to the workflow input, earlier
//! steps' outputs or the workflow itself, and their rendering into concrete JSON.
//!
//! A string that is exactly a reference is replaced by the referenced value, keeping its JSON
//! type (`"$input.quantity"` becomes the number `1`). References:
//! `$input.<field>[.<path>]`, `$steps.<step>.<path>`, `$workflow.id`, `$workflow.type`.
//! A literal string starting with `$` is written `$$...`. Not a general template language:
//! no string interpolation, no expressions.

use serde_json::Value;
use std::collections::BTreeMap;

/// One parsed `$` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// A field of the workflow input, then a path inside it.
    Input { field: String, path: Vec<String> },
    /// A path inside the output of an earlier step.
    Step { step: String, path: Vec<String> },
    /// The workflow id (the TCC transaction id).
    WorkflowId,
    /// The workflow type's name.
    WorkflowType,
}

impl Reference {
    /// Parses the text after the leading `$`.
    pub fn parse(text: &str) -> Result<Reference, String> {
        let mut parts = text.split('.');
        let root = parts.next().unwrap_or_default();
        let rest: Vec<String> = parts.map(str::to_owned).collect();
        if rest.iter().any(String::is_empty) {
            return Err(format!("reference `${text}` has an empty path segment"));
        }
        match (root, rest.as_slice()) {
            ("workflow", [one]) if one == "id" => Ok(Reference::WorkflowId),
            ("workflow", [one]) if one == "type" => Ok(Reference::WorkflowType),
            ("input", [field, path @ ..]) => Ok(Reference::Input {
                field: field.clone(),
                path: path.to_vec(),
            }),
            ("steps", [step, path @ ..]) if !path.is_empty() => Ok(Reference::Step {
                step: step.clone(),
                path: path.to_vec(),
            }),
            _ => Err(format!(
                "unknown reference `${text}` (use $input.<field>, $steps.<step>.<field>, \
                 $workflow.id or $workflow.type; write $$ for a literal $)"
            )),
        }
    }
}

/// What a template is rendered against.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub workflow_id: &'a str,
    pub workflow_type: &'a str,
    pub input: &'a Value,
    pub outputs: &'a BTreeMap<String, Value>,
}

/// A request body with references, checked when the definition loads.
#[derive(Debug, Clone, PartialEq)]
pub struct Template(Value);

impl Template {
    /// Wraps a body; the caller validates its references with [`Template::references`].
    pub fn new(body: Value) -> Template {
        Template(body)
    }

    /// Every reference in the body, in document order.
    pub fn references(&self) -> Result<Vec<Reference>, String> {
        let mut refs = Vec::new();
        collect(&self.0, &mut refs)?;
        Ok(refs)
    }

    /// The concrete body. Fails when a referenced value is missing (for example an earlier
    /// step answered without a field this template needs).
    pub fn render(&self, ctx: &Context<'_>) -> Result<Value, String> {
        render(&self.0, ctx)
    }
}

fn collect(value: &Value, refs: &mut Vec<Reference>) -> Result<(), String> {
    match value {
        Value::String(s) => {
            if let Some(text) = reference_text(s) {
                refs.push(Reference::parse(text)?);
            }
        }
        Value::Array(items) => items.iter().try_for_each(|v| collect(v, refs))?,
        Value::Object(map) => map.values().try_for_each(|v| collect(v, refs))?,
        _ => {}
    }
    Ok(())
}

/// `Some(text after $)` for a reference, `None` for a literal (including `$$` escapes).
fn reference_text(s: &str) -> Option<&str> {
    let text = s.strip_prefix('$')?;
    (!text.starts_with('$')).then_some(text)
}

fn render(value: &Value, ctx: &Context<'_>) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => match reference_text(s) {
            Some(text) => resolve(&Reference::parse(text)?, ctx)?,
            None => Value::String(s.strip_prefix('$').map_or_else(|| s.clone(), str::to_owned)),
        },
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render(v, ctx))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render(v, ctx)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

fn resolve(reference: &Reference, ctx: &Context<'_>) -> Result<Value, String> {
    let (root, path, what) = match reference {
        Reference::WorkflowId => return Ok(Value::String(ctx.workflow_id.to_owned())),
        Reference::WorkflowType => return Ok(Value::String(ctx.workflow_type.to_owned())),
        Reference::Input { field, path } => (ctx.input.get(field), path, format!("input.{field}")),
        Reference::Step { step, path } => (ctx.outputs.get(step), path, format!("steps.{step}")),
    };
    let mut current = root.ok_or_else(|| format!("`{what}` is missing"))?;
    for segment in path {
        current = match current {
            Value::Object(map) => map.get(segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        }
        .ok_or_else(|| format!("`{what}` has no `{}`", path.join(".")))?;
    }
    Ok(current.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx<'a>(input: &'a Value, outputs: &'a BTreeMap<String, Value>) -> Context<'a> {
        Context {
            workflow_id: "wf-1",
            workflow_type: "purchase",
            input,
            outputs,
        }
    }

    #[test]
    fn references_keep_their_json_type() {
        let t = Template::new(json!({
            "transaction_id": "$workflow.id",
            "amount": "$steps.quote.amount",
            "quantity": "$input.quantity",
            "nested": ["$input.meta.tag", "$$literal", "plain"]
        }));
        let input = json!({"quantity": 3, "meta": {"tag": "x"}});
        let outputs = BTreeMap::from([("quote".to_owned(), json!({"amount": 300}))]);
        let body = t.render(&ctx(&input, &outputs)).unwrap();
        assert_eq!(
            body,
            json!({"transaction_id": "wf-1", "amount": 300, "quantity": 3,
                   "nested": ["x", "$literal", "plain"]})
        );
    }

    #[test]
    fn missing_values_are_errors_that_name_them() {
        let t = Template::new(json!({"amount": "$steps.quote.amount"}));
        let input = json!({});
        let outputs = BTreeMap::from([("quote".to_owned(), json!({"price": 1}))]);
        let err = t.render(&ctx(&input, &outputs)).unwrap_err();
        assert!(
            err.contains("steps.quote") && err.contains("amount"),
            "{err}"
        );
        let err = t.render(&ctx(&input, &BTreeMap::new())).unwrap_err();
        assert!(err.contains("missing"), "{err}");
    }

    #[test]
    fn parse_rejects_unknown_roots_and_empty_segments() {
        assert!(Reference::parse("env.HOME").is_err());
        assert!(
            Reference::parse("steps.quote").is_err(),
            "a step reference needs a field"
        );
        assert!(Reference::parse("input..x").is_err());
        assert_eq!(
            Reference::parse("input.user_id").unwrap(),
            Reference::Input {
                field: "user_id".into(),
                path: vec![]
            }
        );
    }
}
