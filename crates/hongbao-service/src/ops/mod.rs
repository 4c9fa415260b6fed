//! The write operations, one module per feature. Each feature uses only the write context
//! (`crate::context`) and the shared vocabulary (`crate::outcome`), never another feature; the
//! registry that dispatches to them is `crate::op`.

pub mod cases;
pub mod checkpoints;
pub mod evidence;
pub mod groups;
pub mod maintenance;
pub mod merchant_keys;
pub mod packets;
pub mod profiles;
pub mod returns;
pub mod risk;
pub mod tokens;
pub mod transfers;
pub mod users;
pub mod webhooks;
