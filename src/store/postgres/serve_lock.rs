//! One serving bridge per database, until replicas share the queue through
//! claims: a session advisory lock, held by a connection of its own on a
//! thread of its own for as long as the bridge serves. PostgreSQL lets go of
//! it when that connection ends, so a bridge killed with SIGKILL frees it.

use std::sync::mpsc;

use super::{connect_of, redacted};
use crate::store::StoreError;

/// `pg_try_advisory_lock` key: "sbserve!" in ASCII.
const SERVE_LOCK: i64 = 0x7362736572766521;

pub struct ServeLock {
    release: Option<tokio::sync::oneshot::Sender<()>>,
    holder: Option<std::thread::JoinHandle<()>>,
}

impl ServeLock {
    pub fn take(url: &str) -> Result<ServeLock, StoreError> {
        let connect = connect_of(url)?;
        let database = redacted(url);
        let open_error = |message: String| StoreError::Open { path: database.clone(), message };
        let (taken, taken_rx) = mpsc::channel::<Result<(), StoreError>>();
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let name = database.clone();
        let holder = std::thread::Builder::new()
            .name("serve-lock".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = taken.send(Err(StoreError::Open { path: name, message: error.to_string() }));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let (client, connection) = match connect.config.connect(connect.tls).await {
                        Ok(pair) => pair,
                        Err(error) => {
                            let _ =
                                taken.send(Err(StoreError::Open { path: name, message: error.to_string() }));
                            return;
                        }
                    };
                    let mut connection = Box::pin(connection);
                    let locked = tokio::select! {
                        row = client.query_one("SELECT pg_try_advisory_lock($1)", &[&SERVE_LOCK]) => row,
                        ended = &mut connection => {
                            let message = ended.err().map_or("connection closed".into(), |e| e.to_string());
                            let _ = taken.send(Err(StoreError::Open { path: name, message }));
                            return;
                        }
                    };
                    match locked.map(|row| row.get::<_, bool>(0)) {
                        Ok(true) => {
                            let _ = taken.send(Ok(()));
                        }
                        Ok(false) => {
                            let _ = taken.send(Err(StoreError::LockedDatabase { database: name }));
                            return;
                        }
                        Err(error) => {
                            let _ =
                                taken.send(Err(StoreError::Open { path: name, message: error.to_string() }));
                            return;
                        }
                    }
                    // Hold the connection (and so the lock) until released.
                    tokio::select! {
                        _ = released => {}
                        ended = &mut connection => {
                            if let Err(error) = ended {
                                tracing::warn!(%error, "the serve lock's PostgreSQL connection ended");
                            }
                        }
                    }
                });
            })
            .map_err(|error| open_error(error.to_string()))?;
        match taken_rx.recv() {
            Ok(Ok(())) => Ok(ServeLock { release: Some(release), holder: Some(holder) }),
            Ok(Err(error)) => {
                let _ = holder.join();
                Err(error)
            }
            Err(_) => Err(open_error("the serve lock's thread ended".into())),
        }
    }
}

impl Drop for ServeLock {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            let _ = release.send(());
        }
        if let Some(holder) = self.holder.take() {
            let _ = holder.join();
        }
    }
}
