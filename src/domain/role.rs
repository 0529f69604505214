//! Staff roles and agent presence, and the ordering of privilege.

use serde::{Deserialize, Serialize};

/// What a staff user may do. Ordered by privilege: `Agent < Supervisor < Admin`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Answers conversations assigned to it or waiting in its teams.
    Agent,
    /// An agent who also watches and steers its teams.
    Supervisor,
    /// Configures everything and sees everything.
    Admin,
}

impl Role {
    /// The name stored in the database and used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }

    /// Parses a stored or submitted role name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "agent" => Some(Role::Agent),
            "supervisor" => Some(Role::Supervisor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// Whether this role includes every right of `needed`.
    pub fn at_least(self, needed: Role) -> bool {
        self >= needed
    }
}

/// An agent's presence, as shown to supervisors and used by routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AgentStatus {
    /// Takes new conversations.
    Online,
    /// Keeps its conversations, takes no new ones.
    Away,
    /// Not working.
    Offline,
}

impl AgentStatus {
    /// The name stored in the database and used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Online => "online",
            AgentStatus::Away => "away",
            AgentStatus::Offline => "offline",
        }
    }

    /// Parses a stored or submitted status name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "online" => Some(AgentStatus::Online),
            "away" => Some(AgentStatus::Away),
            "offline" => Some(AgentStatus::Offline),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privilege_is_ordered_agent_supervisor_admin() {
        assert!(Role::Admin.at_least(Role::Supervisor));
        assert!(Role::Supervisor.at_least(Role::Agent));
        assert!(!Role::Agent.at_least(Role::Supervisor));
        assert!(!Role::Supervisor.at_least(Role::Admin));
    }

    #[test]
    fn names_round_trip() {
        for r in [Role::Agent, Role::Supervisor, Role::Admin] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        for s in [AgentStatus::Online, AgentStatus::Away, AgentStatus::Offline] {
            assert_eq!(AgentStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(Role::parse("root"), None);
        assert_eq!(AgentStatus::parse("busy"), None);
    }
}
