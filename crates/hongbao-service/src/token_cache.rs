//! The users of the tokens this process has seen, so that authenticating a request normally reads
//! nothing. A token stops working at once when it is rotated or revoked: through this process, the
//! cache forgets the user's token when the change commits; through another process, when that
//! process's notification arrives (PostgreSQL), and at the latest when the entry is older than
//! `Config::token_recheck_seconds`, after which the token is looked up again.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hongbao_core::UserId;
use hongbao_store::User;

/// Past this many cached tokens the cache starts over.
const MAX_CACHED_TOKENS: usize = 1_000_000;

#[derive(Default)]
pub(crate) struct TokenCache {
    by_hash: HashMap<[u8; 32], (User, Instant)>,
    /// Each user's cached token: a user has one token at a time.
    hash_of_user: HashMap<UserId, [u8; 32]>,
    /// Counts the evictions, so that a lookup that began before one does not put back what it took.
    evictions: u64,
}

impl TokenCache {
    /// The user of a token cached less than `max_age` ago.
    pub(crate) fn get(&self, hash: &[u8; 32], max_age: Duration) -> Option<User> {
        let (user, cached_at) = self.by_hash.get(hash)?;
        (cached_at.elapsed() < max_age).then(|| user.clone())
    }

    /// Where the evictions stand; a lookup notes it before it reads.
    pub(crate) fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Remembers a token's user, unless an eviction happened since `evictions_before` (the lookup may
    /// have read the token before it was replaced). A user's previous token is forgotten: only one
    /// works at a time.
    pub(crate) fn insert(&mut self, hash: [u8; 32], user: User, evictions_before: u64) {
        if self.evictions != evictions_before {
            return;
        }
        if self.by_hash.len() >= MAX_CACHED_TOKENS {
            self.by_hash.clear();
            self.hash_of_user.clear();
        }
        if let Some(previous) = self.hash_of_user.insert(user.id.clone(), hash)
            && previous != hash
        {
            self.by_hash.remove(&previous);
        }
        self.by_hash.insert(hash, (user, Instant::now()));
    }

    /// Forgets a token that no longer names a user.
    pub(crate) fn forget(&mut self, hash: &[u8; 32]) {
        self.evictions += 1;
        if let Some((user, _)) = self.by_hash.remove(hash) {
            self.hash_of_user.remove(&user.id);
        }
    }

    /// Replaces the cached copy of a user whose profile changed, keeping their token.
    pub(crate) fn refresh_user(&mut self, user: &User) {
        if let Some(hash) = self.hash_of_user.get(&user.id)
            && let Some((cached, _)) = self.by_hash.get_mut(hash)
        {
            *cached = user.clone();
        }
    }

    /// Forgets the tokens of users whose token changed.
    pub(crate) fn evict_users<'a>(&mut self, users: impl IntoIterator<Item = &'a UserId>) {
        self.evictions += 1;
        for user_id in users {
            if let Some(hash) = self.hash_of_user.remove(user_id) {
                self.by_hash.remove(&hash);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> User {
        User { id: UserId::parse(id).expect("id"), name: "someone".into(), created_at: hongbao_core::Timestamp::from_millis(0) }
    }

    #[test]
    fn an_evicted_user_is_not_put_back_by_a_lookup_that_began_before() {
        let mut cache = TokenCache::default();
        let alice = user("usr_aaaaaaaaaaaaaaaaaaaa");
        let hour = Duration::from_secs(3_600);
        cache.insert([1; 32], alice.clone(), cache.evictions());
        assert_eq!(cache.get(&[1; 32], hour), Some(alice.clone()));
        assert_eq!(cache.get(&[1; 32], Duration::ZERO), None, "an entry past its age is looked up again");
        let lookup_began = cache.evictions();
        cache.evict_users([&alice.id]);
        assert_eq!(cache.get(&[1; 32], hour), None);
        cache.insert([1; 32], alice.clone(), lookup_began);
        assert_eq!(cache.get(&[1; 32], hour), None, "a lookup older than the eviction is not cached");
        cache.insert([2; 32], alice.clone(), cache.evictions());
        cache.insert([3; 32], alice.clone(), cache.evictions());
        assert_eq!(cache.get(&[2; 32], hour), None, "a user's newer token replaces the older");
        assert_eq!(cache.get(&[3; 32], hour), Some(alice));
    }
}
