//! The agent's own log lines, read as JSON (`VANTA_LOG_FORMAT=json`).

use serde_json::Value;
use vanta_integration_tests::agent::{AgentBuilder, TestAgent};

/// Makes the agent log JSON lines, so tests read fields, not colours.
pub(crate) fn json_logs(builder: AgentBuilder) -> AgentBuilder {
    builder.env("VANTA_LOG_FORMAT", "json")
}

/// Every JSON log line the agent wrote to stderr so far.
pub(crate) fn log_records(agent: &TestAgent) -> Vec<Value> {
    agent.stderr_text().lines().filter_map(|line| serde_json::from_str(line).ok()).collect()
}

/// The `fields` of every WARN line whose `env` field is `env`.
pub(crate) fn warnings_for(agent: &TestAgent, env: &str) -> Vec<Value> {
    log_records(agent)
        .into_iter()
        .filter(|r| r["level"] == "WARN" && r["fields"]["env"] == env)
        .map(|r| r["fields"].clone())
        .collect()
}
