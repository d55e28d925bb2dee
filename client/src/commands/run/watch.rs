//! `run-with-secrets --watch`: notice that the secrets changed, with a
//! complete new set in hand (top layer, part of `commands::run`).
//!
//! Every `--watch-interval` (plus up to 20 % at random) each token's key
//! listing is asked with the tag it had (`If-None-Match`): a 304 means
//! nothing in scope changed, and costs the agent no decryption when its
//! cache holds the file. Any other answer reads the whole set again
//! (`fetch::values`, one version of the file) and compares it with the
//! running one; only a real difference is a [`Change`]. Failures never stop
//! the command: they are said once, and the watch goes on; a change that
//! cannot be handed over is read and tried again at every poll, until it
//! is handed over or the set no longer differs. Before each poll
//! the tokens are kept alive (see `grant`); a given token is warned about
//! ahead of its expiry.

use std::time::Duration;

use rand::Rng;
use time::OffsetDateTime;
use vanta_shared::KeyPath;

use super::fetch::{self, Fetched, Secret};
use super::grant::{Grant, since_boot};
use super::say;
use crate::agent_client::{self, AgentClient, Listing};
use crate::cli::RunArgs;
use crate::output::PREFIX;
use crate::output::report;

/// Watches one run's secrets.
pub(super) struct Watcher<'a> {
    client: &'a AgentClient,
    args: &'a RunArgs,
    grants: Vec<Grant>,
    /// Each grant's listing tag as of `current`.
    tags: Vec<Option<String>>,
    /// The set the command runs with.
    current: Vec<Secret>,
    /// Whether reading fails (said once, until it works again).
    read_failing: bool,
    /// Whether keeping a token alive fails (said once, likewise).
    token_failing: bool,
    /// Whether a change could not be handed over (said once, likewise).
    handover_failing: bool,
    /// The expiry of the given token last warned about.
    warned_expiry: Option<i64>,
}

/// A complete new set of secrets, different from the running one.
pub(super) struct Change {
    pub(super) secrets: Vec<Secret>,
    tags: Vec<Option<String>>,
    /// Which keys changed, were added or removed: names only.
    pub(super) summary: String,
}

/// How long before a given token expires the warning comes, at least.
const WARN_AHEAD: Duration = Duration::from_secs(5 * 60);
/// Most extra wait before a poll, as a fraction of the interval.
const JITTER: f64 = 0.2;

// === impl Watcher ===

impl<'a> Watcher<'a> {
    /// Watches the set `fetched` was, read with its grants.
    pub(super) fn new(client: &'a AgentClient, args: &'a RunArgs, fetched: Fetched) -> Self {
        let Fetched { secrets, grants, tags } = fetched;
        let (read_failing, token_failing, handover_failing, warned_expiry) = (false, false, false, None);
        let current = secrets;
        Self { client, args, grants, tags, current, read_failing, token_failing, handover_failing, warned_expiry }
    }

    /// The tokens, as they are now (for a restart's environment).
    pub(super) fn grants(&self) -> &[Grant] {
        &self.grants
    }

    /// Waits, polls, and repeats until the secrets changed. Cancel-safe
    /// between polls; never fails.
    pub(super) async fn next_change(&mut self) -> Change {
        loop {
            tokio::time::sleep(self.interval()).await;
            self.keep_tokens().await;
            // Once more at once: the agent may have closed the idle
            // keep-alive connection just as this poll went out on it. Not
            // after a timeout: an agent that did not answer is a failed poll.
            let polled = match self.poll().await {
                Err(err) if !timed_out(&err) => self.poll().await,
                polled => polled,
            };
            match polled {
                Ok(found) => {
                    if std::mem::take(&mut self.read_failing) {
                        self.note(format!("reading the secrets of '{}' again", self.args.environment));
                    }
                    if let Some(change) = found {
                        return change;
                    }
                }
                Err(err) if !self.read_failing => {
                    self.read_failing = true;
                    say(&[report::warning(&format!(
                        "cannot read the secrets of '{}' now ({err:#}); the command keeps running with the \
                         secrets it has; trying again every {} s",
                        self.args.environment, self.args.watch_interval
                    ))]);
                }
                Err(_) => {}
            }
        }
    }

    /// The command runs with `change` now.
    pub(super) fn adopt(&mut self, change: Change) {
        if std::mem::take(&mut self.handover_failing) {
            self.note(format!("the changed secrets of '{}' could be handed over now", self.args.environment));
        }
        (self.current, self.tags) = (change.secrets, change.tags);
    }

    /// `change` could not be applied: the command keeps the old set. If it
    /// `may_work_later` (the file system), the old tags stay, so the next
    /// poll reads the set again and retries (said once, until a change is
    /// handed over): keeping the new ones would answer every later poll
    /// with 304, the old set for good. If not (the values themselves), only
    /// a new change can help, and retrying would only read and audit every
    /// value at every poll: the watch waits for that change.
    pub(super) fn reject(&mut self, change: Change, err: &anyhow::Error, may_work_later: bool) {
        if !may_work_later {
            say(&[report::warning(&format!(
                "secrets changed in '{}' ({}) but cannot be handed over ({err:#}); the command keeps the old \
                 ones until the next change",
                self.args.environment, change.summary
            ))]);
            self.handover_failing = false;
            self.tags = change.tags;
            return;
        }
        if !std::mem::replace(&mut self.handover_failing, true) {
            say(&[report::warning(&format!(
                "secrets changed in '{}' ({}) but cannot be handed over ({err:#}); the command keeps the old \
                 ones; trying again every {} s",
                self.args.environment, change.summary, self.args.watch_interval
            ))]);
        }
    }

    /// One line on stderr, unless `--quiet`.
    pub(super) fn note(&self, line: String) {
        if !self.args.quiet {
            say(&[format!("{PREFIX}: {line}")]);
        }
    }

    fn interval(&self) -> Duration {
        let base = Duration::from_secs(u64::from(self.args.watch_interval));
        base.mul_f64(1.0 + rand::thread_rng().gen_range(0.0..JITTER))
    }

    async fn poll(&mut self) -> anyhow::Result<Option<Change>> {
        let mut changed = false;
        for (grant, tag) in self.grants.iter().zip(&self.tags) {
            let listing = self.client.list_keys_if_changed(&grant.token, &self.args.environment, tag.as_deref());
            if matches!(listing.await?, Listing::Keys { .. }) {
                changed = true;
                break;
            }
        }
        if !changed {
            return Ok(None);
        }
        let (secrets, tags) = fetch::values(self.client, &self.grants, self.args).await?;
        let summary = summary(&self.current, &secrets);
        if summary.is_empty() {
            // Something else in scope changed, or the agent restarted; or
            // a change that could not be handed over was undone.
            self.tags = tags;
            self.handover_failing = false;
            return Ok(None);
        }
        Ok(Some(Change { secrets, tags, summary }))
    }

    /// Renews minted tokens that are due, reads a token file again, warns
    /// ahead of a given token's expiry.
    async fn keep_tokens(&mut self) {
        let mut failure = None;
        let mut lines = Vec::new();
        for grant in &mut self.grants {
            if grant.renewal_due(since_boot()) {
                match grant.renew(self.client, self.args).await {
                    Ok(()) => lines.push("renewed the self-minted token (same scope)".to_owned()),
                    Err(err) => failure = Some(format!("failed to renew the self-minted token ({err:#})")),
                }
            }
            match grant.reread(self.args) {
                Ok(true) => lines.push("read a new token from the token file".to_owned()),
                Ok(false) => {}
                Err(err) => failure = Some(format!("{err:#}")),
            }
        }
        for line in lines {
            self.note(line);
        }
        match failure {
            Some(what) if !self.token_failing => {
                self.token_failing = true;
                say(&[report::warning(&format!("{what}; the current token stays in use"))]);
            }
            Some(_) => {}
            None => self.token_failing = false,
        }
        self.warn_expiry();
    }

    fn warn_expiry(&mut self) {
        let Some(exp) = self.grants.iter().find_map(|g| g.given()?.expires_at()) else { return };
        let ahead = WARN_AHEAD.max(Duration::from_secs(3 * u64::from(self.args.watch_interval)));
        let left = seconds_left(exp, OffsetDateTime::now_utc().unix_timestamp());
        if self.warned_expiry == Some(exp) || left > i64::try_from(ahead.as_secs()).unwrap_or(i64::MAX) {
            return;
        }
        self.warned_expiry = Some(exp);
        let how = match &self.args.token_file {
            Some(path) => format!("write a new one to {} (it is read again when it changes)", path.display()),
            None => "a token given in --token or VANTA_TOKEN cannot be replaced: use --token-file".to_owned(),
        };
        let when = if left > 0 { format!("expires in {left} s") } else { "has expired".to_owned() };
        say(&[report::warning(&format!("the given token {when}; {how}"))]);
    }
}

/// Whether `err` is a request the agent did not answer in time.
fn timed_out(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|cause| matches!(cause.downcast_ref::<agent_client::Error>(), Some(agent_client::Error::TimedOut { .. })))
}

/// Seconds from `now` to `exp`. The claim comes from a token that is not
/// verified here, so it may be any `i64`: saturating, never overflowing.
fn seconds_left(exp: i64, now: i64) -> i64 {
    exp.saturating_sub(now)
}

/// `A changed, B added, C removed`, by key; empty when the sets are equal.
fn summary(old: &[Secret], new: &[Secret]) -> String {
    fn find<'s>(set: &'s [Secret], key: &KeyPath) -> Option<&'s Secret> {
        set.iter().find(|s| s.key == *key)
    }
    let mut parts = Vec::new();
    for secret in new {
        match find(old, &secret.key) {
            None => parts.push(format!("{} added", secret.key)),
            Some(before) if before != secret => parts.push(format!("{} changed", secret.key)),
            Some(_) => {}
        }
    }
    parts.extend(old.iter().filter(|s| find(new, &s.key).is_none()).map(|s| format!("{} removed", s.key)));
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use zeroize::Zeroizing;

    use super::*;

    fn secret(key: &str, value: &str) -> Secret {
        let key: KeyPath = key.parse().expect("key");
        Secret { name: key.as_str().to_owned(), key, value: Zeroizing::new(value.to_owned()) }
    }

    #[test]
    fn a_poll_the_agent_did_not_answer_is_not_sent_again() {
        let limit = Duration::from_secs(35);
        let late = agent_client::Error::TimedOut { agent: "/x.sock".to_owned(), limit };
        assert!(timed_out(&anyhow::Error::from(late).context("failed to list the keys of 'app'")));
        let refused = agent_client::Error::Refused { agent: "/x.sock".to_owned(), status: 500, detail: String::new() };
        assert!(!timed_out(&anyhow::Error::from(refused)));
    }

    #[test]
    fn any_expiry_claim_gives_a_time_left() {
        assert_eq!(seconds_left(1_000, 400), 600);
        assert_eq!(seconds_left(i64::MIN, 1_700_000_000), i64::MIN, "long expired");
        assert_eq!(seconds_left(i64::MAX, -5), i64::MAX, "far off");
    }

    #[test]
    fn summaries_name_keys_never_values() {
        let old = [secret("A", "1"), secret("B", "2"), secret("C", "3")];
        assert_eq!(summary(&old, &[secret("A", "1"), secret("B", "2"), secret("C", "3")]), "");
        let new = [secret("A", "1"), secret("B", "two"), secret("D", "4")];
        let line = summary(&old, &new);
        assert_eq!(line, "B changed, D added, C removed");
        assert!(!line.contains("two"));
    }
}
