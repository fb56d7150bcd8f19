//! Workflow input checking: the fields a definition declares under `[input]`, with their
//! JSON types. Not a JSON-schema implementation: flat required fields, nothing more.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The JSON type a declared input field must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// A whole number (fits an `i64`).
    Integer,
    Number,
    String,
    Boolean,
    Object,
    Array,
    /// Any JSON value.
    Any,
}

impl FieldType {
    fn accepts(self, value: &Value) -> bool {
        match self {
            FieldType::Integer => value.as_i64().is_some(),
            FieldType::Number => value.is_number(),
            FieldType::String => value.is_string(),
            FieldType::Boolean => value.is_boolean(),
            FieldType::Object => value.is_object(),
            FieldType::Array => value.is_array(),
            FieldType::Any => !value.is_null(),
        }
    }
}

/// Why a workflow input was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("input must be a JSON object")]
    NotAnObject,
    #[error("input field `{0}` is required")]
    Missing(String),
    #[error("input field `{field}` must be of type {expected:?}")]
    WrongType { field: String, expected: FieldType },
    #[error("input field `{0}` is not declared by this workflow type")]
    Unknown(String),
}

/// Checks `input` against the declared `fields`: every one present with its type, no others.
pub fn check(fields: &BTreeMap<String, FieldType>, input: &Value) -> Result<(), InputError> {
    let object = input.as_object().ok_or(InputError::NotAnObject)?;
    for (name, expected) in fields {
        let value = object
            .get(name)
            .ok_or_else(|| InputError::Missing(name.clone()))?;
        if !expected.accepts(value) {
            return Err(InputError::WrongType {
                field: name.clone(),
                expected: *expected,
            });
        }
    }
    match object.keys().find(|k| !fields.contains_key(*k)) {
        Some(unknown) => Err(InputError::Unknown(unknown.clone())),
        None => Ok(()),
    }
}
