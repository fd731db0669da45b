//! Reading JSON bodies as their published schema has them: malformed text is `Malformed`,
//! a well-formed body of the wrong shape `Invalid`, naming where.

use schemars::{JsonSchema, SchemaGenerator};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, ErrorCode};

/// Parses JSON into `T` as its published schema has it: besides what serde checks, an array
/// is refused where the schema wants an object (serde would fill a struct from an array by
/// position).
pub fn parse_json<T: DeserializeOwned + JsonSchema>(bytes: &[u8]) -> Result<T, Error> {
    if std::str::from_utf8(bytes).is_err() {
        return Err(Error::malformed(
            ErrorCode::InvalidEncoding,
            "the body must be UTF-8 JSON",
        ));
    }
    // The schema costs tens of microseconds to make: only a body with an array needs it.
    if bytes.contains(&b'[') {
        let value: Value = serde_json::from_slice(bytes).map_err(json_error)?;
        let schema = SchemaGenerator::default().into_root_schema_for::<T>();
        let root = schema.as_value();
        if let Some(path) = misplaced_array(&value, root, root, "body") {
            return Err(Error::invalid(format!("{path} must not be an array")));
        }
    }
    // From the bytes, not the parsed value: serde then refuses duplicate fields, which a
    // parsed object has already collapsed to the last.
    serde_json::from_slice(bytes).map_err(json_error)
}

/// 400 for text that is not JSON, 422 for JSON of the wrong shape.
pub fn json_error(err: serde_json::Error) -> Error {
    use serde_json::error::Category;
    match err.classify() {
        Category::Data => Error::invalid(err.to_string()),
        Category::Syntax | Category::Eof | Category::Io => {
            Error::malformed(ErrorCode::InvalidJson, err.to_string())
        }
    }
}

/// The path of the first array in `value` where `schema` takes no array.
fn misplaced_array(value: &Value, schema: &Value, root: &Value, path: &str) -> Option<String> {
    match value {
        Value::Array(items) => {
            if !accepts_array(schema, root, 0) {
                return Some(path.to_string());
            }
            let items_schema = single(schema, root, 0, &|s| s.get("items"))?;
            items.iter().enumerate().find_map(|(i, item)| {
                misplaced_array(item, items_schema, root, &format!("{path}[{i}]"))
            })
        }
        Value::Object(fields) => {
            let object = single(schema, root, 0, &|s| {
                (s.get("properties").is_some() || s.get("additionalProperties").is_some())
                    .then_some(s)
            })?;
            fields.iter().find_map(|(name, field)| {
                let field_schema = object
                    .get("properties")
                    .and_then(|p| p.get(name))
                    .or_else(|| object.get("additionalProperties").filter(|a| a.is_object()))?;
                misplaced_array(field, field_schema, root, &format!("{path}.{name}"))
            })
        }
        _ => None,
    }
}

/// Follows `$ref`s within the root schema.
fn resolve<'s>(schema: &'s Value, root: &'s Value) -> &'s Value {
    let mut schema = schema;
    for _ in 0..16 {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => match root.pointer(r.trim_start_matches('#')) {
                Some(target) => schema = target,
                None => break,
            },
            None => break,
        }
    }
    schema
}

const ALTERNATIVES: [&str; 2] = ["anyOf", "oneOf"];

fn accepts_array(schema: &Value, root: &Value, depth: usize) -> bool {
    let schema = resolve(schema, root);
    if depth > 16 || schema.as_bool().is_some() {
        return true;
    }
    if let Some(kind) = schema.get("type") {
        return match kind {
            Value::String(t) => t == "array",
            Value::Array(ts) => ts.iter().any(|t| t == "array"),
            _ => true,
        };
    }
    match ALTERNATIVES.iter().find_map(|k| schema.get(*k)?.as_array()) {
        Some(alternatives) => alternatives
            .iter()
            .any(|a| accepts_array(a, root, depth + 1)),
        None => true,
    }
}

/// The one schema among `schema` and its alternatives for which `pick` gives something.
fn single<'s>(
    schema: &'s Value,
    root: &'s Value,
    depth: usize,
    pick: &dyn Fn(&'s Value) -> Option<&'s Value>,
) -> Option<&'s Value> {
    let schema = resolve(schema, root);
    if let Some(found) = pick(schema) {
        return Some(found);
    }
    if depth > 16 {
        return None;
    }
    let alternatives = ALTERNATIVES
        .iter()
        .find_map(|k| schema.get(*k)?.as_array())?;
    let mut found = alternatives
        .iter()
        .filter_map(|a| single(a, root, depth + 1, pick));
    match (found.next(), found.next()) {
        (Some(one), None) => Some(one),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, JsonSchema)]
    #[allow(dead_code)] // Fields are read by the schema and by serde, not by the test.
    struct Inner {
        a: Option<String>,
        b: Option<String>,
    }

    #[derive(Debug, serde::Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Outer {
        #[serde(default)]
        inner: Option<Inner>,
        #[serde(default)]
        list: Vec<Inner>,
        #[serde(default)]
        tags: Vec<String>,
    }

    #[test]
    fn arrays_are_refused_where_objects_belong() {
        let refused = |body: &str| parse_json::<Outer>(body.as_bytes()).unwrap_err();
        for (body, path) in [
            ("[null, null, null]", "body"),
            (r#"{"inner": ["x", "y"]}"#, "body.inner"),
            (r#"{"list": [{"a": "x"}, ["y"]]}"#, "body.list[1]"),
        ] {
            let err = refused(body);
            assert_eq!(err.code(), ErrorCode::InvalidField, "{body}");
            assert_eq!(err.message(), format!("{path} must not be an array"));
        }
        let ok =
            parse_json::<Outer>(br#"{"inner": {"a": "x"}, "list": [{"b": "y"}], "tags": ["t"]}"#)
                .unwrap();
        assert_eq!((ok.list.len(), ok.tags.len()), (1, 1));
        assert_eq!(refused("{").code(), ErrorCode::InvalidJson);
        assert_eq!(
            refused(r#"{"list": [], "list": [{"a": "x"}]}"#).code(),
            ErrorCode::InvalidField,
            "duplicate field"
        );
        assert_eq!(
            refused(r#"{"tags": []} trailing"#).code(),
            ErrorCode::InvalidJson
        );
        assert_eq!(refused(r#"{"tags": "t"}"#).code(), ErrorCode::InvalidField);
    }
}
