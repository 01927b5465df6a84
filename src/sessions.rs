//! Release health, Sentry's request-mode sessions
//! (develop.sentry.dev/sdk/telemetry/sessions/, "Session Aggregates"): how many requests
//! ended fine (`exited`), with an error captured (`errored`) or with an error nobody handled
//! (`crashed`), per minute they started in, for the setup's release and environment.
//!
//! The counting is done in JavaScript (src/capture/scope.js), where the requests are, without
//! a native call per request; once a minute at most it hands its counts over here. They become
//! one `sessions` envelope item, which travels like an event: written to the spool, delivered
//! by the Sentry sink through its rate limits (category `session`), kept until Sentry has it.

use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The counts JavaScript hands over, `[{ started: ms since the epoch, exited, errored,
/// crashed }]`, as the payload of a `sessions` item for `release` and `environment`; `None`
/// when nothing in them counts. Malformed entries are skipped: counts are whole numbers, and
/// `started` is put at the start of its minute, as Sentry buckets them.
pub fn payload(counts: &Value, release: &str, environment: &str) -> Option<Value> {
    let aggregates: Vec<Value> = counts
        .as_array()?
        .iter()
        .filter_map(|entry| {
            let started = entry.get("started")?.as_f64()?;
            let minute = (started / 60_000.0).floor() as i64 * 60;
            let started = OffsetDateTime::from_unix_timestamp(minute)
                .ok()?
                .format(&Rfc3339)
                .ok()?;
            let mut out = Map::new();
            out.insert("started".to_owned(), Value::from(started));
            let mut any = false;
            for status in ["exited", "errored", "crashed"] {
                let n = entry
                    .get(status)
                    .and_then(Value::as_f64)
                    .filter(|n| *n >= 1.0 && *n <= u32::MAX as f64)
                    .map_or(0, |n| n as u32);
                if n > 0 {
                    out.insert(status.to_owned(), Value::from(n));
                    any = true;
                }
            }
            any.then_some(Value::Object(out))
        })
        .collect();
    if aggregates.is_empty() {
        return None;
    }
    Some(json!({
        "aggregates": aggregates,
        "attrs": { "release": release, "environment": environment },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_become_aggregates_by_minute_and_bad_entries_are_skipped() {
        // 2026-12-03T16:21:17.5Z
        let at = 1_796_314_877_500.0;
        let out = payload(
            &json!([
                { "started": at, "exited": 7, "errored": 2, "crashed": 0 },
                { "started": "soon", "exited": 1 },
                { "started": at, "exited": 0 },
                { "started": at, "crashed": 1.0, "exited": -3 },
            ]),
            "app@1.4.2",
            "production",
        )
        .unwrap();
        assert_eq!(
            out,
            json!({
                "aggregates": [
                    { "started": "2026-12-03T16:21:00Z", "exited": 7, "errored": 2 },
                    { "started": "2026-12-03T16:21:00Z", "crashed": 1 },
                ],
                "attrs": { "release": "app@1.4.2", "environment": "production" },
            })
        );
        assert_eq!(payload(&json!([]), "r", "e"), None);
        assert_eq!(payload(&json!({}), "r", "e"), None);
    }
}
