//! Uses this agent holds ahead for tokens in heavy use (layer L1, part of
//! [`crate::usage`]).
//!
//! A limited token fetched again and again from the cache would otherwise
//! wait for one durable store operation (an fsync, or a Redis round trip)
//! per use. When a token asks the store again soon after its last use, this
//! agent takes several uses at once ([`UsageStore::take_held`]): the store
//! counts them as spent, durably, and the agent serves the next requests of
//! that token from memory. So a value never leaves before its use is
//! durable, and a crash can only cost held uses, never grant one. Before a
//! hold runs out the next one is asked for in the background, so a token in
//! steady use seldom waits for the store. Held, unserved uses of a token
//! never exceed the configured most: what a SIGKILL may cost it.
//!
//! A hold lives [`HOLD_MS`] in the store; the agent serves from it for
//! [`SERVE`] at most, and settles it (gives its unused uses back) once the
//! token has been idle for [`IDLE`], once it is replaced or out of time,
//! and at shutdown. A request refused while uses are held
//! elsewhere waits for them ([`MAX_WAIT`]) instead of answering 401. The
//! rule, in full, is in the operator guide (docs/VAULT_ACCESS_SYSTEM_README.md,
//! "Usage limits").

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::{Hold, Reservation, Store, Taken, UsageError, UsageStore, UseAsk, unix_ms};

/// How long a hold lives in the store (its deadline, from the take): far
/// longer than this agent serves from it, so that agents whose clocks are
/// up to 9 s apart never take another agent's live hold for a dead one
/// (that would keep its unused uses spent). Safety never rests on it: a
/// settle gives back only uses that were not served.
pub const HOLD_MS: u64 = 10_000;
/// How long after its take this agent serves from a hold.
const SERVE: Duration = Duration::from_millis(750);
/// Asks of one token this close together mean it is in heavy use: the next
/// ask holds twice as many uses (up to the configured most), unless the
/// last hold ended with uses left over.
const HOT: Duration = Duration::from_millis(100);
/// A token unused this long gives its held uses back: as long as a token
/// in heavy use may wait between two requests.
const IDLE: Duration = HOT;
/// How long a refused request waits for uses held elsewhere to come back:
/// a live agent settles a hold within [`SERVE`] and two idle checks.
pub const MAX_WAIT: Duration = Duration::from_millis(1_100);
/// How often a waiting request asks the store again.
const POLL: Duration = Duration::from_millis(25);
/// Tokens remembered without a hold before the idle ones are forgotten.
const REMEMBERED: usize = 1_024;

type SharedSlot = Arc<SlotCell>;

/// A token's slot, and the wake-up of requests waiting for its next hold.
#[derive(Default)]
struct SlotCell {
    slot: tokio::sync::Mutex<Slot>,
    refilled: tokio::sync::Notify,
}

/// This agent's holds, per `jti`.
pub(super) struct HeldUses {
    /// The most uses one ask of the store takes (`--usage-hold-max`).
    most: u64,
    tokens: Mutex<HashMap<String, SharedSlot>>,
    /// Set at shutdown, before the holds are given back: no new hold, and
    /// one asked for before lands only to go straight back.
    closed: AtomicBool,
}

/// One token's holds, and how fast it was asked for.
#[derive(Default)]
struct Slot {
    /// The hold served from, its unused uses and until when it is served.
    current: Option<Serving>,
    /// The hold asked for in the background, served once `current` ends.
    next: Option<Serving>,
    /// Ended holds and their unused uses, to give back.
    ended: Vec<(Hold, u64)>,
    /// Whether a background ask for `next` is on its way.
    refill: Option<tokio::task::AbortHandle>,
    /// Whether a task settles this token's holds when it goes idle.
    watched: bool,
    last_use: Option<Instant>,
    /// When the store was last asked for uses of this token.
    last_ask: Option<Instant>,
    /// How many uses the next ask takes.
    want: u64,
    /// Whether the last hold ended with uses left over (asked for too many).
    overheld: bool,
    /// Set when the slot is dropped from the map: a request that still had
    /// it looks the token up again instead of holding uses nobody settles.
    forgotten: bool,
}

struct Serving {
    hold: Hold,
    left: u64,
    until: Instant,
}

/// What a request found in its token's slot.
enum Served {
    /// A held use: the value may leave. `refill` asks for the next hold.
    Yes { refill: Option<u64> },
    /// Nothing held: the store must be asked.
    No,
}

// === impl HeldUses ===

impl HeldUses {
    pub(super) fn new(most: u64) -> Self {
        Self { most: most.max(1), tokens: Mutex::new(HashMap::new()), closed: AtomicBool::new(false) }
    }

    fn slot(&self, jti: &str) -> SharedSlot {
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = tokens.get(jti) {
            return Arc::clone(slot);
        }
        if tokens.len() >= REMEMBERED {
            // Keep the tokens that hold uses (and any in use right now).
            tokens.retain(|_, cell| {
                cell.slot.try_lock().map_or(true, |mut slot| {
                    slot.forgotten = !slot.holds_any();
                    !slot.forgotten
                })
            });
        }
        Arc::clone(tokens.entry(jti.to_owned()).or_default())
    }

    fn forget(&self, jti: &str, slot: &SharedSlot) {
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        if tokens.get(jti).is_some_and(|kept| Arc::ptr_eq(kept, slot)) {
            tokens.remove(jti);
        }
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    fn slots(&self) -> Vec<SharedSlot> {
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner).values().cloned().collect()
    }
}

// === impl Slot ===

impl Slot {
    /// Serves one use from the current hold, moving on to the next one
    /// when the current is used up or out of time.
    fn serve(&mut self, now: Instant, most: u64) -> Served {
        loop {
            match &mut self.current {
                Some(serving) if serving.left > 0 && now < serving.until => {
                    serving.left -= 1;
                    self.last_use = Some(now);
                    let low = serving.left <= self.want / 2;
                    // Never more unserved at once than `most`: what a SIGKILL may cost.
                    let room = most.saturating_sub(serving.left + self.unsettled());
                    let refill = (low && room >= 2 && self.next.is_none() && !self.refilling()).then(|| {
                        // Two at least: a hold, never a lone use no request asked for.
                        self.next_want(now, most).clamp(2, room)
                    });
                    return Served::Yes { refill };
                }
                Some(_) => self.retire_current(),
                None => match self.next.take() {
                    Some(next) if now < next.until => self.current = Some(next),
                    Some(next) => self.ended.push((next.hold, next.left)),
                    None => return Served::No,
                },
            }
        }
    }

    fn retire_current(&mut self) {
        if let Some(Serving { hold, left, .. }) = self.current.take() {
            self.overheld = left > 0;
            self.ended.push((hold, left));
        }
    }

    /// Ends every hold, returning them and their unused uses.
    fn end_all(&mut self) -> Vec<(Hold, u64)> {
        self.retire_current();
        if let Some(Serving { hold, left, .. }) = self.next.take() {
            self.ended.push((hold, left));
        }
        std::mem::take(&mut self.ended)
    }

    fn holds_any(&self) -> bool {
        self.current.is_some() || self.next.is_some() || !self.ended.is_empty() || self.refilling()
    }

    /// Whether a background ask for the next hold is on its way (a task
    /// that panicked or was dropped at shutdown counts as ended).
    fn refilling(&self) -> bool {
        self.refill.as_ref().is_some_and(|task| !task.is_finished())
    }

    /// Unused uses of the holds that ended and are not given back yet.
    fn unsettled(&self) -> u64 {
        self.ended.iter().map(|(_, unused)| unused).sum()
    }

    /// How many uses to ask for now: when the token was used or asked for
    /// within [`HOT`], twice the last ask's (half, if its last hold had uses
    /// left over); else one.
    fn next_want(&mut self, now: Instant, most: u64) -> u64 {
        let recent = |at: Option<Instant>| at.is_some_and(|at| now.duration_since(at) < HOT);
        let hot = recent(self.last_ask) || recent(self.last_use);
        let grown = if self.overheld { self.want / 2 } else { self.want.saturating_mul(2) };
        self.want = if hot { grown.clamp(2, most) } else { 1 };
        self.last_ask = Some(now);
        self.want
    }

    fn is_idle(&self, now: Instant) -> bool {
        self.last_use.is_none_or(|last| now.duration_since(last) >= IDLE)
    }
}

fn serving(hold: Hold, left: u64, asked_at: Instant) -> Serving {
    Serving { hold, left, until: asked_at + SERVE }
}

// === impl Store (holds) ===

impl Store {
    /// Takes one use of a cached value's token: from this agent's hold when
    /// it has one, else from the store (holding more when the token is in
    /// heavy use).
    pub(super) async fn take_with_holds(&self, held: &Arc<HeldUses>, ask: &UseAsk) -> Result<Taken, UsageError> {
        let mut started = Instant::now();
        let mut cell = held.slot(&ask.jti);
        loop {
            let mut token = cell.slot.lock().await;
            if token.forgotten {
                drop(token);
                cell = held.slot(&ask.jti);
                continue;
            }
            // After shutdown began nothing asks for a hold ahead (0: no room).
            let closed = held.is_closed();
            if let Served::Yes { refill } = token.serve(Instant::now(), if closed { 0 } else { held.most }) {
                if let Some(want) = refill {
                    let (store, held, ask, cell) = (self.clone(), Arc::clone(held), ask.clone(), Arc::clone(&cell));
                    // Recorded before the lock is let go, which the task waits for.
                    let task = tokio::spawn(async move { store.refill(&held, &ask, cell, want).await });
                    token.refill = Some(task.abort_handle());
                }
                return Ok(Taken::Spent);
            }
            let waited = started.elapsed();
            if token.refilling() {
                // The next hold is on its way: wait for it, however long the
                // store takes (its own timeout bounds that), not for the
                // store, which would count that very hold as held elsewhere
                // and let this agent hold more than its most. Looked at
                // again every [`POLL`], in case that task ended without a word.
                let refilled = cell.refilled.notified();
                drop(token);
                let _ = tokio::time::timeout(POLL, refilled).await;
                started = Instant::now();
                continue;
            }
            // Nothing held: give back what ended first (this agent's own
            // holds must not keep it waiting), then ask the store.
            if let Err(err) = self.settle_all(token.end_all()).await {
                // Their unused uses stay spent; this request may still get one.
                tracing::warn!(error = %err, "failed to give held uses back to the usage store");
            }
            let asked_at = Instant::now();
            // After shutdown began (a use still being taken), no new hold:
            // nothing would give it back.
            let want = if closed { 1 } else { token.next_want(asked_at, held.most) };
            match self.take_held(ask, want, HOLD_MS, now_ms()).await? {
                Taken::Held(hold) => {
                    // This request's use is the hold's first.
                    let left = hold.uses.saturating_sub(1);
                    token.current = Some(serving(hold, left, asked_at));
                    token.last_use = Some(asked_at);
                    self.watch(held, &ask.jti, &cell, &mut token);
                    return Ok(Taken::Spent);
                }
                Taken::HeldElsewhere { until_ms } if waited < MAX_WAIT => {
                    drop(token);
                    tokio::time::sleep(pause(until_ms, waited)).await;
                }
                Taken::HeldElsewhere { .. } => return Ok(Taken::Exhausted),
                taken => return Ok(taken),
            }
        }
    }

    /// Asks for the next hold of a token in steady use, while its current
    /// one is still served.
    async fn refill(&self, held: &Arc<HeldUses>, ask: &UseAsk, slot: SharedSlot, want: u64) {
        let asked_at = Instant::now();
        let taken = self.take_held(ask, want, HOLD_MS, now_ms()).await;
        let mut token = slot.slot.lock().await;
        token.refill = None;
        slot.refilled.notify_waiters();
        match taken {
            // Read under the slot's lock, which shutdown takes after setting
            // it: a hold installed before is ended there, one after goes back here.
            Ok(Taken::Held(hold)) if held.is_closed() => {
                let unused = hold.uses;
                if let Err(err) = self.settle_all(vec![(hold, unused)]).await {
                    tracing::warn!(error = %err, "failed to give held uses back to the usage store at shutdown");
                }
            }
            Ok(Taken::Held(hold)) => {
                let left = hold.uses;
                token.next = Some(serving(hold, left, asked_at));
                self.watch(held, &ask.jti, &slot, &mut token);
            }
            // A use taken without a hold (the store has few left) is spent
            // with no request for it: that costs one use, never grants one.
            Ok(Taken::Spent | Taken::Exhausted | Taken::HeldElsewhere { .. }) => {}
            Err(err) => tracing::debug!(error = %err, "failed to take held uses ahead"),
        }
    }

    /// Makes sure a task settles the token's holds once it goes idle.
    fn watch(&self, held: &Arc<HeldUses>, jti: &str, slot: &SharedSlot, token: &mut Slot) {
        if std::mem::replace(&mut token.watched, true) {
            return;
        }
        let (store, held, jti, slot) = (self.clone(), Arc::clone(held), jti.to_owned(), Arc::clone(slot));
        tokio::spawn(async move { store.settle_when_idle(&held, &jti, &slot).await });
    }

    /// Every [`IDLE`]: gives back the holds that ended, and all of them once
    /// the token is idle; then forgets the token.
    async fn settle_when_idle(&self, held: &HeldUses, jti: &str, slot: &SharedSlot) {
        loop {
            tokio::time::sleep(IDLE).await;
            let mut token = slot.slot.lock().await;
            let now = Instant::now();
            let idle = token.is_idle(now) && !token.refilling();
            if token.current.as_ref().is_some_and(|serving| now >= serving.until) {
                token.retire_current();
            }
            let ended = if idle { token.end_all() } else { std::mem::take(&mut token.ended) };
            if let Err(err) = self.settle_all(ended).await {
                // Their unused uses stay spent: that costs uses, never grants one.
                tracing::warn!(error = %err, "failed to give held uses back to the usage store");
            }
            if idle {
                // Under the slot's lock: a request waiting for it sees the
                // mark and looks the token up again.
                token.watched = false;
                token.forgotten = true;
                held.forget(jti, slot);
                return;
            }
        }
    }

    /// Gives every held use back (shutdown), so a restart loses none.
    pub async fn settle_holds(&self) {
        let Some(held) = &self.held else { return };
        held.closed.store(true, Ordering::SeqCst);
        for slot in held.slots() {
            let ended = slot.slot.lock().await.end_all();
            if let Err(err) = self.settle_all(ended).await {
                tracing::warn!(error = %err, "failed to give held uses back to the usage store at shutdown");
            }
        }
        // A hold asked for in the background lands in a closed slot and is
        // given back there; wait for those asks to end.
        let started = Instant::now();
        for slot in held.slots() {
            while slot.slot.lock().await.refilling() && started.elapsed() < MAX_WAIT {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }

    /// Settles every hold of `ended`, each on its own: a failure leaves that
    /// hold's unused uses spent (it costs uses, never grants one) and is
    /// reported after the others were tried.
    async fn settle_all(&self, ended: Vec<(Hold, u64)>) -> Result<(), UsageError> {
        let mut failed = None;
        for (hold, unused) in ended {
            if let Err(err) = self.settle(&hold, unused, now_ms()).await {
                failed.get_or_insert(err);
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Runs `ask` (first at `now_ms`, then at the time of each retry) until
    /// it is not refused for uses held elsewhere, waiting for those (at most
    /// [`MAX_WAIT`]); then such a refusal is `Exhausted`.
    pub(super) async fn waiting_for_holds<T: HeldAnswer, F: Future<Output = Result<T, UsageError>>>(
        &self,
        now_ms: u64,
        mut ask: impl FnMut(u64) -> F,
    ) -> Result<T, UsageError> {
        let started = Instant::now();
        let mut at = now_ms;
        loop {
            let answer = ask(at).await?;
            let Some(until_ms) = answer.held_until() else { return Ok(answer) };
            let waited = started.elapsed();
            if waited >= MAX_WAIT {
                return Ok(T::exhausted());
            }
            tokio::time::sleep(pause(until_ms, waited)).await;
            at = self::now_ms();
        }
    }
}

/// How long a request refused for uses held until `until_ms` sleeps before
/// it asks again, having waited `waited` already.
fn pause(until_ms: u64, waited: Duration) -> Duration {
    let until = Duration::from_millis(until_ms.saturating_sub(now_ms()).saturating_add(1));
    until.min(POLL).min(MAX_WAIT.saturating_sub(waited))
}

fn now_ms() -> u64 {
    unix_ms(std::time::SystemTime::now())
}

/// An answer that may say "refused, but uses are held until then".
pub(super) trait HeldAnswer {
    fn held_until(&self) -> Option<u64>;
    fn exhausted() -> Self;
}

impl HeldAnswer for Taken {
    fn held_until(&self) -> Option<u64> {
        if let Self::HeldElsewhere { until_ms } = self { Some(*until_ms) } else { None }
    }
    fn exhausted() -> Self {
        Self::Exhausted
    }
}

impl HeldAnswer for Reservation {
    fn held_until(&self) -> Option<u64> {
        if let Self::HeldElsewhere { until_ms } = self { Some(*until_ms) } else { None }
    }
    fn exhausted() -> Self {
        Self::Exhausted
    }
}

#[cfg(test)]
mod tests {
    use super::IDLE;
    use crate::usage::test_redis::TestRedis;
    use crate::usage::{Backend, Store, StoreMetrics, Taken, UsageStore, UseAsk};

    fn ask(jti: &str, limit: u64) -> UseAsk {
        UseAsk { jti: jti.to_owned(), limit, expires_at: super::now_ms() / 1_000 + 3_600, lease_ms: 60_000 }
    }

    /// What the stores of a check need kept alive.
    enum Keep {
        Dir(#[allow(dead_code)] tempfile::TempDir),
        Redis(#[allow(dead_code)] TestRedis),
    }

    /// Stores over one SQLite file, as agents sharing it, each holding up
    /// to its `most` uses (1: each use on its own).
    async fn sqlite(most: &[u64]) -> (Vec<Store>, Keep) {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("usage.db");
        let stores = most.iter().map(|&most| Store::open_sqlite(&path).expect("store").0.holding_at_most(most));
        (stores.collect(), Keep::Dir(dir))
    }

    /// The same, as agents of a fleet on one Redis.
    async fn redis(most: &[u64]) -> (Vec<Store>, Keep) {
        let server = TestRedis::start();
        let mut stores = Vec::new();
        for &most in most {
            let backend = Backend::Redis(server.another_store().await);
            stores.push(Store { backend, metrics: StoreMetrics::new(), held: None }.holding_at_most(most));
        }
        (stores, Keep::Redis(server))
    }

    fn store_ops(store: &Store) -> u64 {
        store.metrics().latency.count()
    }

    async fn take(store: &Store, ask: &UseAsk) -> Taken {
        store.take(ask, super::now_ms()).await.expect("take")
    }

    /// Takes until refused; returns how many were spent.
    async fn spend_all(store: &Store, ask: &UseAsk) -> u64 {
        let mut spent = 0;
        while take(store, ask).await == Taken::Spent {
            spent += 1;
        }
        spent
    }

    async fn a_token_in_heavy_use_is_served_from_holds_and_gives_back_the_rest_at_shutdown(stores: Vec<Store>) {
        let token = ask("heavy", 1_000);
        for _ in 0..200 {
            assert_eq!(take(&stores[0], &token).await, Taken::Spent);
        }
        assert!(store_ops(&stores[0]) < 40, "{} store operations for 200 uses", store_ops(&stores[0]));
        stores[0].settle_holds().await;
        // At once, before the idle check could give them back: half of the
        // 800 free uses are taken by one more hold.
        let taken = stores[1].take_held(&token, 1_000, 1_000, super::now_ms()).await.expect("take_held");
        assert!(matches!(taken, Taken::Held(ref hold) if hold.uses == 400), "{taken:?}");
    }

    async fn held_uses_come_back_once_the_token_is_idle(stores: Vec<Store>) {
        let token = ask("idle", 100);
        for _ in 0..10 {
            assert_eq!(take(&stores[0], &token).await, Taken::Spent);
        }
        tokio::time::sleep(IDLE * 3).await;
        let taken = stores[1].take_held(&token, 1_000, 1_000, super::now_ms()).await.expect("take_held");
        assert!(matches!(taken, Taken::Held(ref hold) if hold.uses == 45), "{taken:?}");
    }

    /// Uses held by an agent that stops fetching come back to another
    /// agent that was refused meanwhile: it waits for them instead of
    /// answering 401.
    async fn a_refusal_waits_for_the_uses_another_agent_holds(stores: Vec<Store>) {
        let token = ask("wait", 20);
        for _ in 0..4 {
            assert_eq!(take(&stores[0], &token).await, Taken::Spent);
        }
        assert_eq!(spend_all(&stores[1], &token).await, 16, "the held uses came back to the other agent");
        assert_eq!(take(&stores[0], &token).await, Taken::Exhausted);
    }

    /// Three agents (two holding, one not) race 400 uses of a limit of
    /// 100: exactly 100 succeed.
    async fn exactly_n_of_400_concurrent_uses_across_three_agents(stores: Vec<Store>) {
        let token = ask("race", 100);
        let tasks: Vec<_> = (0..400)
            .map(|i| {
                let (store, token) = (stores[i % 3].clone(), token.clone());
                tokio::spawn(async move { take(&store, &token).await == Taken::Spent })
            })
            .collect();
        let mut spent = 0;
        for task in tasks {
            spent += usize::from(task.await.expect("join"));
        }
        assert_eq!(spent, 100);
        for store in &stores {
            assert_eq!(take(store, &token).await, Taken::Exhausted);
        }
    }

    async fn a_store_asked_for_one_use_at_a_time_holds_nothing(stores: Vec<Store>) {
        let token = ask("single", 10);
        for _ in 0..3 {
            assert_eq!(take(&stores[0], &token).await, Taken::Spent);
        }
        assert_eq!(store_ops(&stores[0]), 3, "one store operation per use");
        assert_eq!(spend_all(&stores[1], &token).await, 7, "nothing held");
    }

    /// Another agent whose clock runs a second ahead does not take this
    /// agent's live hold for a dead one (its unused uses would stay spent).
    async fn a_clock_a_second_ahead_elsewhere_costs_no_held_use(stores: Vec<Store>) {
        let token = ask("skew", 100);
        for _ in 0..3 {
            assert_eq!(take(&stores[0], &token).await, Taken::Spent);
        }
        // The hold asked for in the background has landed (well before the idle check).
        tokio::time::sleep(IDLE / 5).await;
        let ahead = super::now_ms() + 1_050;
        let Taken::Held(other) = stores[1].take_held(&token, 2, 1_000, ahead).await.expect("take_held") else {
            panic!("no hold");
        };
        stores[1].settle(&other, other.uses, ahead).await.expect("settle");
        stores[0].settle_holds().await;
        assert_eq!(spend_all(&stores[1], &token).await, 97, "every unserved use came back");
    }

    /// Once shutdown has given the holds back, a use still being taken is
    /// taken on its own: no new hold that nothing would settle.
    async fn after_shutdown_no_use_is_held(stores: Vec<Store>) {
        let token = ask("closing", 1_000);
        for _ in 0..10 {
            assert_eq!(take(&stores[0], &token).await, Taken::Spent);
        }
        stores[0].settle_holds().await;
        for _ in 0..37 {
            assert_eq!(take(&stores[0], &token).await, Taken::Spent);
        }
        // 47 spent, none held: half of the other 953.
        let taken = stores[1].take_held(&token, 1_000, 1_000, super::now_ms()).await.expect("take_held");
        assert!(matches!(taken, Taken::Held(ref hold) if hold.uses == 476), "{taken:?}");
    }

    /// Runs every check against SQLite and Redis stores.
    macro_rules! held_checks {
        ($backend:ident) => {
            mod $backend {
                #[tokio::test]
                async fn a_token_in_heavy_use_is_served_from_holds_and_gives_back_the_rest_at_shutdown() {
                    let (stores, _keep) = super::$backend(&[16, 1]).await;
                    super::a_token_in_heavy_use_is_served_from_holds_and_gives_back_the_rest_at_shutdown(stores).await;
                }
                #[tokio::test]
                async fn held_uses_come_back_once_the_token_is_idle() {
                    let (stores, _keep) = super::$backend(&[16, 1]).await;
                    super::held_uses_come_back_once_the_token_is_idle(stores).await;
                }
                #[tokio::test]
                async fn a_refusal_waits_for_the_uses_another_agent_holds() {
                    let (stores, _keep) = super::$backend(&[16, 1]).await;
                    super::a_refusal_waits_for_the_uses_another_agent_holds(stores).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn exactly_n_of_400_concurrent_uses_across_three_agents() {
                    let (stores, _keep) = super::$backend(&[64, 64, 1]).await;
                    super::exactly_n_of_400_concurrent_uses_across_three_agents(stores).await;
                }
                #[tokio::test]
                async fn a_clock_a_second_ahead_elsewhere_costs_no_held_use() {
                    let (stores, _keep) = super::$backend(&[16, 1]).await;
                    super::a_clock_a_second_ahead_elsewhere_costs_no_held_use(stores).await;
                }
                #[tokio::test]
                async fn after_shutdown_no_use_is_held() {
                    let (stores, _keep) = super::$backend(&[16, 1]).await;
                    super::after_shutdown_no_use_is_held(stores).await;
                }
                #[tokio::test]
                async fn a_store_asked_for_one_use_at_a_time_holds_nothing() {
                    let (stores, _keep) = super::$backend(&[1, 1]).await;
                    super::a_store_asked_for_one_use_at_a_time_holds_nothing(stores).await;
                }
            }
        };
    }

    /// Spent but not yet served is never more than `--usage-hold-max`: what
    /// a SIGKILL may cost a token (a refill asks only for what is left of it).
    #[tokio::test]
    async fn never_more_than_the_most_held_uses_are_unserved() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("usage.db");
        let store = Store::open_sqlite(&path).expect("store").0.holding_at_most(16);
        let token = ask("sigkill", 100_000);
        let db = rusqlite::Connection::open(&path).expect("db");
        let mut worst = 0;
        for served in 1..=400u64 {
            assert_eq!(take(&store, &token).await, Taken::Spent);
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            let sql = "SELECT used FROM token_uses WHERE jti = 'sigkill'";
            let used: u64 = db.query_row(sql, [], |row| row.get(0)).expect("used");
            worst = worst.max(used - served);
        }
        assert!(worst <= 16, "{worst} uses spent but unserved at once with --usage-hold-max 16");
    }

    /// A background ask that ended without clearing its mark (it panicked,
    /// or was dropped at shutdown) does not keep the token's requests
    /// waiting for it.
    #[tokio::test]
    async fn an_ask_ahead_that_ended_without_a_word_is_not_waited_for() {
        let task = tokio::spawn(std::future::pending::<()>());
        let slot = super::Slot { refill: Some(task.abort_handle()), ..super::Slot::default() };
        assert!(slot.refilling());
        task.abort();
        let _ = task.await;
        assert!(!slot.refilling(), "an aborted ask is over");
        assert!(!slot.holds_any());
    }

    held_checks!(sqlite);
    held_checks!(redis);
}
