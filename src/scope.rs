//! The `scope` argument of `trackError`: its TypeScript shape (Sentry's), and how the worker
//! reads the snapshot of it into the protocol's types. A field of the wrong shape is skipped
//! with a debug note, never fatal: the error itself matters more than its decoration.

use crate::log;
use napi_derive::napi;
use sentry_types::protocol::v7::{Breadcrumb, Level, Map, Request, User};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::str::FromStr;

/// Per-error data in Sentry's shapes, the second half of what `Sentry.withScope` would set.
#[napi(object)]
pub struct Scope {
    /// The affected user. `id` is what counts users; keep other fields out of it.
    #[napi(
        ts_type = "{ id?: string | number; email?: string; username?: string; ip_address?: string; [key: string]: unknown }"
    )]
    pub user: Option<serde_json::Value>,
    /// Searchable key/value pairs.
    #[napi(ts_type = "Record<string, string | number | boolean>")]
    pub tags: Option<serde_json::Value>,
    /// Severity (default `"error"`).
    #[napi(ts_type = "'fatal' | 'error' | 'warning' | 'log' | 'info' | 'debug'")]
    pub level: Option<String>,
    /// Overrides grouping: events with the same fingerprint are one issue.
    pub fingerprint: Option<Vec<String>>,
    /// The HTTP request being handled.
    #[napi(
        ts_type = "{ url?: string; method?: string; headers?: Record<string, string>; query_string?: string; data?: unknown; cookies?: string | Record<string, string>; env?: Record<string, string> }"
    )]
    pub request: Option<serde_json::Value>,
    /// The operation that failed, e.g. `GET /api/screen` (Sentry's transaction name).
    pub transaction: Option<String>,
    /// What happened before the error.
    #[napi(
        ts_type = "Array<{ timestamp?: number | string; type?: string; category?: string; level?: string; message?: string; data?: Record<string, unknown> }>"
    )]
    pub breadcrumbs: Option<Vec<serde_json::Value>>,
}

/// The scope, in protocol types.
#[derive(Debug, Default)]
pub struct Parsed {
    pub user: Option<User>,
    pub tags: Map<String, String>,
    pub level: Option<Level>,
    pub fingerprint: Option<Vec<String>>,
    pub request: Option<Request>,
    pub breadcrumbs: Vec<Breadcrumb>,
    pub transaction: Option<String>,
}

pub fn parse(scope: Option<&Value>) -> Parsed {
    let Some(Value::Object(scope)) = scope else {
        return Parsed::default();
    };
    let mut parsed = Parsed::default();
    for (key, value) in scope {
        if !read(&mut parsed, key, value) {
            log::debug(format_args!("scope.{key} is not a scope field; ignored"));
        }
    }
    parsed
}

/// Reads one field of the scope into `parsed`; `false` when `key` is not a field of `Scope`.
/// (`every_scope_field_is_read_and_listed` holds this to the struct, `index.d.ts` and the
/// README.)
fn read(parsed: &mut Parsed, key: &str, value: &Value) -> bool {
    match key {
        "user" => parsed.user = field(key, user_value(value)),
        "tags" => parsed.tags = tags(value),
        "level" => {
            parsed.level = value.as_str().and_then(|s| Level::from_str(s).ok());
            if parsed.level.is_none() {
                log::debug(format_args!("scope.level {value} is not a Sentry level"));
            }
        }
        "fingerprint" => parsed.fingerprint = field(key, value.clone()),
        "transaction" => parsed.transaction = field(key, value.clone()),
        "request" => parsed.request = field(key, request_value(value)),
        "breadcrumbs" => {
            if let Value::Array(items) = value {
                parsed.breadcrumbs = items
                    .iter()
                    .filter_map(|b| field("breadcrumbs[]", breadcrumb_value(b)))
                    .collect();
            }
        }
        _ => return false,
    }
    true
}

fn field<T: DeserializeOwned>(name: &str, value: Value) -> Option<T> {
    serde_json::from_value(value)
        .map_err(|e| log::debug(format_args!("scope.{name} ignored: {e}")))
        .ok()
}

/// Sentry accepts numeric user ids; the protocol type wants a string.
fn user_value(value: &Value) -> Value {
    let mut user = value.clone();
    if let Some(id) = user.get_mut("id").filter(|id| id.is_number()) {
        *id = Value::String(id.to_string());
    }
    user
}

/// Sentry's request interface takes the body and cookies as given, but the protocol type wants
/// strings and an absolute URL: serialise a parsed body, join a cookie map, and resolve a
/// relative URL (Express's `req.url`) against the Host header when there is one.
fn request_value(value: &Value) -> Value {
    let mut request = value.clone();
    let Some(obj) = request.as_object_mut() else {
        return request;
    };
    if let Some(data) = obj
        .get_mut("data")
        .filter(|d| !d.is_string() && !d.is_null())
    {
        *data = Value::String(data.to_string());
    }
    if let Some(Value::Object(jar)) = obj.get("cookies") {
        let joined: Vec<String> = jar
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                )
            })
            .collect();
        obj.insert("cookies".to_owned(), Value::String(joined.join("; ")));
    }
    if let Some(url) = obj
        .get("url")
        .and_then(Value::as_str)
        .filter(|u| u.starts_with('/'))
    {
        let host = obj
            .get("headers")
            .and_then(|h| h.as_object())
            .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case("host")))
            .and_then(|(_, v)| v.as_str());
        match host {
            Some(host) => {
                let absolute = format!("http://{host}{url}");
                obj.insert("url".to_owned(), Value::String(absolute));
            }
            None => {
                obj.remove("url");
            }
        }
    }
    request
}

/// Breadcrumb timestamps may be seconds (Sentry's JS shape); the protocol type reads them as
/// seconds or RFC 3339, and without one a breadcrumb is stamped now.
fn breadcrumb_value(value: &Value) -> Value {
    let mut crumb = value.clone();
    if let Some(obj) = crumb.as_object_mut() {
        if obj
            .get("timestamp")
            .is_some_and(|t| !(t.is_number() || t.is_string()))
        {
            obj.remove("timestamp");
        }
    }
    crumb
}

fn tags(value: &Value) -> Map<String, String> {
    let Value::Object(map) = value else {
        return Map::new();
    };
    map.iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listings::*;

    /// The `Scope` struct (which `index.d.ts` is made from), the reader above and the README's
    /// description of `trackError` name the same fields: adding one to any of them alone fails
    /// here.
    #[test]
    fn every_scope_field_is_read_and_listed() {
        let mut fields: Vec<String> = struct_fields(include_str!("scope.rs"), "Scope")
            .into_iter()
            .map(|f| f.0)
            .collect();
        fields.sort();
        for name in &fields {
            assert!(
                read(&mut Parsed::default(), name, &Value::Null),
                "scope.{name} is declared but not read"
            );
        }
        assert!(!read(&mut Parsed::default(), "tag", &Value::Null));
        let mut in_dts = ts_interface(INDEX_D_TS, "Scope");
        in_dts.sort();
        assert_eq!(
            in_dts, fields,
            "index.d.ts's `Scope`: run `npm run build` to regenerate it"
        );
        let described = README
            .split("`scope` is `{")
            .nth(1)
            .and_then(|rest| rest.split("}`").next())
            .expect("the README says what `scope` is");
        let mut in_readme: Vec<String> =
            described.split(',').map(|f| f.trim().to_owned()).collect();
        in_readme.sort();
        assert_eq!(in_readme, fields, "the README's list of scope fields");
    }
}
