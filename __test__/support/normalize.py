"""Long-lived line protocol around sentry_relay.StoreNormalizer.

One JSON event per stdin line -> one JSON result per stdout line. Kept alive by
normalize.mjs so the Rust normalizer is loaded once per test process.
"""
import json
import sys

from sentry_relay import StoreNormalizer, parse_release

# Defaults mirror what Relay does for a plain store request; project_id only
# fills in an id, it does not change validation.
normalizer = StoreNormalizer(project_id=42)

for line in sys.stdin:
    if not line.strip():
        continue
    try:
        event = json.loads(line)
        # A `sessions` item: Relay drops the whole item when its release does not parse.
        if isinstance(event, dict) and "__sessions__" in event:
            parse_release(event["__sessions__"]["attrs"]["release"])
            sys.stdout.write(json.dumps({"ok": True, "normalized": event, "errors": []}) + "\n")
            sys.stdout.flush()
            continue
        # Relay silently turns a non-object into an empty event; that is a bug here.
        if not isinstance(event, dict):
            raise TypeError(f"event must be a JSON object, got {type(event).__name__}")
        normalized = normalizer.normalize_event(event)
        # Relay reports invalid data in `errors` (and `_meta`) instead of raising;
        # the key is absent when there were no problems.
        result = {"ok": True, "normalized": normalized, "errors": normalized.get("errors", [])}
    except Exception as exc:  # report and keep serving the other events
        result = {"ok": False, "exception": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
