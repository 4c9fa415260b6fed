//! Rules every piece of text a client sends must meet, whatever field it is in and whichever backend
//! stores it.

/// Whether every backend can store `text`. PostgreSQL's `text` cannot hold the NUL character, and the
/// same text must be accepted or refused alike on SQLite, so NUL is refused everywhere.
pub fn is_storable(text: &str) -> bool {
    !text.contains('\0')
}

#[cfg(test)]
mod tests {
    use super::is_storable;

    #[test]
    fn nul_is_the_one_character_no_backend_may_be_given() {
        assert!(is_storable("新年快乐 \t\n🧧"));
        assert!(!is_storable("x\u{0}y"));
    }
}
