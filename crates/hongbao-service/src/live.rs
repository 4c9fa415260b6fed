//! Wakes the live event streams of the users a commit wrote events for, and only those: a batch of a
//! hot packet's claims wakes its claimers' streams, not every stream open on the process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use hongbao_core::UserId;
use tokio::sync::Notify;

/// How many wakers may be created between two sweeps of those whose streams have all ended.
const SWEEP_EVERY: usize = 1_024;

#[derive(Default)]
pub struct EventWakers {
    users: Mutex<Wakers>,
}

#[derive(Default)]
struct Wakers {
    by_user: HashMap<UserId, Weak<Notify>>,
    created_since_sweep: usize,
}

impl EventWakers {
    /// The waker of a user's streams, shared by all of them while any is open.
    pub fn of(&self, user_id: &UserId) -> Arc<Notify> {
        let mut wakers = self.users.lock().expect("the event wakers' lock is never poisoned");
        if let Some(waker) = wakers.by_user.get(user_id).and_then(Weak::upgrade) {
            return waker;
        }
        wakers.created_since_sweep += 1;
        if wakers.created_since_sweep >= SWEEP_EVERY {
            wakers.by_user.retain(|_, waker| waker.strong_count() > 0);
            wakers.created_since_sweep = 0;
        }
        let waker = Arc::new(Notify::new());
        wakers.by_user.insert(user_id.clone(), Arc::downgrade(&waker));
        waker
    }

    /// Wakes the streams of these users, those that have any.
    pub fn wake<'a>(&self, users: impl IntoIterator<Item = &'a UserId>) {
        let wakers = self.users.lock().expect("the event wakers' lock is never poisoned");
        if wakers.by_user.is_empty() {
            return;
        }
        for user_id in users {
            if let Some(waker) = wakers.by_user.get(user_id).and_then(Weak::upgrade) {
                waker.notify_waiters();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_commit_wakes_the_streams_of_its_users_only() {
        let wakers = EventWakers::default();
        let (alice, bob) = (UserId::parse("usr_aaaaaaaaaaaaaaaaaaaa").expect("an id"), UserId::parse("usr_bbbbbbbbbbbbbbbbbbbb").expect("an id"));
        let (alices, bobs) = (wakers.of(&alice), wakers.of(&bob));
        assert!(Arc::ptr_eq(&alices, &wakers.of(&alice)), "the streams of one user share a waker");
        let alice_woken = alices.notified();
        let bob_woken = bobs.notified();
        tokio::pin!(alice_woken, bob_woken);
        alice_woken.as_mut().enable();
        bob_woken.as_mut().enable();
        wakers.wake([&alice]);
        assert!(futures_poll(alice_woken.as_mut()), "alice's stream is woken");
        assert!(!futures_poll(bob_woken.as_mut()), "bob's is not");
    }

    /// Polls a future once, without waiting.
    fn futures_poll<F: std::future::Future>(future: std::pin::Pin<&mut F>) -> bool {
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        future.poll(&mut context).is_ready()
    }
}
