//! The revocations an agent holds in memory (layer L1, part of
//! [`crate::usage`]): checked on every token validation without I/O, fed by
//! the store (its full list at start-up and after a reconnect, each new
//! revocation as it happens). Entries are dropped once no token they can
//! affect is still valid (`keep_until`).

use std::collections::HashMap;
use std::sync::RwLock;

/// What a revocation refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokedTarget {
    /// The one token with this `jti`.
    Jti(String),
    /// Every token of this subject issued at or before `issued_up_to`
    /// (Unix seconds).
    Subject {
        /// The token's `sub`.
        name: String,
        /// The latest `iat` refused.
        issued_up_to: u64,
    },
}

/// One revocation, as stored and published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// What it refuses.
    pub target: RevokedTarget,
    /// Unix seconds after which no token it affects is still valid: the
    /// store forgets it then.
    pub keep_until: u64,
}

/// The in-memory set: `jti`s, and per subject the latest revoked `iat`.
#[derive(Debug, Default)]
pub struct Revoked(RwLock<Sets>);

#[derive(Debug, Default)]
struct Sets {
    /// jti -> keep_until.
    jtis: HashMap<String, u64>,
    /// subject -> (issued_up_to, keep_until).
    subjects: HashMap<String, (u64, u64)>,
    /// The time of the last prune: an entry kept until before it is not
    /// added again (a late message or reload would bring it back).
    pruned_at: u64,
}

// === impl Revocation ===

impl Revocation {
    /// The one-line form stored in Redis and published: `j:<jti>` or
    /// `s:<issued_up_to>:<subject>` (the subject last: it may hold `:`).
    pub fn member(&self) -> String {
        match &self.target {
            RevokedTarget::Jti(jti) => format!("j:{jti}"),
            RevokedTarget::Subject { name, issued_up_to } => format!("s:{issued_up_to}:{name}"),
        }
    }

    /// Parses [`Revocation::member`]; `None` for anything else.
    pub fn from_member(member: &str, keep_until: u64) -> Option<Self> {
        let target = if let Some(jti) = member.strip_prefix("j:") {
            RevokedTarget::Jti(jti.to_owned())
        } else {
            let (iat, name) = member.strip_prefix("s:")?.split_once(':')?;
            RevokedTarget::Subject { name: name.to_owned(), issued_up_to: iat.parse().ok()? }
        };
        Some(Self { target, keep_until })
    }
}

// === impl Sets ===

impl Sets {
    /// Adds one revocation; a later one of the same target widens it.
    fn insert(&mut self, revocation: Revocation) {
        let until = revocation.keep_until;
        match revocation.target {
            RevokedTarget::Jti(jti) => {
                let kept = self.jtis.entry(jti).or_insert(until);
                *kept = (*kept).max(until);
            }
            RevokedTarget::Subject { name, issued_up_to } => {
                let kept = self.subjects.entry(name).or_insert((issued_up_to, until));
                *kept = (kept.0.max(issued_up_to), kept.1.max(until));
            }
        }
    }
}

// === impl Revoked ===

impl Revoked {
    /// Adds revocations read from the store or its feed (a later one of the
    /// same target widens it); those kept until before the last prune are
    /// left out, so a late message or reload does not bring them back. The
    /// last prune counts only up to `now` (Unix seconds): after a clock that
    /// ran ahead is stepped back, what is still valid now is not refused.
    pub fn add(&self, revocations: impl IntoIterator<Item = Revocation>, now: u64) {
        let mut sets = self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let forgotten_before = sets.pruned_at.min(now);
        for revocation in revocations.into_iter().filter(|r| r.keep_until >= forgotten_before) {
            sets.insert(revocation);
        }
    }

    /// Adds a revocation this agent has just stored: never left out (a
    /// revoke answered 200 must refuse its tokens, whatever the clock did).
    pub fn add_own(&self, revocation: Revocation) {
        self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(revocation);
    }

    /// Whether a token with these claims is revoked.
    pub fn contains(&self, jti: &str, subject: &str, iat: u64) -> bool {
        let sets = self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        sets.jtis.contains_key(jti) || sets.subjects.get(subject).is_some_and(|(up_to, _)| iat <= *up_to)
    }

    /// Forgets revocations kept until before `now` (Unix seconds).
    pub fn prune(&self, now: u64) {
        let mut sets = self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        sets.pruned_at = sets.pruned_at.max(now);
        sets.jtis.retain(|_, until| *until >= now);
        sets.subjects.retain(|_, (_, until)| *until >= now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_round_trip_and_subjects_refuse_only_earlier_tokens() {
        let by_subject = Revocation {
            target: RevokedTarget::Subject { name: "ci:deploy".into(), issued_up_to: 100 },
            keep_until: 500,
        };
        let by_jti = Revocation { target: RevokedTarget::Jti("abc".into()), keep_until: 400 };
        for r in [&by_subject, &by_jti] {
            assert_eq!(Revocation::from_member(&r.member(), r.keep_until).as_ref(), Some(r));
        }
        assert_eq!(Revocation::from_member("x:1", 1), None);
        let revoked = Revoked::default();
        revoked.add([by_subject, by_jti], 300);
        assert!(revoked.contains("other", "ci:deploy", 100));
        assert!(!revoked.contains("other", "ci:deploy", 101), "issued after the revoke");
        assert!(revoked.contains("abc", "someone", 999));
        revoked.prune(450);
        assert!(!revoked.contains("abc", "someone", 999), "kept only until its keep_until");
        revoked.add([Revocation { target: RevokedTarget::Jti("abc".into()), keep_until: 400 }], 450);
        assert!(!revoked.contains("abc", "someone", 999), "a late copy does not bring it back");
        assert!(revoked.contains("other", "ci:deploy", 100));
    }

    fn jti(jti: &str, keep_until: u64) -> Revocation {
        Revocation { target: RevokedTarget::Jti(jti.into()), keep_until }
    }

    /// A prune while the clock ran a year ahead, then the clock stepped
    /// back: revocations made now are still enforced.
    #[test]
    fn a_prune_with_a_clock_ahead_does_not_hide_later_revocations() {
        const NOW: u64 = 1_000_000;
        const YEAR_AHEAD: u64 = NOW + 365 * 86_400;
        let revoked = Revoked::default();
        revoked.prune(YEAR_AHEAD);
        revoked.add_own(jti("revoked-here", NOW + 3_600));
        assert!(revoked.contains("revoked-here", "s", 0), "a local revoke is never left out");
        revoked.add([jti("revoked-elsewhere", NOW + 3_600)], NOW);
        assert!(revoked.contains("revoked-elsewhere", "s", 0), "the last prune counts only up to now");
        revoked.add([jti("long-expired", NOW - 1)], NOW);
        assert!(!revoked.contains("long-expired", "s", 0), "what expired before now stays out");
    }
}
