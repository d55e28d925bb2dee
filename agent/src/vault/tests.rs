//! The use cases with a fake secret source and a real in-memory usage store.

use std::sync::Arc;

use secrecy::SecretSlice;
use serde_json::{Value, json};
use vanta_shared::ErrorCode;

use super::*;
use crate::audit::{AuditSink, AuditWriter};
use crate::sops::{Cause, SopsError, Tree};
use crate::token::{JwtKey, JwtKeys};
use crate::usage::{Lease, Reservation, SqliteStore, UseAsk};

/// Serves `dev` from fixed YAML; every other environment has no file.
/// With `cached`, `dev` is also at hand without a load (as in the cache).
#[derive(Default)]
struct FakeSource {
    cached: bool,
    /// Makes a load (a sops run) signal that it started, then wait for a permit.
    slow: Option<(Arc<tokio::sync::Notify>, Arc<tokio::sync::Semaphore>)>,
}

fn dev_tree() -> Arc<Tree> {
    Arc::new(Tree::parse(b"DB_URL: pg://x\nDB_PASS: hunter2\nAPI:\n  stripe: sk\n").expect("yaml"))
}

impl SecretSource for FakeSource {
    fn cached(&self, env: &EnvName) -> Option<Arc<Tree>> {
        (self.cached && env.as_str() == "dev").then(dev_tree)
    }

    async fn load(&self, env: &EnvName) -> Result<Arc<Tree>, SopsError> {
        if let Some((started, gate)) = &self.slow {
            started.notify_one();
            let _done = gate.acquire().await.expect("gate");
        }
        match env.as_str() {
            "dev" => Ok(dev_tree()),
            "broken" => {
                Err(SopsError::Decrypt { cause: Cause::NoMatchingKey, tried: Default::default(), stderr: None })
            }
            _ => Err(SopsError::NoFile),
        }
    }
}

/// A usage store that never answers.
#[derive(Clone)]
struct DownStore;

fn down() -> crate::usage::UsageError {
    crate::usage::UsageError::Backend(Box::new(std::io::Error::other("connection refused")))
}

impl UsageStore for DownStore {
    async fn reserve(&self, _: &UseAsk, _: u64) -> Result<Reservation, crate::usage::UsageError> {
        Err(down())
    }
    async fn confirm(&self, _: &Lease, _: u64) -> Result<(), crate::usage::UsageError> {
        Err(down())
    }
    async fn take(&self, _: &UseAsk, _: u64) -> Result<crate::usage::Taken, crate::usage::UsageError> {
        Err(down())
    }
    async fn take_held(
        &self,
        _: &UseAsk,
        _: u64,
        _: u64,
        _: u64,
    ) -> Result<crate::usage::Taken, crate::usage::UsageError> {
        Err(down())
    }
    async fn settle(&self, _: &crate::usage::Hold, _: u64, _: u64) -> Result<(), crate::usage::UsageError> {
        Err(down())
    }
    async fn release(&self, _: &Lease) -> Result<(), crate::usage::UsageError> {
        Err(down())
    }
    async fn is_used_up(&self, _: &str, _: u64) -> Result<bool, crate::usage::UsageError> {
        Err(down())
    }
    async fn prune(&self, _: u64, _: u64) -> Result<u64, crate::usage::UsageError> {
        Err(down())
    }
    async fn ping(&self) -> Result<(), crate::usage::UsageError> {
        Err(down())
    }
    async fn revoke(&self, _: &crate::usage::Revocation) -> Result<(), crate::usage::UsageError> {
        Err(down())
    }
    fn is_revoked(&self, _: &str, _: &str, _: u64) -> bool {
        false
    }
    fn born_at(&self) -> u64 {
        0
    }
}

struct Fixture<U = SqliteStore> {
    vault: Vault<FakeSource, U>,
    audit_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    fixture_with(SqliteStore::in_memory().expect("usage").0).await
}

async fn fixture_with<U: UsageStore>(usage: U) -> Fixture<U> {
    fixture_of(FakeSource::default(), usage).await
}

async fn fixture_of<U: UsageStore>(source: FakeSource, usage: U) -> Fixture<U> {
    let dir = tempfile::tempdir().expect("tempdir");
    let audit_path = dir.path().join("audit.jsonl");
    let sink = AuditSink::File { path: audit_path.clone(), fsync: false };
    let (audit, _task) = AuditWriter::open(sink).await.expect("audit");
    let keys = Arc::new(JwtKeys::new(JwtKey::new(SecretSlice::from(vec![5u8; 32])).expect("key"), vec![]));
    let (iss, aud) = ("vanta-agent".to_owned(), "vanta-vault".to_owned());
    let vault = Vault {
        issuer: TokenIssuer::new(keys.clone(), iss.clone(), aud.clone()),
        validator: TokenValidator::new(keys, iss, aud, Duration::from_secs(30)),
        source,
        usage,
        usage_rules: UsageRules { lease: Duration::from_secs(60), leeway: Duration::from_secs(30) },
        audit,
        ttl: TtlPolicy { default_minutes: 15, max_minutes: 60 },
        policy: crate::policy::LivePolicy::new(crate::policy::Policy::from_flags(Default::default())),
        admin_token: None,
        attestor: crate::attest::Attestor::default(),
        status_of: crate::http::error::status_of,
        etags: crate::etag::EtagKey::random(),
    };
    Fixture { vault, audit_path, _dir: dir }
}

fn typed(body: &Value) -> GenerateTokenRequest {
    GenerateTokenRequest::from_json(body).expect("a valid token request")
}

impl<U: UsageStore> Fixture<U> {
    async fn mint(&self, body: Value) -> String {
        self.vault.generate_token(&typed(&body), Peer::Unknown, None).await.expect("mint").access_token
    }

    async fn get(&self, token: &str, env: &str, key: &str) -> Result<String, ErrorCode> {
        match self.get_if(token, env, key, None).await? {
            Read::Fresh { body, .. } => Ok(body),
            Read::NotModified(_) => panic!("304 without If-None-Match"),
        }
    }

    async fn get_if(
        &self,
        token: &str,
        env: &str,
        key: &str,
        if_none_match: Option<&str>,
    ) -> Result<Read<String>, ErrorCode> {
        let request = ReadRequest { bearer: Some(token), environment: env, peer: Peer::Unknown, if_none_match };
        match self.vault.get_secret(request, key).await.map_err(|e| e.code())? {
            Read::Fresh { body, etag } => Ok(Read::Fresh { body: body.to_string(), etag }),
            Read::NotModified(etag) => Ok(Read::NotModified(etag)),
        }
    }

    async fn list_if(&self, token: &str, if_none_match: Option<&str>) -> Result<Read<KeyList>, ErrorCode> {
        let request = ReadRequest { bearer: Some(token), environment: "dev", peer: Peer::Unknown, if_none_match };
        self.vault.list_keys(request).await.map_err(|e| e.code())
    }

    fn audit(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.audit_path).expect("audit file");
        text.lines().map(|l| serde_json::from_str(l).expect("json")).collect()
    }
}

#[tokio::test]
async fn checks_run_in_contract_order() {
    let f = fixture().await;
    let token = f.mint(json!({"subject": "t", "environment": "dev", "key_pattern": "DB_*"})).await;
    assert_eq!(f.get(&token, "dev", "DB_URL").await, Ok("pg://x".into()));
    assert_eq!(f.get("garbage", "../x", "DB_URL").await, Err(ErrorCode::Unauthorized));
    assert_eq!(f.get(&token, "../x", "DB_URL").await, Err(ErrorCode::BadRequest));
    assert_eq!(f.get(&token, "prod", "a\"]").await, Err(ErrorCode::BadRequest));
    assert_eq!(f.get(&token, "prod", "DB_URL").await, Err(ErrorCode::Forbidden));
    assert_eq!(f.get(&token, "dev", "API/stripe").await, Err(ErrorCode::Forbidden));
    assert_eq!(f.get(&token, "dev", "DB_NOPE").await, Err(ErrorCode::NotFound));
    let any = f.mint(json!({"subject": "t", "environment": "broken", "key_pattern": "*"})).await;
    assert_eq!(f.get(&any, "broken", "x").await, Err(ErrorCode::DecryptionFailed));
}

#[tokio::test]
async fn only_successful_fetches_use_a_limited_token() {
    let f = fixture().await;
    let token = f.mint(json!({"subject": "t", "environment": "dev", "key_pattern": "*", "usage_limit": 2})).await;
    assert_eq!(f.get(&token, "dev", "missing").await, Err(ErrorCode::NotFound));
    assert!(f.get(&token, "dev", "DB_URL").await.is_ok());
    assert!(f.get(&token, "dev", "DB_PASS").await.is_ok());
    assert_eq!(f.get(&token, "dev", "DB_URL").await, Err(ErrorCode::Unauthorized));
}

/// Counts the operations that spend or hold uses, around a real store.
#[derive(Clone)]
struct Counted {
    store: SqliteStore,
    ops: Arc<std::sync::Mutex<Vec<&'static str>>>,
}

impl Counted {
    fn note(&self, op: &'static str) {
        self.ops.lock().expect("ops").push(op);
    }
}

impl UsageStore for Counted {
    async fn reserve(&self, ask: &UseAsk, now: u64) -> Result<Reservation, crate::usage::UsageError> {
        self.note("reserve");
        self.store.reserve(ask, now).await
    }
    async fn confirm(&self, lease: &Lease, now: u64) -> Result<(), crate::usage::UsageError> {
        self.note("confirm");
        self.store.confirm(lease, now).await
    }
    async fn take(&self, ask: &UseAsk, now: u64) -> Result<crate::usage::Taken, crate::usage::UsageError> {
        self.note("take");
        self.store.take(ask, now).await
    }
    async fn take_held(
        &self,
        ask: &UseAsk,
        want: u64,
        hold_ms: u64,
        now: u64,
    ) -> Result<crate::usage::Taken, crate::usage::UsageError> {
        self.note("take_held");
        self.store.take_held(ask, want, hold_ms, now).await
    }
    async fn settle(&self, hold: &crate::usage::Hold, unused: u64, now: u64) -> Result<(), crate::usage::UsageError> {
        self.note("settle");
        self.store.settle(hold, unused, now).await
    }
    async fn release(&self, lease: &Lease) -> Result<(), crate::usage::UsageError> {
        self.note("release");
        self.store.release(lease).await
    }
    async fn is_used_up(&self, jti: &str, limit: u64) -> Result<bool, crate::usage::UsageError> {
        self.store.is_used_up(jti, limit).await
    }
    async fn prune(&self, before: u64, now: u64) -> Result<u64, crate::usage::UsageError> {
        self.store.prune(before, now).await
    }
    async fn ping(&self) -> Result<(), crate::usage::UsageError> {
        self.store.ping().await
    }
    async fn revoke(&self, revocation: &crate::usage::Revocation) -> Result<(), crate::usage::UsageError> {
        self.store.revoke(revocation).await
    }
    fn is_revoked(&self, jti: &str, subject: &str, iat: u64) -> bool {
        self.store.is_revoked(jti, subject, iat)
    }
    fn born_at(&self) -> u64 {
        self.store.born_at()
    }
}

#[tokio::test]
async fn a_cached_value_takes_its_use_in_one_store_operation() {
    let ops = Arc::new(std::sync::Mutex::new(Vec::new()));
    let store = Counted { store: SqliteStore::in_memory().expect("usage").0, ops: Arc::clone(&ops) };
    let f = fixture_of(FakeSource { cached: true, ..FakeSource::default() }, store).await;
    let token = f.mint(json!({"subject": "t", "environment": "dev", "key_pattern": "*", "usage_limit": 2})).await;
    assert_eq!(f.get(&token, "dev", "DB_URL").await, Ok("pg://x".into()));
    assert_eq!(*ops.lock().expect("ops"), ["take"], "one operation per cached use");
    // A key the cache does not hold goes the leased way (no use spent on a 404).
    assert_eq!(f.get(&token, "dev", "missing").await, Err(ErrorCode::NotFound));
    assert_eq!(*ops.lock().expect("ops"), ["take", "reserve", "release"]);
    assert_eq!(f.get(&token, "dev", "DB_PASS").await, Ok("hunter2".into()));
    assert_eq!(f.get(&token, "dev", "DB_URL").await, Err(ErrorCode::Unauthorized), "both uses spent");
    let last = f.audit().pop().expect("a record");
    assert_eq!((&last["status_code"], &last["outcome"]), (&json!(401), &json!("unauthorized")), "{last}");
}

#[tokio::test]
async fn every_attempt_is_audited_without_secrets() {
    let f = fixture().await;
    let token = f.mint(json!({"subject": "alice", "environment": "dev", "key_pattern": "*"})).await;
    let _ = f.get(&token, "dev", "DB_PASS").await;
    let _ = f.get("bad", "dev", "DB_PASS").await;
    let Ok(Read::Fresh { body: keys, .. }) = f.list_if(&token, None).await else { panic!("no list") };
    assert_eq!(keys.keys, ["API/stripe", "DB_PASS", "DB_URL"]);
    let lines = f.audit();
    let events: Vec<_> = lines.iter().map(|l| (l["event"].clone(), l["status_code"].clone())).collect();
    assert_eq!(
        events,
        [
            (json!("token_generate"), json!(200)),
            (json!("secret_access"), json!(200)),
            (json!("secret_access"), json!(401)),
            (json!("key_list"), json!(200)),
        ]
    );
    assert_eq!(lines[1]["subject"], "alice");
    assert_eq!(lines[2]["error"], "token is malformed");
    let text = std::fs::read_to_string(&f.audit_path).expect("audit");
    assert!(!text.contains("hunter2") && !text.contains(&token));
}

#[tokio::test]
async fn token_requests_are_validated() {
    let f = fixture().await;
    let over = json!({"subject": "t", "environment": "dev", "key_pattern": "*", "ttl_minutes": 61});
    let err = f.vault.generate_token(&typed(&over), Peer::Unknown, None).await.expect_err("refused");
    assert_eq!(err.code(), ErrorCode::ValidationError);
    assert!(err.to_string().contains("ttl_minutes"));
    let ok = json!({"subject": "t", "environment": "dev", "key_pattern": "*", "ttl_minutes": 60});
    let resp = f.vault.generate_token(&typed(&ok), Peer::Unknown, None).await.expect("mint");
    assert_eq!((resp.expires_in, resp.token_type.as_str()), (3600, "Bearer"));
    assert_eq!(resp.scope_details.usage_limit, None);
}

fn tag_of<T>(read: &Read<T>) -> String {
    match read {
        Read::Fresh { etag, .. } | Read::NotModified(etag) => etag.as_str().to_owned(),
    }
}

#[tokio::test]
async fn a_304_is_audited_and_is_not_a_use() {
    let f = fixture().await;
    let token = f.mint(json!({"subject": "w", "environment": "dev", "key_pattern": "DB_*", "usage_limit": 1})).await;
    let listed = f.list_if(&token, None).await.expect("list");
    let list_tag = tag_of(&listed);
    assert!(matches!(f.list_if(&token, Some(&list_tag)).await, Ok(Read::NotModified(_))));
    assert!(matches!(f.list_if(&token, Some("\"other\"")).await, Ok(Read::Fresh { .. })));

    // Tags of values differ per key and are not the list's.
    let unlimited = f.mint(json!({"subject": "w", "environment": "dev", "key_pattern": "*"})).await;
    let pass = tag_of(&f.get_if(&unlimited, "dev", "DB_PASS", None).await.expect("fresh"));
    let url = tag_of(&f.get_if(&unlimited, "dev", "DB_URL", None).await.expect("fresh"));
    assert!(pass != url && pass != list_tag);

    // Conditional reads of the limited token's one use: 304s spend nothing.
    for _ in 0..3 {
        assert!(matches!(f.get_if(&token, "dev", "DB_PASS", Some(&pass)).await, Ok(Read::NotModified(_))));
    }
    assert_eq!(f.get(&token, "dev", "DB_PASS").await, Ok("hunter2".into()));
    // Used up: no 304 either, and a mismatching tag is a refused fetch.
    assert_eq!(f.get_if(&token, "dev", "DB_PASS", Some(&pass)).await.err(), Some(ErrorCode::Unauthorized));
    assert_eq!(f.list_if(&token, Some(&list_tag)).await.err(), Some(ErrorCode::Unauthorized));

    let not_modified = f.audit().into_iter().filter(|l| l["outcome"] == "not_modified").collect::<Vec<_>>();
    assert_eq!(not_modified.len(), 4, "one list and three value 304s");
    assert!(not_modified.iter().all(|l| l["status_code"] == 304 && l["error"].is_null()));
    assert!(not_modified.iter().any(|l| l["event"] == "secret_access" && l["key"] == "DB_PASS"));
}

#[tokio::test]
async fn revoking_is_gated_by_the_callers_rule() {
    let mut f = fixture().await;
    let flags = f.vault.identify(&Peer::Unknown, None).await;
    assert_eq!(flags.rule_name().as_deref(), Some(crate::policy::FLAGS_RULE));
    // Without a policy file whoever may mint may revoke (docs/API.md §8).
    assert_eq!(flags.may_revoke().map(|r| r.name).map_err(|e| e.code()), Ok(crate::policy::FLAGS_RULE.to_owned()));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("policy.toml");
    let rule = "environments = [\"dev\"]\nkey_patterns = [\"*\"]\n";
    let text = format!("[[rule]]\nname = \"ops\"\nadmin_token = true\nmay_revoke = true\n{rule}");
    std::fs::write(&path, text).expect("write");
    f.vault.policy = crate::policy::LivePolicy::new(crate::policy::Policy::load(&path).expect("policy"));
    f.vault.admin_token = Some(SecretSlice::from(b"admin-credential-0123456789-0123456789".to_vec()));
    let tcp = Peer::Tcp([127, 0, 0, 1].into());
    let admin = f.vault.identify(&tcp, Some("admin-credential-0123456789-0123456789")).await;
    assert_eq!(admin.may_revoke().map(|r| r.name).map_err(|e| e.code()), Ok("ops".to_owned()));
    let stranger = f.vault.identify(&tcp, Some("wrong")).await;
    assert!(matches!(stranger.may_revoke(), Err(Error::Refused(crate::policy::Refusal::NotAdmin))));
    let unknown = f.vault.identify(&Peer::Unknown, None).await;
    assert!(matches!(unknown.may_revoke(), Err(Error::Refused(crate::policy::Refusal::NoRule))));
}

#[tokio::test]
async fn a_store_that_is_down_refuses_limited_tokens_only_and_says_so() {
    let f = fixture_with(DownStore).await;
    let limited = f.mint(json!({"subject": "t", "environment": "dev", "key_pattern": "*", "usage_limit": 2})).await;
    let unlimited = f.mint(json!({"subject": "t", "environment": "dev", "key_pattern": "*"})).await;
    assert_eq!(f.get(&limited, "dev", "DB_URL").await, Err(ErrorCode::UsageStoreUnavailable));
    assert_eq!(crate::http::error::status_of(ErrorCode::UsageStoreUnavailable), 503);
    assert_eq!(f.get(&unlimited, "dev", "DB_URL").await, Ok("pg://x".into()));
    let lines = f.audit();
    assert_eq!(lines[2]["outcome"], "usage_store_unavailable");
    assert_eq!(lines[2]["error"], "failed to reach the usage store: connection refused");
    assert!(!f.vault.readiness().await.is_ready());
}

/// A store whose reserve reaches the store at once but whose answer comes
/// back only when the test opens the gate: a slow commit or a slow Redis.
#[derive(Clone)]
struct SlowAnswers {
    counted: Counted,
    reached: Arc<tokio::sync::Notify>,
    gate: Arc<tokio::sync::Semaphore>,
}

impl UsageStore for SlowAnswers {
    async fn reserve(&self, ask: &UseAsk, now: u64) -> Result<Reservation, crate::usage::UsageError> {
        let (store, ask) = (self.counted.clone(), ask.clone());
        let in_flight = tokio::spawn(async move { store.reserve(&ask, now).await });
        self.reached.notify_one();
        let _open = self.gate.acquire().await.expect("gate");
        in_flight.await.expect("join")
    }
    async fn confirm(&self, lease: &Lease, now: u64) -> Result<(), crate::usage::UsageError> {
        self.counted.confirm(lease, now).await
    }
    async fn take(&self, ask: &UseAsk, now: u64) -> Result<crate::usage::Taken, crate::usage::UsageError> {
        self.counted.take(ask, now).await
    }
    async fn take_held(
        &self,
        ask: &UseAsk,
        want: u64,
        hold_ms: u64,
        now: u64,
    ) -> Result<crate::usage::Taken, crate::usage::UsageError> {
        self.counted.take_held(ask, want, hold_ms, now).await
    }
    async fn settle(&self, hold: &crate::usage::Hold, unused: u64, now: u64) -> Result<(), crate::usage::UsageError> {
        self.counted.settle(hold, unused, now).await
    }
    async fn release(&self, lease: &Lease) -> Result<(), crate::usage::UsageError> {
        self.counted.release(lease).await
    }
    async fn is_used_up(&self, jti: &str, limit: u64) -> Result<bool, crate::usage::UsageError> {
        self.counted.is_used_up(jti, limit).await
    }
    async fn prune(&self, before: u64, now: u64) -> Result<u64, crate::usage::UsageError> {
        self.counted.prune(before, now).await
    }
    async fn ping(&self) -> Result<(), crate::usage::UsageError> {
        self.counted.ping().await
    }
    async fn revoke(&self, revocation: &crate::usage::Revocation) -> Result<(), crate::usage::UsageError> {
        self.counted.revoke(revocation).await
    }
    fn is_revoked(&self, jti: &str, subject: &str, iat: u64) -> bool {
        self.counted.is_revoked(jti, subject, iat)
    }
    fn born_at(&self) -> u64 {
        self.counted.born_at()
    }
}

/// A client that goes away while its fetch waits for the store's lease does
/// not leave that lease held until its deadline: it is released as soon as
/// it is granted (operator guide, "An abandoned fetch").
#[tokio::test]
async fn a_lease_granted_after_its_fetch_was_abandoned_is_released() {
    let ops = Arc::new(std::sync::Mutex::new(Vec::new()));
    let counted = Counted { store: SqliteStore::in_memory().expect("usage").0, ops: Arc::clone(&ops) };
    let (reached, gate) = (Arc::new(tokio::sync::Notify::new()), Arc::new(tokio::sync::Semaphore::new(0)));
    let store = SlowAnswers { counted, reached: Arc::clone(&reached), gate: Arc::clone(&gate) };
    let f = Arc::new(fixture_with(store).await);
    let token = f.mint(json!({"subject": "t", "environment": "dev", "key_pattern": "*", "usage_limit": 1})).await;
    let fetch = tokio::spawn({
        let (f, token) = (Arc::clone(&f), token.clone());
        async move { f.get(&token, "dev", "DB_URL").await }
    });
    reached.notified().await;
    fetch.abort();
    assert!(fetch.await.expect_err("abandoned").is_cancelled());
    gate.add_permits(1);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !ops.lock().expect("ops").contains(&"release") {
        assert!(std::time::Instant::now() < deadline, "the lease is held until its deadline: {:?}", ops.lock());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gate.add_permits(1);
    assert_eq!(f.get(&token, "dev", "DB_URL").await, Ok("pg://x".into()), "its one use is free again");
}

/// A refused token request's detail quotes the caller's own text (an unknown
/// field's name): it reaches the audit log cut and escaped like every echo.
#[tokio::test]
async fn a_refused_requests_detail_is_echoed_cut_and_escaped() {
    let f = fixture().await;
    let name = format!("\u{202e}{}", "x".repeat(60_000));
    let body = json!({ name.clone(): 1 });
    let detail = format!("unknown field '{name}'");
    let refused = RefusedRequest {
        event: AuditEvent::TokenGenerate,
        peer: Peer::Unknown,
        credential: None,
        body: Some(&body),
        code: ErrorCode::ValidationError,
        detail: &detail,
    };
    f.vault.refuse_request(refused).await;
    let record = f.audit().pop().expect("a record");
    let error = record["error"].as_str().expect("an error");
    assert!(error.len() < 2_000 && !error.contains('\u{202e}'), "{} bytes: {}", error.len(), &error[..40]);
    assert!(error.starts_with("unknown field '\\u{202e}xxx"), "{}", &error[..40]);
}

/// With `If-None-Match`, too, a used-up token is refused before a missing
/// key is reported: 401, not 404.
#[tokio::test]
async fn a_conditional_fetch_with_a_used_up_token_is_401_before_404() {
    let f = fixture().await;
    let token = f.mint(json!({"subject": "t", "environment": "dev", "key_pattern": "*", "usage_limit": 1})).await;
    assert_eq!(f.get(&token, "dev", "DB_URL").await, Ok("pg://x".into()));
    let missing = f.get_if(&token, "dev", "missing", Some("\"any\"")).await.map(|_| ());
    assert_eq!(missing, Err(ErrorCode::Unauthorized));
}

/// A token revoked while its fetch waits for sops does not get the value:
/// the revoke's 200 holds for fetches already under way.
#[tokio::test]
async fn a_token_revoked_while_sops_runs_gets_no_value() {
    let (started, gate) = (Arc::new(tokio::sync::Notify::new()), Arc::new(tokio::sync::Semaphore::new(0)));
    let source = FakeSource { slow: Some((Arc::clone(&started), Arc::clone(&gate))), ..FakeSource::default() };
    let f = Arc::new(fixture_of(source, SqliteStore::in_memory().expect("usage").0).await);
    let token = f.mint(json!({"subject": "t", "environment": "dev", "key_pattern": "*", "usage_limit": 1})).await;
    let jti = f.audit()[0]["jti"].as_str().expect("jti").to_owned();
    let fetch = tokio::spawn({
        let (f, token) = (Arc::clone(&f), token.clone());
        async move { f.get(&token, "dev", "DB_URL").await }
    });
    started.notified().await;
    let keep_until = u64::MAX / 4;
    let revocation = crate::usage::Revocation { target: crate::usage::RevokedTarget::Jti(jti.clone()), keep_until };
    f.vault.usage.revoke(&revocation).await.expect("revoke");
    gate.add_permits(1);
    assert_eq!(fetch.await.expect("join"), Err(ErrorCode::Unauthorized));
    let ask = UseAsk { jti, limit: 1, expires_at: u64::MAX / 4_000, lease_ms: 60_000 };
    assert!(matches!(f.vault.usage.reserve(&ask, 0).await, Ok(Reservation::Granted(_))), "its lease was released");
}

/// The minting policy is checked before the request's ttl against the
/// agent's maximum: a caller no rule covers gets 403, and learns no bound.
#[tokio::test]
async fn a_caller_no_rule_covers_is_refused_before_its_ttl_is_judged() {
    let mut f = fixture().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("policy.toml");
    std::fs::write(
        &path,
        "[[rule]]\nname = \"one\"\nuids = [4242]\nenvironments = [\"dev\"]\nkey_patterns = [\"*\"]\n",
    )
    .expect("write");
    f.vault.policy = crate::policy::LivePolicy::new(crate::policy::Policy::load(&path).expect("policy"));
    let body = json!({"subject": "t", "environment": "dev", "key_pattern": "*", "ttl_minutes": 100_000});
    let refused = f.vault.generate_token(&typed(&body), Peer::Unknown, None).await.map(|_| ());
    assert_eq!(refused.map_err(|e| e.code()), Err(ErrorCode::Forbidden));
}

/// A request that names no lifetime gets the agent's default, but no more
/// than the caller's rule allows: never a 403 for a ttl it did not ask for.
#[tokio::test]
async fn a_request_without_a_ttl_gets_the_default_within_its_rules_maximum() {
    let mut f = fixture().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("policy.toml");
    let text = "[[rule]]\nname = \"ci\"\nadmin_token = true\nmax_ttl_minutes = 5\n\
                environments = [\"dev\"]\nkey_patterns = [\"*\"]\n";
    std::fs::write(&path, text).expect("write");
    f.vault.policy = crate::policy::LivePolicy::new(crate::policy::Policy::load(&path).expect("policy"));
    let admin = "admin-credential-0123456789-0123456789";
    f.vault.admin_token = Some(SecretSlice::from(admin.as_bytes().to_vec()));
    let tcp = Peer::Tcp([127, 0, 0, 1].into());
    let plain = json!({"subject": "t", "environment": "dev", "key_pattern": "*"});
    let minted = f.vault.generate_token(&typed(&plain), tcp.clone(), Some(admin)).await.expect("minted");
    assert_eq!(minted.expires_in, 5 * 60, "the rule's 5 minutes, not the agent's default 15");
    let asked = json!({"subject": "t", "environment": "dev", "key_pattern": "*", "ttl_minutes": 6});
    let refused = f.vault.generate_token(&typed(&asked), tcp, Some(admin)).await.map(|_| ());
    assert_eq!(refused.map_err(|e| e.code()), Err(ErrorCode::Forbidden), "an explicit ask over it is still refused");
}

/// The longest valid subject (256 characters of 4 bytes) reaches the audit
/// log whole, so a revoke by subject copied from the log names the same one.
#[tokio::test]
async fn the_longest_subject_is_audited_whole() {
    let f = fixture().await;
    let subject = "\u{1d11e}".repeat(256);
    f.mint(json!({"subject": subject, "environment": "dev", "key_pattern": "*"})).await;
    let record = f.audit().pop().expect("a record");
    assert_eq!(record["subject"].as_str(), Some(subject.as_str()));
}

/// After a failed sync of the usage store's log every use is refused until a
/// restart: readiness says so, with the same reason, so that orchestrators
/// send the traffic elsewhere (a ping needs no sync and would pass).
#[tokio::test]
async fn a_failed_sync_of_the_usage_log_makes_the_agent_unready() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _task) = SqliteStore::open(&dir.path().join("usage.db")).expect("store");
    let f = fixture_with(store.clone()).await;
    assert!(f.vault.readiness().await.is_ready());
    store.fail_a_sync();
    let readiness = f.vault.readiness().await;
    assert!(!readiness.is_ready());
    let usage = readiness.checks.into_iter().find(|(name, _)| *name == "usage_store").map(|(_, outcome)| outcome);
    let why = usage.expect("a usage_store check").expect_err("the check fails");
    assert!(
        why.starts_with("failed to sync the usage store's log: ")
            && why.ends_with("(uses are refused until the agent restarts)"),
        "{why}"
    );
}
