//! Plain types and rules with no I/O: who may do what, what a valid value is,
//! the error codes clients see. Everything here is unit-testable on its own.

pub mod access;
pub mod conversation;
pub mod error_code;
pub mod flood;
pub mod hours;
pub mod ids;
pub mod inbox;
pub mod nul;
pub mod protocol;
pub mod role;
pub mod routing;
pub mod sla;
pub mod team;
pub mod transcript;
pub mod triage;
pub mod values;

pub use error_code::ErrorCode;
pub use ids::{ConversationId, SkillId, TeamId, UserId, VisitorId};
pub use role::{AgentStatus, Role};
pub use values::{
    Capacity, DisplayName, Email, Password, SkillLevel, SkillName, TeamName, ValidationError,
};
