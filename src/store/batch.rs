//! Lookups that arrive while the database is busy go to it together.
//!
//! Every lookup joins one queue. A lookup that finds a connection free (one of `pool_size`
//! slots) starts a drain task at once, so a lone lookup waits for nobody; while every
//! connection is busy, lookups gather in the queue and the next free connection takes up to
//! [`MAX_BATCH`] of them in one statement (`= ANY($1)`). On a busy day the database parses,
//! plans and answers one statement for many sessions instead of one each.
//!
//! * A lookup waits as long as it could before batching: for a pooled connection, a new one,
//!   then the statement. At most [`QUEUE_PER_SLOT`] lookups per connection wait.
//! * A failed statement reports once (the log line, the circuit breaker), not once per lookup
//!   it held; a statement refused for what one token holds is asked again token by token, and
//!   a row that can not be read fails its own lookups only.
//! * A drain runs on the runtime of the lookup that started it (measured: on a thread of its
//!   own, a lookup cost a fifth more CPU in the proxy and a third more with PostgreSQL's; its
//!   batches are smaller). When that runtime
//!   stops (a worker shutting down), the lookups it held are queued again.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio_postgres::error::SqlState;

use super::query::Row;
use crate::core::error::StoreError;

/// The most sessions one statement asks for.
pub const MAX_BATCH: usize = 64;

/// At most this many lookups wait for a connection per slot; more are refused at once
/// ("overloaded", not counted against the database).
const QUEUE_PER_SLOT: usize = 4 * MAX_BATCH;

/// Why a lookup got no row.
#[derive(Debug, Clone)]
pub struct Failed {
    /// The error.
    pub error: StoreError,
    /// Its text, for the log.
    pub why: String,
    /// Whether this lookup reports the failure (log line, circuit breaker): one lookup per
    /// failed statement, so a statement that answered many lookups counts once; `false` too
    /// for a refusal that says nothing about the database.
    pub reports: bool,
}

impl Failed {
    fn new(error: StoreError, why: impl Into<String>, reports: bool) -> Self {
        Failed {
            error,
            why: why.into(),
            reports,
        }
    }
}

/// What one lookup gets: its row (`None`: no such session), or why the database did not
/// answer.
pub type Answer = Result<Option<Row>, Failed>;

/// A statement's answer: each token's row or why it could not be read.
type Rows = HashMap<String, Result<Row, (StoreError, String)>>;

/// Why a statement got no answer.
struct Refused {
    error: StoreError,
    why: String,
    /// The pooled connection was found closed: worth one more try on another.
    closed: bool,
    /// Refused for the data it was given (SQLSTATE class 22).
    data: bool,
}

impl Refused {
    fn new(error: StoreError, why: impl Into<String>) -> Self {
        Refused {
            error,
            why: why.into(),
            closed: false,
            data: false,
        }
    }
}

struct Waiting {
    token: String,
    answer: oneshot::Sender<Answer>,
}

/// The queue of lookups and the connections that drain it.
pub struct Batcher {
    pool: Pool,
    sql: String,
    statement_timeout: Duration,
    /// How long a lookup waits in all: for a connection, a new one, then the statement.
    patience: Duration,
    queue: Mutex<VecDeque<Waiting>>,
    slots: Arc<Semaphore>,
    max_queued: usize,
}

impl Batcher {
    /// Lookups over `pool`'s connections (`slots` of them at once) with `sql`, which takes the
    /// tokens as a text array (`$1`) and answers each row's token first.
    /// `connect_timeout` and `statement_timeout` are the pool's.
    pub fn new(
        pool: Pool,
        sql: String,
        (connect_timeout, statement_timeout): (Duration, Duration),
        slots: usize,
    ) -> Self {
        let slots = slots.max(1);
        Batcher {
            pool,
            sql,
            statement_timeout,
            patience: 2 * statement_timeout + connect_timeout,
            queue: Mutex::new(VecDeque::new()),
            slots: Arc::new(Semaphore::new(slots)),
            max_queued: slots * QUEUE_PER_SLOT,
        }
    }

    /// The row of the session whose token is `token`. Call within a Tokio runtime.
    pub async fn row(self: &Arc<Self>, token: &str) -> Answer {
        // No stored token holds a NUL (PostgreSQL text can not), and one would fail every
        // lookup asked in the same statement.
        if token.contains('\0') {
            return Ok(None);
        }
        // As long as a lookup could wait before: for a pooled connection, a new one, then the
        // statement. A lookup that gives up leaves the queue unasked.
        let deadline = tokio::time::Instant::now() + self.patience;
        // A drain is dropped with the runtime it runs on (a worker stopping): its lookups are
        // asked again, twice at most.
        for _ in 0..3 {
            let (answer, asked) = oneshot::channel();
            {
                let mut queue = self.queue();
                if queue.len() >= self.max_queued {
                    return Err(Failed::new(
                        StoreError::Unavailable,
                        "too many lookups waiting for a connection",
                        false,
                    ));
                }
                queue.push_back(Waiting {
                    token: token.to_owned(),
                    answer,
                });
            }
            // The drain runs where the lookup does: lookups queued while that worker is busy
            // go together, and nothing crosses threads.
            if let Ok(slot) = self.slots.clone().try_acquire_owned() {
                tokio::spawn(self.clone().drain(slot));
            }
            match tokio::time::timeout_at(deadline, asked).await {
                Ok(Ok(answer)) => return answer,
                Ok(Err(_)) => continue,
                Err(_) => {
                    return Err(Failed::new(
                        StoreError::Timeout,
                        "no connection answered in time",
                        true,
                    ));
                }
            }
        }
        Err(Failed::new(
            StoreError::Unavailable,
            "the lookup was dropped before the database answered",
            true,
        ))
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
        let mut asked = self.rows(&tokens).await;
        // A pooled connection found closed (the database restarted, a proxy between dropped
        // it): once more, on another.
        if matches!(&asked, Err(r) if r.closed) {
            asked = self.rows(&tokens).await;
        }
        // A statement the database refused for what one token holds (SQLSTATE class 22: a
        // character it can not compare) must not fail the others: each is asked alone.
        if tokens.len() > 1 && matches!(&asked, Err(r) if r.data) {
            let mut rows = Rows::new();
            for token in &tokens {
                match self.rows(&[token]).await {
                    Ok(one) => rows.extend(one),
                    Err(r) => {
                        rows.insert((*token).to_owned(), Err((r.error, r.why)));
                    }
                }
            }
            asked = Ok(rows);
        }
        match asked {
            Ok(rows) => {
                // One report per failed token, however many lookups asked for it.
                let mut reported = HashSet::new();
                for waiting in batch {
                    let answer = match rows.get(waiting.token.as_str()) {
                        None => Ok(None),
                        Some(Ok(row)) => Ok(Some(row.clone())),
                        Some(Err((error, why))) => Err(Failed::new(
                            error.clone(),
                            why.clone(),
                            reported.insert(waiting.token.clone()),
                        )),
                    };
                    let _ = waiting.answer.send(answer);
                }
            }
            Err(Refused { error, why, .. }) => {
                for (i, waiting) in batch.into_iter().enumerate() {
                    let _ =
                        waiting
                            .answer
                            .send(Err(Failed::new(error.clone(), why.clone(), i == 0)));
                }
            }
        }
    }

    /// One statement for `tokens`: their rows by token.
    async fn rows(&self, tokens: &[&str]) -> Result<Rows, Refused> {
        let client = self.pool.get().await.map_err(|e| {
            let error = match e {
                deadpool_postgres::PoolError::Timeout(_) => StoreError::Timeout,
                _ => StoreError::Unavailable,
            };
            Refused::new(error, e.to_string())
        })?;
        let asked = async {
            let statement = client.prepare_cached(&self.sql).await?;
            client.query(&statement, &[&tokens]).await
        };
        let rows = tokio::time::timeout(self.statement_timeout, asked)
            .await
            .map_err(|_| Refused::new(StoreError::Timeout, "no answer in time"))?
            .map_err(|e| {
                let code = e.as_db_error().map(|d| d.code().code());
                let error = match code {
                    Some(c) if c == SqlState::QUERY_CANCELED.code() => StoreError::Timeout,
                    Some(_) => StoreError::Query,
                    None if e.is_closed() => StoreError::Unavailable,
                    None => StoreError::Query,
                };
                Refused {
                    error,
                    why: e.to_string(),
                    closed: code.is_none() && e.is_closed(),
                    data: code.is_some_and(|c| c.starts_with("22")),
                }
            })?;
        let mut by_token = Rows::with_capacity(rows.len());
        for row in rows {
            let token: String = row
                .try_get(0)
                .map_err(|e| Refused::new(StoreError::Query, e.to_string()))?;
            // A row that can not be read fails its own lookups only.
            let read = || -> Result<Row, tokio_postgres::Error> {
                Ok(Row {
                    expires: row.try_get(1)?,
                    user_id: row.try_get(2)?,
                    name: row.try_get(3)?,
                    email: row.try_get(4)?,
                    image: row.try_get(5)?,
                })
            };
            let read = read().map_err(|e| (StoreError::Query, e.to_string()));
            by_token.entry(token).or_insert(read);
        }
        Ok(by_token)
    }
}
