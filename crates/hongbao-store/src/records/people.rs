//! The tables of people: users (with the hash of their token) and groups with their members.

use hongbao_core::{GroupId, UserId};

use super::ColumnType::{Bytes, Int, Text};
use super::{Cell, Fields, Query, Record, Row, Table, Value, ok, owned_row, text};
use crate::{Group, StoreResult, User};

pub static USERS: Table = Table { name: "users", columns: &[("id", Text), ("name", Text), ("created_at", Int), ("token_hash", Bytes)], append_only: false };

/// A user with the hash of their token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredUser {
    pub user: User,
    pub token_hash: [u8; 32],
}

/// A new user's row.
pub fn user_cells<'a>(user: &'a User, token_hash: &'a [u8; 32]) -> [Cell<'a>; 4] {
    [Cell::text(user.id.as_str()), Cell::text(&user.name), Cell::time(user.created_at), Cell::Bytes(token_hash)]
}

impl Record for StoredUser {
    const TABLE: &'static Table = &USERS;

    fn to_row(&self) -> Row {
        owned_row(&user_cells(&self.user, &self.token_hash))
    }

    fn from_row(row: Row) -> StoreResult<StoredUser> {
        let mut fields = Fields::new(&USERS, row)?;
        let user = User { id: fields.parsed(|text| ok(UserId::parse(text)))?, name: fields.text()?, created_at: fields.time()? };
        Ok(StoredUser { user, token_hash: fields.hash_bytes()? })
    }
}

/// The user whose token has this hash.
pub fn user_by_token_hash(token_hash: &[u8; 32]) -> Query {
    Query::all(&USERS, 1).equal("token_hash", Value::Bytes(token_hash.to_vec()))
}

/// A group's own row; its members are rows of [`GROUP_MEMBERS`].
pub static GROUPS: Table = Table { name: "groups", columns: &[("id", Text), ("name", Text), ("owner_id", Text), ("created_at", Int)], append_only: false };

pub static GROUP_MEMBERS: Table = Table { name: "group_members", columns: &[("group_id", Text), ("user_id", Text), ("joined_seq", Int)], append_only: false };

pub fn group_cells(group: &Group) -> [Cell<'_>; 4] {
    [Cell::text(group.id.as_str()), Cell::text(&group.name), Cell::text(group.owner_id.as_str()), Cell::time(group.created_at)]
}

/// A member's row: `joined_seq` numbers the members of a group from 1 in the order they joined.
pub fn member_cells<'a>(group_id: &'a GroupId, user_id: &'a UserId, joined_seq: i64) -> [Cell<'a>; 3] {
    [Cell::text(group_id.as_str()), Cell::text(user_id.as_str()), Cell::Int(joined_seq)]
}

/// A group's members in the order they joined.
pub fn members_of(group_id: &GroupId) -> Query {
    Query::all(&GROUP_MEMBERS, u32::MAX).equal("group_id", text(group_id)).ordered_by(&["joined_seq"])
}

/// A group from its row and its members' rows (of [`members_of`]).
pub fn group_from_rows(row: Row, members: Vec<Row>) -> StoreResult<Group> {
    let mut fields = Fields::new(&GROUPS, row)?;
    let id = fields.parsed(|text| ok(GroupId::parse(text)))?;
    let name = fields.text()?;
    let owner_id = fields.parsed(|text| ok(UserId::parse(text)))?;
    let created_at = fields.time()?;
    let member_ids = members
        .into_iter()
        .map(|member| {
            let mut fields = Fields::new(&GROUP_MEMBERS, member)?;
            fields.skip();
            fields.parsed(|text| ok(UserId::parse(text)))
        })
        .collect::<StoreResult<_>>()?;
    Ok(Group { id, name, owner_id, member_ids, created_at })
}
