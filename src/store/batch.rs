//! Lookups that arrive while the database is busy go to it together.
//!
//! Every lookup joins one queue. A lookup that finds a connection free (one of `pool_size`
//! slots) starts a drain task at once, so a lone lookup waits for nobody; while every
//! connection is busy, lookups gather in the queue and the next free connection takes up to
//! [`MAX_BATCH`] of them in one statement (`= ANY($1)`). On a busy day the database parses,
//! plans and answers one statement for many sessions instead of one each. A lookup waits at
//! most twice `statement_timeout` (as long as for a pooled connection and then its statement).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio_postgres::error::SqlState;

use super::query::Row;
use crate::core::error::StoreError;

/// The most sessions one statement asks for.
pub const MAX_BATCH: usize = 64;

/// What one lookup gets: its row (`None`: no such session), or why the database did not
/// answer (the error and its text for the log).
pub type Answer = Result<Option<Row>, (StoreError, String)>;

struct Waiting {
    token: String,
    answer: oneshot::Sender<Answer>,
}

/// The queue of lookups and the connections that drain it.
pub struct Batcher {
    pool: Pool,
    sql: String,
    statement_timeout: Duration,
    queue: Mutex<VecDeque<Waiting>>,
    slots: Arc<Semaphore>,
}

impl Batcher {
    /// Lookups over `pool`'s connections (`slots` of them at once) with `sql`, which takes the
    /// tokens as a text array (`$1`) and answers each row's token first.
    pub fn new(pool: Pool, sql: String, statement_timeout: Duration, slots: usize) -> Self {
        Batcher {
            pool,
            sql,
            statement_timeout,
            queue: Mutex::new(VecDeque::new()),
            slots: Arc::new(Semaphore::new(slots.max(1))),
        }
    }

    /// The row of the session whose token is `token`. Call within a Tokio runtime.
    pub async fn row(self: &Arc<Self>, token: &str) -> Answer {
        let (answer, asked) = oneshot::channel();
        self.queue().push_back(Waiting {
            token: token.to_owned(),
            answer,
        });
        if let Ok(slot) = self.slots.clone().try_acquire_owned() {
            tokio::spawn(self.clone().drain(slot));
        }
        // As long as a lookup could wait before: `statement_timeout` for a connection, then as
        // long for the statement. A lookup that gives up leaves the queue unasked.
        match tokio::time::timeout(2 * self.statement_timeout, asked).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err((
                StoreError::Unavailable,
                "the lookup was dropped before the database answered".to_owned(),
            )),
            Err(_) => Err((
                StoreError::Timeout,
                "no connection answered in time".to_owned(),
            )),
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Waiting>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Up to [`MAX_BATCH`] waiting lookups whose caller still waits (`None`: none).
    fn take(&self) -> Option<Vec<Waiting>> {
        let mut queue = self.queue();
        let mut batch = Vec::new();
        while batch.len() < MAX_BATCH
            && let Some(waiting) = queue.pop_front()
        {
            if !waiting.answer.is_closed() {
                batch.push(waiting);
            }
        }
        (!batch.is_empty()).then_some(batch)
    }

    /// Answers batches while lookups wait, holding one slot; gives the slot back when the
    /// queue is empty, and takes one again for a lookup that came in while every slot was held.
    async fn drain(self: Arc<Self>, slot: OwnedSemaphorePermit) {
        let mut slot = Some(slot);
        while slot.is_some() {
            while let Some(batch) = self.take() {
                self.answer(batch).await;
            }
            drop(slot.take());
            if !self.queue().is_empty() {
                slot = self.slots.clone().try_acquire_owned().ok();
            }
        }
    }

    async fn answer(&self, batch: Vec<Waiting>) {
        let mut tokens: Vec<&str> = batch.iter().map(|w| w.token.as_str()).collect();
        tokens.sort_unstable();
        tokens.dedup();
        match self.rows(&tokens).await {
            Ok(rows) => {
                for waiting in batch {
                    let row = rows.get(waiting.token.as_str()).cloned();
                    let _ = waiting.answer.send(Ok(row));
                }
            }
            Err(e) => {
                for waiting in batch {
                    let _ = waiting.answer.send(Err(e.clone()));
                }
            }
        }
    }

    /// One statement for `tokens`: their rows by token.
    async fn rows(&self, tokens: &[&str]) -> Result<HashMap<String, Row>, (StoreError, String)> {
        let client = self.pool.get().await.map_err(|e| {
            let kind = match e {
                deadpool_postgres::PoolError::Timeout(_) => StoreError::Timeout,
                _ => StoreError::Unavailable,
            };
            (kind, e.to_string())
        })?;
        let asked = async {
            let statement = client.prepare_cached(&self.sql).await?;
            client.query(&statement, &[&tokens]).await
        };
        let rows = tokio::time::timeout(self.statement_timeout, asked)
            .await
            .map_err(|_| (StoreError::Timeout, "no answer in time".to_owned()))?
            .map_err(|e| {
                let kind = match e.as_db_error().map(|d| d.code()) {
                    Some(&SqlState::QUERY_CANCELED) => StoreError::Timeout,
                    Some(_) => StoreError::Query,
                    None if e.is_closed() => StoreError::Unavailable,
                    None => StoreError::Query,
                };
                (kind, e.to_string())
            })?;
        let mut by_token = HashMap::with_capacity(rows.len());
        for row in rows {
            let read = || -> Result<(String, Row), tokio_postgres::Error> {
                Ok((
                    row.try_get(0)?,
                    Row {
                        expires: row.try_get(1)?,
                        user_id: row.try_get(2)?,
                        name: row.try_get(3)?,
                        email: row.try_get(4)?,
                        image: row.try_get(5)?,
                    },
                ))
            };
            let (token, row) = read().map_err(|e| (StoreError::Query, e.to_string()))?;
            by_token.entry(token).or_insert(row);
        }
        Ok(by_token)
    }
}
