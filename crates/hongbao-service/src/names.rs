//! People and their names, with the rule of who may see whose: a user sees their own name, the names
//! of the members of their groups, and of everyone they have dealt with (a packet, a transfer, a
//! return, a case refund between them); the platform's staff see everyone's. Anyone else is "not
//! found", so that nobody can learn who exists or is called what without a relation. Also the lists
//! built on that relation: contacts, one-to-one conversations and a user's transfers.

use std::collections::{BTreeMap, HashMap};

use hongbao_core::staff::Permission;
use hongbao_core::transfer::{Transfer, TransferStatus};
use hongbao_core::{PacketId, UserId};
use hongbao_store::{ListPosition, ReadConn, TransferRole, User};

use crate::outcome::PacketView;
use crate::{Principal, Service, ServiceError, ServiceResult};

/// The most people a contact list holds: the most recent counterparties first, then members of the
/// newest groups, until the list is full.
pub const MAX_CONTACTS: usize = 2_000;
/// The most groups whose members a contact list takes in.
const CONTACT_GROUPS: u32 = 200;

/// Names by user id, for the people an answer mentions.
#[derive(Clone, Debug, Default)]
pub struct Names(HashMap<UserId, String>);

impl Names {
    pub fn get(&self, user_id: &UserId) -> Option<&str> {
        self.0.get(user_id).map(String::as_str)
    }
}

/// Someone a user may pick instead of pasting an id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    pub user: User,
    /// They are members of a group together.
    pub shares_group: bool,
    /// They have paid each other (or one sent the other a packet by name, or a transfer).
    pub dealt_with: bool,
}

/// One item of a one-to-one conversation.
#[derive(Clone, Debug)]
pub enum ConversationItem {
    Transfer(Transfer),
    Packet(PacketView),
}

impl ConversationItem {
    pub fn position(&self) -> ListPosition {
        match self {
            ConversationItem::Transfer(transfer) => ListPosition { created_at: transfer.created_at, id: transfer.id.to_string() },
            ConversationItem::Packet(view) => ListPosition { created_at: view.packet.created_at, id: view.packet.id.to_string() },
        }
    }
}

/// Whether `viewer` may see `other`'s name: themselves, a member of one of their groups, or someone
/// they have dealt with.
fn related(conn: &mut dyn ReadConn, viewer: &UserId, other: &UserId) -> ServiceResult<bool> {
    Ok(viewer == other || conn.share_a_group(viewer, other)? || conn.dealt_with(viewer, other)?)
}

impl Service {
    /// A user as they are now (their name may have changed since their token was cached).
    pub async fn current_user(&self, user_id: &UserId) -> ServiceResult<User> {
        let user_id = user_id.clone();
        self.read(move |conn| conn.user(&user_id)?.ok_or(ServiceError::NotFound(crate::error::Resource::User))).await
    }

    /// A user's id and name, for a viewer who may see it (see the module's rule); "not found" for
    /// anyone else, as for an id that names nobody.
    pub async fn person(&self, viewer: &Principal, user_id: &UserId) -> ServiceResult<User> {
        let user_id = user_id.clone();
        let viewer_id = match viewer {
            Principal::User(user) => Some(user.id.clone()),
            Principal::Admin => None,
            Principal::Operator(_) => {
                viewer.actor()?.require(Permission::ViewCases)?;
                None
            }
        };
        self.read(move |conn| {
            if let Some(viewer_id) = &viewer_id
                && !related(conn, viewer_id, &user_id)?
            {
                return Err(ServiceError::NotFound(crate::error::Resource::User));
            }
            conn.user(&user_id)?.ok_or(ServiceError::NotFound(crate::error::Resource::User))
        })
        .await
    }

    /// The names of these users, for an answer about something the caller may already see (a group
    /// they are in, a packet, a transfer or a return request they are a party to): seeing it lets them
    /// see who it names.
    pub async fn names(&self, user_ids: Vec<UserId>) -> ServiceResult<Names> {
        let mut user_ids = user_ids;
        user_ids.sort_unstable();
        user_ids.dedup();
        if user_ids.is_empty() {
            return Ok(Names::default());
        }
        let users = self.read(move |conn| Ok(conn.users(&user_ids)?)).await?;
        Ok(Names(users.into_iter().map(|user| (user.id, user.name)).collect()))
    }

    /// The users each of these journal entries concerns (its parties), in the entries' order: a
    /// party of an entry may see the names of the others.
    pub async fn parties_of(&self, seqs: Vec<u64>) -> ServiceResult<Vec<Vec<UserId>>> {
        self.read(move |conn| seqs.iter().map(|seq| Ok(conn.txn_parties(*seq)?)).collect()).await
    }

    /// The people a user has dealt with or shares a group with, by name (ignoring case) then id: at
    /// most [`MAX_CONTACTS`], the user themselves left out.
    pub async fn contacts(&self, user_id: &UserId) -> ServiceResult<Vec<Contact>> {
        let user_id = user_id.clone();
        self.read(move |conn| {
            let mut found: BTreeMap<UserId, (bool, bool)> = BTreeMap::new();
            for other in conn.counterparties(&user_id, MAX_CONTACTS as u32)? {
                found.entry(other).or_default().1 = true;
            }
            'groups: for group_id in conn.group_ids_of(&user_id, None, CONTACT_GROUPS)? {
                let Some(group) = conn.group(&group_id)? else { continue };
                for member in group.member_ids {
                    if member == user_id {
                        continue;
                    }
                    if found.len() >= MAX_CONTACTS && !found.contains_key(&member) {
                        break 'groups;
                    }
                    found.entry(member).or_default().0 = true;
                }
            }
            let ids: Vec<UserId> = found.keys().cloned().collect();
            let mut contacts: Vec<Contact> = conn
                .users(&ids)?
                .into_iter()
                .map(|user| {
                    let (shares_group, dealt_with) = found.get(&user.id).copied().unwrap_or_default();
                    Contact { user, shares_group, dealt_with }
                })
                .collect();
            contacts.sort_by(|left, right| (left.user.name.to_lowercase(), &left.user.id).cmp(&(right.user.name.to_lowercase(), &right.user.id)));
            Ok(contacts)
        })
        .await
    }

    /// Users whose id starts with `text` or whose name contains it, for the platform's staff.
    pub async fn search_users(&self, viewer: &Principal, text: &str, limit: u32) -> ServiceResult<Vec<User>> {
        if !matches!(viewer, Principal::Admin) {
            viewer.actor()?.require(Permission::ViewCases)?;
        }
        let text = text.trim().to_owned();
        if text.is_empty() || text.chars().count() > 64 {
            return Err(crate::error::Invalid::TextLength { field: "q", max: 64 }.into());
        }
        self.read(move |conn| Ok(conn.search_users(&text, limit)?)).await
    }

    /// A user's transfers, newest first: sent, received or both, in one status when given.
    pub async fn transfers_of(
        &self,
        user_id: &UserId,
        role: Option<TransferRole>,
        status: Option<TransferStatus>,
        after: Option<ListPosition>,
        limit: u32,
    ) -> ServiceResult<Vec<Transfer>> {
        let user_id = user_id.clone();
        self.read(move |conn| Ok(conn.transfers_of(&user_id, role, status, after.as_ref(), limit)?)).await
    }

    /// The one-to-one conversation of a user with someone they may see: the transfers between them and
    /// the packets one sent the other by name, newest first, after `after`. With the other person as
    /// they are now. "Not found" for someone the user may not see.
    pub async fn conversation(
        &self,
        user_id: &UserId,
        other_id: &UserId,
        after: Option<ListPosition>,
        limit: u32,
    ) -> ServiceResult<(User, Vec<ConversationItem>)> {
        let (user_id, other_id) = (user_id.clone(), other_id.clone());
        self.read(move |conn| {
            if user_id == other_id || !related(conn, &user_id, &other_id)? {
                return Err(ServiceError::NotFound(crate::error::Resource::User));
            }
            let other = conn.user(&other_id)?.ok_or(ServiceError::NotFound(crate::error::Resource::User))?;
            let mut items: Vec<ConversationItem> =
                conn.transfers_between(&user_id, &other_id, after.as_ref(), limit)?.into_iter().map(ConversationItem::Transfer).collect();
            let packet_ids: Vec<PacketId> = conn.packet_ids_between(&user_id, &other_id, after.as_ref(), limit)?;
            for packet_id in packet_ids {
                let Some(packet) = conn.packet(&packet_id)? else { continue };
                let claims = conn.claims(&packet_id)?;
                items.push(ConversationItem::Packet(PacketView { packet, claims }));
            }
            // Both lists are newest first; merged, the newest `limit` of the two.
            items.sort_by(|left, right| {
                let (left, right) = (left.position(), right.position());
                (right.created_at, right.id).cmp(&(left.created_at, left.id))
            });
            items.truncate(limit as usize);
            Ok((other, items))
        })
        .await
    }
}
