//! The use cases: generate a token, get a secret, list keys (layer L2).
//!
//! This is the one place that orders the steps the contract orders: syntax
//! (400) before scope (403) before existence (404); a use of a limited token
//! leased before a sops run and confirmed (durably) once the value is in hand,
//! or — the value being cached — taken durably in one step, either way before
//! its success record; the audit record written before a secret or token
//! leaves; a fetch abandoned by its client releases its lease and is
//! audited `aborted` (`vault/pending.rs`). No HTTP here.

mod caller;
mod error;
mod pending;
mod read;
mod readiness;
mod refused;
mod revoke;
mod uses;

use std::time::{Duration, SystemTime};

use vanta_shared::api::{GenerateTokenRequest, GenerateTokenResponse, KeyList, ScopeDetails};
use vanta_shared::{EnvName, ErrorCode, KeyPath, Scope};
use zeroize::Zeroizing;

use secrecy::SecretSlice;

pub use self::caller::Identified;
pub use self::error::Error;
pub use self::read::Read;
use self::read::SUCCESS;
pub use self::readiness::Readiness;
pub use self::refused::RefusedRequest;
pub use self::revoke::Revoker;
use crate::access;
use crate::attest::Attestor;
use crate::audit::{AuditEvent, AuditRecord, AuditWriter};
use crate::etag::{Covers, EtagKey};
use crate::peer::Peer;
use crate::policy::{LivePolicy, MintAsk, Rule};
use crate::sops::SecretSource;
use crate::token::issue::MintRequest;
use crate::token::{TokenIssuer, TokenValidator, VerifiedClaims};
use crate::usage::UsageStore;

use self::pending::PendingFetch;
use self::uses::HeldUse;

/// Token lifetimes, in minutes.
#[derive(Debug, Clone, Copy)]
pub struct TtlPolicy {
    /// Used when a request names none.
    pub default_minutes: u32,
    /// The most a request may ask for.
    pub max_minutes: u32,
}

/// How uses of limited tokens are held and which tokens the store can count.
#[derive(Debug, Clone, Copy)]
pub struct UsageRules {
    /// How long a fetch may hold a use before it comes back unconfirmed.
    pub lease: Duration,
    /// Clock skew allowed between a token's `iat` and the store's birth.
    pub leeway: Duration,
}

/// Everything the use cases need, wired once by `app`.
pub struct Vault<S, U> {
    /// Mints tokens.
    pub issuer: TokenIssuer,
    /// Checks tokens.
    pub validator: TokenValidator,
    /// Decrypted environments.
    pub source: S,
    /// Use counts of limited tokens.
    pub usage: U,
    /// Leases and the store's birth rule.
    pub usage_rules: UsageRules,
    /// The audit log.
    pub audit: AuditWriter,
    /// Token lifetimes.
    pub ttl: TtlPolicy,
    /// Who may mint what (reloaded on SIGHUP).
    pub policy: LivePolicy,
    /// The credential that makes a TCP caller the admin.
    pub admin_token: Option<SecretSlice<u8>>,
    /// Attests local callers (and remembers executables' hashes).
    pub attestor: Attestor,
    /// The HTTP status answered for each code: the HTTP layer's one table,
    /// handed over by `app`, so that audit records name the real status.
    pub status_of: fn(ErrorCode) -> u16,
    /// Keys the entity tags of read answers.
    pub etags: EtagKey,
}

/// A read request as the transport received it: nothing checked yet.
pub struct ReadRequest<'a> {
    /// The bearer token, if the request carried one.
    pub bearer: Option<&'a str>,
    /// The environment, as written in the path.
    pub environment: &'a str,
    /// Who is asking.
    pub peer: Peer,
    /// The `If-None-Match` header, if the request carried one.
    pub if_none_match: Option<&'a str>,
}

/// A checked read: valid token, valid environment name.
struct Authorized {
    claims: VerifiedClaims,
    env: EnvName,
}

// === impl Vault ===

impl<S: SecretSource, U: UsageStore> Vault<S, U> {
    /// Mints a token for a checked request, auditing the attempt with who
    /// asked: the caller is attested and its policy rule found first.
    ///
    /// # Errors
    /// [`Error`] with the code to answer.
    pub async fn generate_token(
        &self,
        request: &GenerateTokenRequest,
        peer: Peer,
        credential: Option<&str>,
    ) -> Result<GenerateTokenResponse, Error> {
        let mut record = AuditRecord::new(AuditEvent::TokenGenerate, peer);
        record.subject = AuditRecord::echo(&request.subject);
        record.environment = AuditRecord::echo(request.environment.as_str());
        record.set_key_pattern(Some(request.key_pattern.as_str()));
        let identified = self.identify(&record.client, credential).await;
        record.set_caller(identified.exe.as_deref(), identified.rule_name());
        let minted = self.mint(request, identified.rule);
        if let Ok(response) = &minted {
            record.jti = Some(response.1.clone());
        }
        self.audited(&mut record, minted).await.map(|(response, _)| response)
    }

    /// Returns the value of `key` in the request's environment, counting a
    /// use of a limited token only when it is returned.
    ///
    /// # Errors
    /// [`Error`] with the code to answer.
    pub async fn get_secret(&self, request: ReadRequest<'_>, key: &str) -> Result<Read<Zeroizing<String>>, Error> {
        let mut record = AuditRecord::new(AuditEvent::SecretAccess, request.peer.clone());
        record.environment = AuditRecord::echo(request.environment);
        record.set_key(key);
        let mut pending = PendingFetch::new(record, self.usage.clone(), self.audit.clone());
        let fetched = self.fetch(&request, key, &mut pending).await;
        let (mut record, held) = pending.disarm();
        let Some(held) = held.filter(|_| fetched.is_ok()) else {
            return audited_as(&self.audit, self.status_of, &mut record, fetched, Read::outcome).await;
        };
        // From here the use is settled even if the client goes away: the
        // task makes it durable, then writes the success record (or the failure).
        let (usage, audit, status_of) = (self.usage.clone(), self.audit.clone(), self.status_of);
        let settled = tokio::spawn(async move {
            let settled = held.settle(&usage).await;
            audited(&audit, status_of, &mut record, settled).await
        });
        settled.await.unwrap_or(Err(Error::Usage(crate::usage::UsageError::Stopped)))?;
        fetched
    }

    /// Lists the keys of the request's environment that the token may read.
    /// Not a use of the token.
    ///
    /// # Errors
    /// [`Error`] with the code to answer.
    pub async fn list_keys(&self, request: ReadRequest<'_>) -> Result<Read<KeyList>, Error> {
        let mut record = AuditRecord::new(AuditEvent::KeyList, request.peer.clone());
        record.environment = AuditRecord::echo(request.environment);
        let listed = self.list(&request, &mut record).await;
        audited_as(&self.audit, self.status_of, &mut record, listed, Read::outcome).await
    }

    fn mint(
        &self,
        request: &GenerateTokenRequest,
        rule: Result<Rule, Error>,
    ) -> Result<(GenerateTokenResponse, String), Error> {
        // The caller first (403), then the request against the agent's own
        // bounds (422): a caller no rule covers learns nothing of them.
        let rule = rule?;
        let ttl_minutes = request.ttl_minutes.unwrap_or_else(|| rule.default_ttl_minutes(self.ttl.default_minutes));
        if ttl_minutes > self.ttl.max_minutes {
            let message = format!("ttl_minutes must be between 1 and {}", self.ttl.max_minutes);
            return Err(Error::Validation(vanta_shared::api::FieldError::field("ttl_minutes", message)));
        }
        let ask = MintAsk {
            environment: &request.environment,
            key_pattern: &request.key_pattern,
            ttl_minutes,
            usage_limit: request.usage_limit,
        };
        rule.check_mint(&ask).map_err(Error::Refused)?;
        let scope = Scope::read_only(request.environment.clone(), request.key_pattern.clone());
        let ttl = Duration::from_secs(u64::from(ttl_minutes) * 60);
        let mint = MintRequest { subject: request.subject.clone(), scope, ttl, usage_limit: request.usage_limit };
        let token = self.issuer.issue(mint, SystemTime::now()).map_err(Error::Issue)?;
        let claims = token.claims;
        let response = GenerateTokenResponse {
            access_token: token.compact,
            token_type: "Bearer".to_owned(),
            expires_in: ttl.as_secs(),
            scope_details: ScopeDetails {
                environment: claims.scope.environment.to_string(),
                key_pattern: claims.scope.key_pattern.to_string(),
                permissions: claims.scope.permissions.clone(),
                usage_limit: claims.usage_limit,
            },
        };
        Ok((response, claims.jti))
    }

    /// Token, then environment syntax. Fills the record's token fields.
    fn authorize(&self, request: &ReadRequest<'_>, record: &mut AuditRecord) -> Result<Authorized, Error> {
        let bearer = request.bearer.ok_or(Error::MissingToken)?;
        let claims = self.validator.validate(bearer, SystemTime::now()).map_err(Error::InvalidToken)?;
        record.jti = Some(claims.claims().jti.clone());
        record.subject = Some(claims.claims().sub.clone());
        self.check_revoked(claims.claims())?;
        let env = request.environment.parse().map_err(Error::BadEnvironment)?;
        Ok(Authorized { claims, env })
    }

    async fn fetch(
        &self,
        request: &ReadRequest<'_>,
        raw_key: &str,
        pending: &mut PendingFetch<U>,
    ) -> Result<Read<Zeroizing<String>>, Error> {
        let Authorized { claims, env } = self.authorize(request, &mut pending.record)?;
        let key: KeyPath = raw_key.parse().map_err(Error::BadKey)?;
        let claims = claims.claims();
        access::check_key(&claims.scope, &env, &key).map_err(Error::Forbidden)?;
        if let Some(if_none_match) = request.if_none_match
            && let Some(etag) = self.unchanged_value(&env, &key, claims, if_none_match).await?
        {
            return Ok(Read::NotModified(etag));
        }
        if let Some(limit) = claims.usage_limit {
            let ask = self.use_ask(claims, limit)?;
            if let Some(value) = self.cached_value(&env, &key) {
                pending.held = Some(HeldUse::ToTake(ask));
                return Ok(self.fresh_value(&env, &key, value));
            }
            pending.held = Some(HeldUse::Leased(self.reserve(&ask).await?));
        }
        // A revoke answered while sops ran holds for this fetch too.
        let value = self.lookup(&env, &key).await.and_then(|value| self.check_revoked(claims).map(|()| value));
        if let (Err(_), Some(HeldUse::Leased(lease))) = (&value, &pending.held) {
            self.usage.release(lease).await.map_err(Error::Usage)?;
            pending.held = None;
        }
        Ok(self.fresh_value(&env, &key, value?))
    }

    fn fresh_value(&self, env: &EnvName, key: &KeyPath, value: Zeroizing<String>) -> Read<Zeroizing<String>> {
        let etag = self.etags.tag(Covers::Value, env.as_str(), [(key.as_str(), value.as_str())]);
        Read::Fresh { body: value, etag }
    }

    /// The value if its environment is cached and current (no sops run).
    fn cached_value(&self, env: &EnvName, key: &KeyPath) -> Option<Zeroizing<String>> {
        let tree = self.source.cached(env)?;
        tree.lookup(key).ok().map(|value| Zeroizing::new(value.to_owned()))
    }

    async fn lookup(&self, env: &EnvName, key: &KeyPath) -> Result<Zeroizing<String>, Error> {
        let tree = self.source.load(env).await.map_err(Error::from_sops)?;
        let value = tree.lookup(key).map_err(Error::NoSuchKey)?;
        Ok(Zeroizing::new(value.to_owned()))
    }

    async fn list(&self, request: &ReadRequest<'_>, record: &mut AuditRecord) -> Result<Read<KeyList>, Error> {
        let Authorized { claims, env } = self.authorize(request, record)?;
        let scope = &claims.claims().scope;
        access::check_env(scope, &env).map_err(Error::Forbidden)?;
        // Listing is not a use, but a used-up token is no longer valid (docs/API.md §4).
        self.check_not_used_up(claims.claims()).await?;
        let tree = self.source.load(&env).await.map_err(Error::from_sops)?;
        let keys: Vec<String> = tree.keys().into_iter().filter(|k| scope.key_pattern.matches_str(k)).collect();
        // The tag covers the values too: one poll of the list sees any change in scope.
        let entries = keys.iter().filter_map(|k| Some((k.as_str(), tree.get(&k.parse().ok()?)?)));
        let etag = self.etags.tag(Covers::List, env.as_str(), entries);
        if request.if_none_match.is_some_and(|tags| etag.matched_by(tags)) {
            return Ok(Read::NotModified(etag));
        }
        Ok(Read::Fresh { body: KeyList { environment: env.to_string(), keys }, etag })
    }

    async fn audited<T>(&self, record: &mut AuditRecord, result: Result<T, Error>) -> Result<T, Error> {
        audited(&self.audit, self.status_of, record, result).await
    }
}

/// Writes the record for `result`; a success whose record cannot be
/// written becomes `audit_unavailable` (docs/VAULT_ACCESS_SYSTEM_README.md:
/// no record, no secret).
async fn audited<T>(
    audit: &AuditWriter,
    status_of: fn(ErrorCode) -> u16,
    record: &mut AuditRecord,
    result: Result<T, Error>,
) -> Result<T, Error> {
    audited_as(audit, status_of, record, result, |_| SUCCESS).await
}

/// [`audited`] with the outcome and status of a success taken from the
/// value (a read may be a 304).
async fn audited_as<T>(
    audit: &AuditWriter,
    status_of: fn(ErrorCode) -> u16,
    record: &mut AuditRecord,
    result: Result<T, Error>,
    outcome: impl FnOnce(&T) -> (&'static str, u16),
) -> Result<T, Error> {
    match result {
        Ok(value) => {
            let (outcome, status) = outcome(&value);
            record.finish(outcome, status, None);
            audit.write(record).await.map_err(Error::Audit)?;
            Ok(value)
        }
        Err(err) => {
            let code = err.code();
            record.finish(code.as_str(), status_of(code), Some(err.detail()));
            if let Err(audit_err) = audit.write(record).await {
                tracing::error!(error = %audit_err, "failed to audit a refused request");
            }
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests;
