//! Replicas on one database share the work by leases: a row per thing only
//! one bridge may do at a time (`router`: routing, in acceptance order, so
//! stories fold in order; `channel:NAME`: sending a channel's messages, so
//! its order and rate limits hold). A lease has an expiry on the database's
//! clock (replicas' clocks may differ) and a fencing token: a bridge that
//! stalled past its expiry finds another token there and records nothing
//! over the newer holder's work. Held leases are renewed every two seconds;
//! a bridge that cannot renew counts them lost before they expire, and stops
//! sending.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use deadpool_postgres::{GenericClient, Pool};

use super::cached::Cached;
use super::query_error;
use crate::store::StoreError;

/// How long a lease lasts unrenewed: how long a dead replica's work waits.
pub const LEASE_MS: i64 = 10_000;
const RENEW_EVERY: Duration = Duration::from_secs(2);
/// A lease counts as lost this long before the database would let it go.
const MARGIN: Duration = Duration::from_secs(3);
/// Now, in milliseconds, on the database's clock.
pub const DB_NOW: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

pub const ROUTER: &str = "router";

pub fn channel(name: &str) -> String {
    format!("channel:{name}")
}

#[derive(Debug, Clone, Copy)]
struct Held {
    token: i64,
    valid_until: Instant,
}

pub struct Leases {
    /// This bridge, as lease rows name it: host, process and a random part.
    pub owner: String,
    held: Mutex<HashMap<String, Held>>,
    renewing: AtomicBool,
    pub closing: AtomicBool,
    /// Where the renewer runs: the store's own thread.
    io: tokio::runtime::Handle,
}

fn valid_from(asked: Instant) -> Instant {
    asked + Duration::from_millis(LEASE_MS as u64) - MARGIN
}

impl Leases {
    pub fn new(io: tokio::runtime::Handle) -> Arc<Leases> {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let nonce = std::collections::hash_map::RandomState::new();
        let random = std::hash::BuildHasher::hash_one(&nonce, Instant::now());
        Arc::new(Leases {
            owner: format!("{}:{}:{random:016x}", host.trim(), std::process::id()),
            held: Mutex::default(),
            renewing: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            io,
        })
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.held.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The token of the lease `name`, if this bridge holds it (or held it
    /// last and has not yet learnt otherwise).
    pub fn token(&self, name: &str) -> Option<i64> {
        self.held().get(name).map(|held| held.token)
    }

    /// Whether this bridge holds `name` now, with time to spare.
    pub fn owns(&self, name: &str) -> bool {
        self.held().get(name).is_some_and(|held| held.valid_until > Instant::now())
    }

    /// Takes or renews the lease `name`; its token when it is this bridge's.
    pub async fn acquire(
        self: &Arc<Self>,
        client: &impl GenericClient,
        pool: &Pool,
        name: &str,
    ) -> Result<Option<i64>, StoreError> {
        let asked = Instant::now();
        let row = client
            .row_opt(
                &format!(
                    "INSERT INTO leases (name, owner, token, until) VALUES ($1, $2, nextval('lease_tokens'), {DB_NOW} + $3)
                     ON CONFLICT (name) DO UPDATE SET
                         token = CASE WHEN leases.owner = excluded.owner THEN leases.token ELSE excluded.token END,
                         owner = excluded.owner, until = excluded.until
                     WHERE leases.owner = excluded.owner OR leases.until < {DB_NOW}
                     RETURNING token"
                ),
                &[&name, &self.owner, &LEASE_MS],
            )
            .await
            .map_err(query_error)?;
        let token = row.map(|row| row.get::<_, i64>(0));
        match token {
            Some(token) => {
                self.held().insert(name.to_owned(), Held { token, valid_until: valid_from(asked) });
                if !self.renewing.swap(true, Ordering::SeqCst) {
                    self.io.spawn(renew(pool.clone(), Arc::downgrade(self)));
                }
            }
            None => {
                self.held().remove(name);
            }
        }
        Ok(token)
    }

    /// Lets go of every lease held, so another replica takes over at once.
    pub async fn release(&self, client: &impl GenericClient) -> Result<(), StoreError> {
        self.closing.store(true, Ordering::SeqCst);
        let names: Vec<String> = self.held().drain().map(|(name, _)| name).collect();
        if names.is_empty() {
            return Ok(());
        }
        client
            .run("DELETE FROM leases WHERE owner = $1 AND name = ANY($2)", &[&self.owner, &names])
            .await
            .map_err(query_error)?;
        Ok(())
    }
}

/// Renews the held leases until the store is dropped or closing.
async fn renew(pool: Pool, leases: Weak<Leases>) {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        let Some(leases) = leases.upgrade() else { return };
        if leases.closing.load(Ordering::SeqCst) {
            return;
        }
        let names: Vec<String> = leases.held().keys().cloned().collect();
        if names.is_empty() {
            continue;
        }
        let asked = Instant::now();
        let Ok(client) = pool.get().await else { continue };
        let renewed = client
            .rows(
                &format!(
                    "UPDATE leases SET until = {DB_NOW} + $3 WHERE owner = $1 AND name = ANY($2) RETURNING name, token"
                ),
                &[&leases.owner, &names, &LEASE_MS],
            )
            .await;
        let Ok(rows) = renewed else { continue };
        let still: HashMap<String, i64> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
        let mut held = leases.held();
        held.retain(|name, lease| match still.get(name) {
            Some(token) if *token == lease.token => {
                lease.valid_until = valid_from(asked);
                true
            }
            // Taken over (or released) while this bridge could not renew.
            _ => !names.contains(name),
        });
    }
}
