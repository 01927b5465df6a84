use sentry_types::protocol::v7::Frame;
pub fn parse(_s: &str) -> Vec<Frame> {
    Vec::new()
}
