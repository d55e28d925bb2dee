//! Reading a request body: within the size limit, within the body deadline,
//! then parsed as a token or revoke request.
//!
//! The JSON is read strictly: a field the body's object gives twice, or a
//! number out of range, is refused naming the field (422), where a plain
//! `serde_json::Value` would keep the last of the two in silence, or call the
//! whole body not JSON.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Incoming};
use serde::Deserializer;
use serde::de::{DeserializeSeed, MapAccess, Visitor};
use serde_json::{Map, Value};
use vanta_shared::ErrorCode;
use vanta_shared::api::FieldError;
use vanta_shared::defaults::MAX_BODY_BYTES;

use super::error::ApiError;

/// A request body that was read, whether or not its fields are valid.
pub struct JsonBody<T> {
    /// The JSON as sent (the first value of a repeated field): the audit
    /// record echoes its names even when refused.
    pub raw: Value,
    /// The checked request, or why its fields are wrong (422).
    pub parsed: Result<T, ApiError>,
}

/// Reads at most 64 KiB within `deadline` and checks it with `parse`
/// (`GenerateTokenRequest::from_json`, `RevokeTokenRequest::from_json`).
///
/// # Errors
/// 413 over the limit (at once when the declared length is), 408 past the
/// deadline, 400 if the bytes are not JSON or the connection fails mid-body,
/// 422 for a number out of range.
pub async fn read_request<T>(
    body: Incoming,
    deadline: Duration,
    parse: impl FnOnce(&Value) -> Result<T, FieldError>,
) -> Result<JsonBody<T>, ApiError> {
    let bytes = read_bytes(body, deadline).await?;
    let StrictJson { value: raw, repeated } = parse_strict(&bytes)?;
    let parsed = match repeated {
        Some(field) => Err(ApiError::repeated_field(&field)),
        None => parse(&raw).map_err(|err| ApiError::with_message(ErrorCode::ValidationError, err.to_string())),
    };
    Ok(JsonBody { raw, parsed })
}

async fn read_bytes(body: Incoming, deadline: Duration) -> Result<Bytes, ApiError> {
    // `Limited` counts only bytes that arrived: a body declared too long but
    // sent slowly (or never) would hold the connection until the deadline.
    if declared_too_long(&body) {
        return Err(ApiError::of(ErrorCode::PayloadTooLarge));
    }
    match tokio::time::timeout(deadline, Limited::new(body, MAX_BODY_BYTES).collect()).await {
        Err(_) => Err(ApiError::of(ErrorCode::RequestTimeout)),
        Ok(Err(err)) if err.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            Err(ApiError::of(ErrorCode::PayloadTooLarge))
        }
        Ok(Err(_)) => Err(not_json()),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// Whether the body's declared length (`Content-Length`) is over the limit.
fn declared_too_long(body: &impl Body) -> bool {
    usize::try_from(body.size_hint().lower()).map_or(true, |declared| declared > MAX_BODY_BYTES)
}

fn not_json() -> ApiError {
    ApiError::with_message(ErrorCode::BadRequest, "request body is not valid JSON")
}

/// JSON read by [`parse_strict`].
#[derive(Debug, PartialEq)]
struct StrictJson {
    /// The value, with the first value of a repeated field.
    value: Value,
    /// The first field of the top-level object given more than once.
    repeated: Option<String>,
}

/// Parses `bytes` as `serde_json::from_slice::<Value>` does, noting the first
/// top-level field given twice. Only the top level is checked: no field of a
/// request takes an object, so a nested one is refused for its type anyway.
///
/// # Errors
/// 422 naming the field whose value holds a number out of range; 400 for
/// anything else that is not JSON.
fn parse_strict(bytes: &[u8]) -> Result<StrictJson, ApiError> {
    if !bytes.trim_ascii_start().starts_with(b"{") {
        // Not an object: no fields to repeat or to name.
        let value = serde_json::from_slice(bytes).map_err(|_| not_json())?;
        return Ok(StrictJson { value, repeated: None });
    }
    let mut fields = TopLevelFields::default();
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = (&mut fields).deserialize(&mut deserializer).and_then(|value| deserializer.end().map(|()| value));
    match parsed {
        Ok(value) => Ok(StrictJson { value, repeated: fields.repeated }),
        Err(err) if is_out_of_range(&err) => match fields.unreadable {
            Some(field) => Err(ApiError::number_out_of_range(&field)),
            None => Err(not_json()),
        },
        Err(_) => Err(not_json()),
    }
}

/// serde_json has no public error kind for this; its message is pinned by a
/// unit test below.
fn is_out_of_range(err: &serde_json::Error) -> bool {
    err.is_syntax() && err.to_string().starts_with("number out of range")
}

/// Reads the top-level object into a `Value`, noting what a plain `Value`
/// would hide.
#[derive(Default)]
struct TopLevelFields {
    /// The first field seen a second time (its first value is kept).
    repeated: Option<String>,
    /// The field whose value could not be read.
    unreadable: Option<String>,
}

impl<'de> DeserializeSeed<'de> for &mut TopLevelFields {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for &mut TopLevelFields {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(field) = map.next_key::<String>()? {
            let value = match map.next_value::<Value>() {
                Ok(value) => value,
                Err(err) => {
                    self.unreadable = Some(field);
                    return Err(err);
                }
            };
            if object.contains_key(&field) {
                self.repeated.get_or_insert(field);
            } else {
                object.insert(field, value);
            }
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn strict(text: &str) -> Result<StrictJson, ApiError> {
        parse_strict(text.as_bytes())
    }

    #[test]
    fn reads_what_serde_json_reads() {
        for text in [r#" {"a": [1, {"b": null}], "c": "d"} "#, "[1, 2]", "\"s\"", "7", "null", "{}"] {
            let expected: Value = serde_json::from_str(text).expect("JSON");
            assert_eq!(strict(text), Ok(StrictJson { value: expected, repeated: None }), "{text}");
        }
    }

    #[test]
    fn notes_the_first_repeated_top_level_field_and_keeps_its_first_value() {
        let read = strict(r#"{"jti": "a", "x": 1, "jti": "b", "x": 2}"#).expect("JSON");
        assert_eq!(read, StrictJson { value: json!({"jti": "a", "x": 1}), repeated: Some("jti".into()) });
        // Escapes spell the same field.
        assert_eq!(strict(r#"{"jti": "a", "j\u0074i": "b"}"#).expect("JSON").repeated, Some("jti".into()));
        // Nested objects are left to the field checks (no field takes one).
        assert_eq!(strict(r#"{"s": {"a": 1, "a": 2}}"#).expect("JSON").repeated, None);
    }

    #[test]
    fn a_number_out_of_range_names_its_field() {
        for text in [r#"{"ttl_minutes": 1e400}"#, r#"{"a": 1, "ttl_minutes": [-1e400]}"#] {
            let refused = strict(text).expect_err("refused");
            assert_eq!(refused.code(), ErrorCode::ValidationError, "{text}");
            assert_eq!(refused.message(), "field 'ttl_minutes' holds a number out of range", "{text}");
        }
        // Outside an object there is no field to name.
        assert_eq!(strict("1e400"), Err(not_json()));
        // serde_json's message, which `is_out_of_range` relies on.
        let err = serde_json::from_str::<Value>("1e400").expect_err("out of range");
        assert!(is_out_of_range(&err), "{err}");
    }

    #[test]
    fn anything_else_that_is_not_json_stays_400() {
        let deep = format!(r#"{{"a": {}{}}}"#, "[".repeat(200), "]".repeat(200));
        for text in ["", "{", r#"{"a": tru}"#, r#"{"a": 1} x"#, r#"{"a": 1,}"#, "{\"a\": \"\u{1}\"}", &deep] {
            assert_eq!(strict(text), Err(not_json()), "{text}");
        }
    }
}
