//! Every PostgreSQL connection (the pool's, the wake-up listener's) and the
//! lease renewer run on a thread the store owns. A tokio socket belongs to
//! the runtime that opened it: a connection the delivery thread opened would
//! die when that thread's runtime ends (at shutdown, say), and the pool would
//! hand the dead connection to whoever asked next.

use std::future::Future;
use std::pin::Pin;

use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio_postgres::{Client, Config, Error};

use super::Connect;

pub struct IoThread {
    pub handle: Handle,
    /// Dropped with the store: the thread ends and its connections close.
    _stop: oneshot::Sender<()>,
}

impl IoThread {
    pub fn start() -> std::io::Result<IoThread> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new().name("postgres".into()).spawn(move || {
            // Either outcome (sent or dropped) means the store is gone.
            let _ = runtime.block_on(stopped);
        })?;
        Ok(IoThread { handle, _stop: stop })
    }
}

/// Opens the pool's connections on the store's thread.
pub struct OnIoThread {
    pub connect: Connect,
    pub handle: Handle,
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl deadpool_postgres::Connect for OnIoThread {
    fn connect(
        &self,
        config: &Config,
    ) -> BoxFuture<'_, Result<(Client, tokio::task::JoinHandle<()>), Error>> {
        let config = config.clone();
        let tls = self.connect.tls.clone();
        let handle = self.handle.clone();
        Box::pin(async move {
            let (opened, client) = oneshot::channel();
            let task = handle.spawn(async move {
                match config.connect(tls).await {
                    Ok((client, connection)) => {
                        let _ = opened.send(Ok(client));
                        if let Err(error) = connection.await {
                            tracing::debug!(%error, "a PostgreSQL connection ended");
                        }
                    }
                    Err(error) => {
                        let _ = opened.send(Err(error));
                    }
                }
            });
            match client.await {
                Ok(Ok(client)) => Ok((client, task)),
                Ok(Err(error)) => Err(error),
                // The thread is gone (the store is being dropped): no
                // connection can be opened on it, and tokio_postgres's error
                // cannot be made by hand, so ask for one that fails the same.
                Err(_) => {
                    Err(Config::new().connect(tokio_postgres::NoTls).await.err().expect("no host to reach"))
                }
            }
        })
    }
}
