//! One PostgreSQL connection used from one thread: tokio-postgres on a small runtime of its own.
//!
//! The store's connections are synchronous, like the rest of the storage layer, but the writer needs
//! one thing a synchronous client cannot do: send several statements before the first answer comes
//! back (pipelining). A batch's writes, its commit and the wait for the disk go out together, so the
//! writer lock is released as soon as PostgreSQL reaches the commit, not a round trip later.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use tokio::runtime::Runtime;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, Error, NoTls, Row, SimpleQueryMessage, Statement, ToStatement};

pub(crate) type Param = Box<dyn ToSql + Sync>;

/// One request of a pipeline, waiting for its answer.
type Request<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + 'a>>;

/// A statement to run in a pipeline: prepared, with its parameters.
pub(crate) struct Step {
    pub statement: Statement,
    pub params: Vec<Param>,
}

impl Step {
    /// The parameters as tokio-postgres takes them.
    pub fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params.iter().map(|param| param.as_ref()).collect()
    }
}

pub(crate) struct Pg {
    runtime: Runtime,
    client: Client,
}

impl Pg {
    pub fn connect(config: &Config) -> Result<Pg, Box<dyn std::error::Error + Send + Sync>> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build()?;
        let (client, connection) = runtime.block_on(config.connect(NoTls))?;
        // The connection's task runs whenever the thread waits on this runtime, which is whenever it
        // waits for an answer.
        runtime.spawn(async move {
            let _ = connection.await;
        });
        Ok(Pg { runtime, client })
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    pub fn prepare(&mut self, sql: &str) -> Result<Statement, Error> {
        self.block_on(self.client.prepare(sql))
    }

    pub fn query<T: ?Sized + ToStatement>(&mut self, statement: &T, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, Error> {
        self.block_on(self.client.query(statement, params))
    }

    pub fn query_opt<T: ?Sized + ToStatement>(&mut self, statement: &T, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>, Error> {
        self.block_on(self.client.query_opt(statement, params))
    }

    pub fn query_one<T: ?Sized + ToStatement>(&mut self, statement: &T, params: &[&(dyn ToSql + Sync)]) -> Result<Row, Error> {
        self.block_on(self.client.query_one(statement, params))
    }

    pub fn execute<T: ?Sized + ToStatement>(&mut self, statement: &T, params: &[&(dyn ToSql + Sync)]) -> Result<u64, Error> {
        self.block_on(self.client.execute(statement, params))
    }

    pub fn simple_query(&mut self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
        self.block_on(self.client.simple_query(sql))
    }

    pub fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
        self.block_on(self.client.batch_execute(sql))
    }

    /// Sends every step, then each of `then` (simple statements, such as `COMMIT`), before waiting for
    /// any answer; returns the steps' rows and then an empty answer for each of `then`, in order.
    /// PostgreSQL runs them in the order sent.
    pub fn pipeline(&mut self, steps: &[Step], then: &[&str]) -> Vec<Result<Vec<Row>, Error>> {
        let params: Vec<Vec<&(dyn ToSql + Sync)>> = steps.iter().map(Step::params).collect();
        let client = &self.client;
        let mut requests: Vec<Request<'_, Vec<Row>>> = Vec::with_capacity(steps.len() + then.len());
        for (step, params) in steps.iter().zip(&params) {
            requests.push(Box::pin(client.query(&step.statement, params)));
        }
        for sql in then {
            requests.push(Box::pin(async move { client.batch_execute(sql).await.map(|()| Vec::new()) }));
        }
        self.runtime.block_on(in_order(requests))
    }
}

/// Awaits all the futures, polling each for the first time in the order given: a tokio-postgres
/// request is written to the connection on its first poll, so the requests go out in that order.
async fn in_order<T, F: Future<Output = T> + Unpin>(mut futures: Vec<F>) -> Vec<T> {
    let mut outputs: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|context| {
        let mut waiting = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match Pin::new(future).poll(context) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => waiting = true,
                }
            }
        }
        if waiting { Poll::Pending } else { Poll::Ready(()) }
    })
    .await;
    outputs.into_iter().map(|output| output.expect("every future was polled to completion")).collect()
}
