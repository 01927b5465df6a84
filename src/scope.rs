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
        ts_type = "{ url?: string; method?: string; headers?: Record<string, string> | Headers; query_string?: string; data?: unknown; cookies?: string | Record<string, string>; env?: Record<string, string> }"
    )]
    pub request: Option<serde_json::Value>,
    /// The operation that failed, e.g. `GET /api/screen` (Sentry's transaction name).
    pub transaction: Option<String>,
    /// What happened before the error.
    #[napi(
        ts_type = "Array<{ timestamp?: number | string; type?: string; category?: string; level?: string; message?: string; data?: Record<string, unknown> }>"
    )]
    pub breadcrumbs: Option<Vec<serde_json::Value>>,
    /// Named contexts, e.g. `{ order: { id: 7, step: 'match' } }` (what `setContext` sets).
    #[napi(ts_type = "Record<string, Record<string, unknown>>")]
    pub contexts: Option<serde_json::Value>,
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
    pub contexts: Map<String, Value>,
}

/// `trust_proxy`: the `trustProxy` option (see `request_value`).
pub fn parse(scope: Option<&Value>, trust_proxy: bool) -> Parsed {
    let Some(Value::Object(scope)) = scope else {
        return Parsed::default();
    };
    let mut parsed = Parsed::default();
    for (key, value) in scope {
        if !read(&mut parsed, key, value, trust_proxy) {
            log::debug(format_args!("scope.{key} is not a scope field; ignored"));
        }
    }
    parsed
}

/// Reads one field of the scope into `parsed`; `false` when `key` is not a field of `Scope`.
/// (`every_scope_field_is_read_and_listed` holds this to the struct, `index.d.ts` and the
/// README.)
fn read(parsed: &mut Parsed, key: &str, value: &Value, trust_proxy: bool) -> bool {
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
        "request" => parsed.request = field(key, request_value(value, trust_proxy)),
        "breadcrumbs" => {
            if let Value::Array(items) = value {
                parsed.breadcrumbs = items
                    .iter()
                    .filter_map(|b| field("breadcrumbs[]", breadcrumb_value(b)))
                    .collect();
            }
        }
        "contexts" => {
            if let Value::Object(map) = value {
                parsed.contexts = map
                    .iter()
                    .filter(|(_, v)| v.is_object())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
            }
        }
        _ => return false,
    }
    true
}

/// `top` over `base`: tags and contexts merge key by key, breadcrumbs are `base`'s then
/// `top`'s, any other field of `top` replaces `base`'s. For `onRequestError`, whose own scope
/// (Next's request and route) goes over the one the app's scopes make.
pub fn merge(base: Option<Value>, top: Value) -> Value {
    let (Some(Value::Object(mut base)), Value::Object(top)) = (base, top.clone()) else {
        return top;
    };
    for (key, value) in top {
        match (key.as_str(), base.get_mut(&key), value) {
            ("tags" | "contexts", Some(Value::Object(under)), Value::Object(over)) => {
                under.extend(over);
            }
            ("breadcrumbs", Some(Value::Array(under)), Value::Array(over)) => {
                under.extend(over);
            }
            (_, _, value) => {
                base.insert(key, value);
            }
        }
    }
    Value::Object(base)
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
/// relative URL (Express's `req.url`) against the Host header when there is one; behind a
/// trusted proxy, against `X-Forwarded-Proto` and `X-Forwarded-Host` first.
fn request_value(value: &Value, trust_proxy: bool) -> Value {
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
        let header = |name: &str| {
            obj.get("headers")
                .and_then(|h| h.as_object())
                .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
                .and_then(|(_, v)| v.as_str())
                // A proxy chain appends: the first is what the client asked for.
                .and_then(|v| v.split(',').next())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let forwarded = |name: &str| header(name).filter(|_| trust_proxy);
        let host = forwarded("x-forwarded-host").or_else(|| header("host"));
        let scheme = forwarded("x-forwarded-proto")
            .filter(|p| p.eq_ignore_ascii_case("https") || p.eq_ignore_ascii_case("http"))
            .unwrap_or("http")
            .to_ascii_lowercase();
        match host {
            Some(host) => {
                let absolute = format!("{scheme}://{host}{url}");
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
    use serde_json::json;

    #[test]
    fn forwarded_headers_name_the_url_only_behind_a_trusted_proxy() {
        let scope = json!({ "request": { "url": "/api/screen?x=1", "headers": {
            "host": "10.0.0.7:3000", "x-forwarded-proto": "https",
            "x-forwarded-host": "screening.example, proxy.internal" } } });
        let url = |trust| {
            parse(Some(&scope), trust)
                .request
                .unwrap()
                .url
                .unwrap()
                .to_string()
        };
        assert_eq!(url(false), "http://10.0.0.7:3000/api/screen?x=1");
        assert_eq!(url(true), "https://screening.example/api/screen?x=1");
    }

    #[test]
    fn merge_puts_the_call_over_the_scopes() {
        let base = json!({ "user": { "id": "a" }, "tags": { "t": "1", "u": "2" },
                           "breadcrumbs": [{ "message": "one" }] });
        let top = json!({ "tags": { "u": "3" }, "breadcrumbs": [{ "message": "two" }],
                          "transaction": "GET /x" });
        assert_eq!(
            merge(Some(base), top),
            json!({ "user": { "id": "a" }, "tags": { "t": "1", "u": "3" },
                    "breadcrumbs": [{ "message": "one" }, { "message": "two" }],
                    "transaction": "GET /x" })
        );
    }

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
                read(&mut Parsed::default(), name, &Value::Null, false),
                "scope.{name} is declared but not read"
            );
        }
        assert!(!read(&mut Parsed::default(), "tag", &Value::Null, false));
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
