//! Events committed by other processes, as PostgreSQL tells them: every batch that writes events
//! notifies the channel `hongbao_events:<schema>` of the users they are for, in its own transaction, so the
//! notification arrives only if the batch commits. Each process listens on a connection of its own and
//! wakes the live streams of those users at once, instead of every stream polling the database.
//!
//! Tokens are told of the same way, on `hongbao_tokens:<schema>`: a batch that replaces or revokes
//! users' tokens notifies their ids, and every other process drops those users from its token cache.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use hongbao_core::UserId;
use hongbao_store::EventWake;
use tokio_postgres::{AsyncMessage, Config, NoTls};

/// The channel the batches of a deployment notify on: one per schema, since PostgreSQL's channels
/// are the database's, so that deployments in other schemas of the same database do not hear them.
pub(crate) fn channel(schema: &str) -> String {
    Channel::Events.name(schema)
}

/// What a channel tells of.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Channel {
    /// The users of events a batch committed.
    Events,
    /// The users whose token a batch replaced or revoked.
    Tokens,
}

impl Channel {
    pub(crate) fn name(self, schema: &str) -> String {
        match self {
            Channel::Events => format!("hongbao_events:{schema}"),
            Channel::Tokens => format!("hongbao_tokens:{schema}"),
        }
    }
}

/// The most bytes of user ids in one notification (PostgreSQL takes payloads under 8,000 bytes).
const PAYLOAD_BYTES: usize = 7_000;

/// How long the listener waits for a notification before it checks that it is still wanted.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The payloads that tell other processes about events for `users`: this process's origin, then the
/// user ids, split so that each stays under PostgreSQL's limit.
pub(crate) fn payloads<'a>(origin: &str, users: impl IntoIterator<Item = &'a UserId>) -> Vec<String> {
    let mut payloads = Vec::new();
    let mut current = String::new();
    for user in users {
        if current.len() + user.as_str().len() + 1 > PAYLOAD_BYTES {
            payloads.push(std::mem::take(&mut current));
        }
        if current.is_empty() {
            current.push_str(origin);
        }
        current.push(' ');
        current.push_str(user.as_str());
    }
    if !current.is_empty() {
        payloads.push(current);
    }
    payloads
}

/// The users of a notification from another process; none for one of this process's own.
fn users_of(payload: &str, origin: &str) -> Vec<UserId> {
    let mut words = payload.split(' ');
    if words.next() == Some(origin) {
        return Vec::new();
    }
    words.filter_map(|word| UserId::parse(word).ok()).collect()
}

/// Listens until `wake` returns false, on a thread of its own, connecting again after a failure.
/// `listening` is true while a connection listens.
pub(crate) fn spawn(config: Config, channel: Channel, origin: String, wake: EventWake, listening: Arc<AtomicBool>) -> std::io::Result<()> {
    let thread_name = match channel {
        Channel::Events => "hongbao-events-listener",
        Channel::Tokens => "hongbao-tokens-listener",
    };
    std::thread::Builder::new().name(thread_name.into()).spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build() {
            Ok(runtime) => runtime,
            Err(error) => {
                tracing::error!(%error, "the events listener could not start; streams fall back to polling");
                return;
            }
        };
        runtime.block_on(async {
            loop {
                let outcome = listen(&config, channel, &origin, wake.as_ref(), &listening).await;
                listening.store(false, Ordering::Relaxed);
                match outcome {
                    Ok(Listening::NoLongerWanted) => return,
                    Ok(Listening::ConnectionEnded) => tracing::warn!("the events listener's connection ended; streams poll until it is back"),
                    Err(error) => tracing::warn!(%error, "the events listener failed; streams poll until it is back"),
                }
                tokio::time::sleep(CHECK_EVERY).await;
                if !wake(&[]) {
                    return;
                }
            }
        });
    })?;
    Ok(())
}

enum Listening {
    NoLongerWanted,
    ConnectionEnded,
}

/// Listens on one connection, until `wake` says it is no longer wanted or the connection ends.
async fn listen(
    config: &Config,
    channel: Channel,
    origin: &str,
    wake: &(dyn Fn(&[UserId]) -> bool + Send),
    listening: &AtomicBool,
) -> Result<Listening, tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (sender, mut notifications) = tokio::sync::mpsc::unbounded_channel();
    // The connection's messages, with the notifications among them, come only from polling it.
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |context| connection.poll_message(context));
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notification(notification) = message
                && sender.send(notification.payload().to_owned()).is_err()
            {
                return;
            }
        }
    });
    let schema: String = client.query_one("SELECT current_schema()", &[]).await?.get(0);
    client.batch_execute(&format!("LISTEN \"{}\"", channel.name(&schema).replace('"', "\"\""))).await?;
    listening.store(true, Ordering::Relaxed);
    let listening = loop {
        match tokio::time::timeout(CHECK_EVERY, notifications.recv()).await {
            Ok(Some(payload)) => {
                if !wake(&users_of(&payload, origin)) {
                    break Listening::NoLongerWanted;
                }
            }
            Ok(None) => break Listening::ConnectionEnded,
            Err(_) => {
                if !wake(&[]) {
                    break Listening::NoLongerWanted;
                }
            }
        }
    };
    driver.abort();
    Ok(listening)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_the_origin_and_stay_under_the_limit() {
        let alphabet = b"234567abcdefghijklmnopqrstuvwxyz";
        let users: Vec<UserId> = (0..1_000_usize)
            .map(|index| {
                let suffix: String = (0..20).map(|position| char::from(alphabet[(index >> (5 * (position % 2))) & 31])).collect();
                UserId::parse(&format!("usr_{suffix}")).expect("an id")
            })
            .collect();
        let sent = payloads("origin1", &users);
        assert!(sent.len() > 1);
        let mut seen = Vec::new();
        for payload in &sent {
            assert!(payload.len() < 8_000);
            assert!(payload.starts_with("origin1 "));
            assert!(users_of(payload, "origin1").is_empty(), "a process ignores its own notifications");
            seen.extend(users_of(payload, "another"));
        }
        assert_eq!(seen, users);
        assert!(payloads("origin1", &[]).is_empty());
    }
}
