//! Next.js's `onRequestError` instrumentation hook, in the tracker's terms: the request Next
//! hands over (`{ path, method, headers }`) becomes the event's `request` (scrubbed like any
//! other), the route context (`{ routerKind, routePath, routeType, renderSource?,
//! revalidateReason? }`) becomes tags, and the route names the event's transaction, as
//! `@sentry/nextjs` names it.

use serde_json::{json, Map, Value};

/// Tags taken from Next's context argument, when present.
const CONTEXT_TAGS: &[&str] = &[
    "routerKind",
    "routePath",
    "routeType",
    "renderSource",
    "revalidateReason",
    "renderType",
];

/// The scope for an error Next reported, from snapshots of its `request` and `context`.
pub fn scope(request: &Value, context: &Value) -> Value {
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    let method = text(request, "method");
    let path = text(request, "path");
    let headers: Map<String, Value> = request
        .get("headers")
        .and_then(Value::as_object)
        .map(|h| {
            h.iter()
                .filter_map(|(k, v)| match v {
                    Value::String(_) => Some((k.clone(), v.clone())),
                    // Node joins repeated headers into an array.
                    Value::Array(parts) => Some((
                        k.clone(),
                        Value::from(
                            parts
                                .iter()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join(", "),
                        ),
                    )),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let tags: Map<String, Value> = CONTEXT_TAGS
        .iter()
        .filter_map(|k| text(context, k).map(|v| ((*k).to_owned(), Value::from(v))))
        .collect();
    let route = text(context, "routePath").or_else(|| path.clone());
    let transaction = match (method.as_deref(), route) {
        (Some(m), Some(r)) => Some(format!("{m} {r}")),
        (None, Some(r)) => Some(r),
        _ => None,
    };
    let mut scope = json!({ "tags": tags });
    let mut req = Map::new();
    if let Some(path) = path {
        req.insert("url".into(), Value::from(path));
    }
    if let Some(method) = method {
        req.insert("method".into(), Value::from(method));
    }
    if !headers.is_empty() {
        req.insert("headers".into(), Value::Object(headers));
    }
    if !req.is_empty() {
        scope["request"] = Value::Object(req);
    }
    if let Some(t) = transaction {
        scope["transaction"] = Value::from(t);
    }
    scope
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_route_become_request_tags_and_transaction() {
        let s = scope(
            &json!({ "path": "/api/screen?id=7", "method": "POST",
                     "headers": { "host": "app.example", "cookie": "sid=1", "accept": ["a", "b"] } }),
            &json!({ "routerKind": "App Router", "routePath": "/api/screen", "routeType": "route",
                     "renderSource": null }),
        );
        assert_eq!(s["transaction"], "POST /api/screen");
        assert_eq!(
            s["tags"],
            json!({ "routerKind": "App Router", "routePath": "/api/screen", "routeType": "route" })
        );
        assert_eq!(s["request"]["url"], "/api/screen?id=7");
        assert_eq!(s["request"]["headers"]["accept"], "a, b");
        // Missing pieces leave their fields out rather than inventing them.
        assert_eq!(scope(&Value::Null, &Value::Null), json!({ "tags": {} }));
    }
}
