//! Least privilege (DESIGN.md invariant 6) as one pure function, so every
//! REST route and socket event asks the same question the same way.

use super::conversation::ConversationState;
use super::{Role, TeamId, UserId};

/// A staff member asking for access.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StaffScope {
    /// Who.
    pub user: UserId,
    /// Their role.
    pub role: Role,
    /// The teams they belong to.
    pub teams: Vec<TeamId>,
}

/// The facts about a conversation that decide who may touch it.
#[derive(Debug, Clone, Copy)]
pub struct ConversationScope {
    /// Its state.
    pub state: ConversationState,
    /// Its team, if any.
    pub team: Option<TeamId>,
    /// Its agent, if any.
    pub assignee: Option<UserId>,
}

/// Whether `staff` may read and write `conv`: admins always; anyone when it
/// is assigned to them; supervisors when it belongs to one of their teams;
/// agents when it waits in a queue of one of their teams.
pub fn staff_may_access(staff: &StaffScope, conv: &ConversationScope) -> bool {
    if staff.role == Role::Admin || conv.assignee == Some(staff.user) {
        return true;
    }
    let in_my_team = conv.team.is_some_and(|t| staff.teams.contains(&t));
    match staff.role {
        Role::Supervisor => in_my_team,
        Role::Agent => in_my_team && conv.state == ConversationState::Queued,
        Role::Admin => true,
    }
}

/// Whether `staff` may hand `conv` to another agent or team: supervisors of
/// its team and admins always; an agent only a conversation it holds.
pub fn staff_may_reassign(staff: &StaffScope, conv: &ConversationScope) -> bool {
    match staff.role {
        Role::Admin => true,
        Role::Supervisor => staff_may_access(staff, conv),
        Role::Agent => conv.assignee == Some(staff.user),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConversationState::*;

    fn staff(role: Role, teams: &[i64]) -> StaffScope {
        StaffScope {
            user: UserId(1),
            role,
            teams: teams.iter().copied().map(TeamId).collect(),
        }
    }

    fn conv(
        state: ConversationState,
        team: Option<i64>,
        assignee: Option<i64>,
    ) -> ConversationScope {
        ConversationScope {
            state,
            team: team.map(TeamId),
            assignee: assignee.map(UserId),
        }
    }

    #[test]
    fn an_agent_sees_its_own_and_its_teams_queue_only() {
        let a = staff(Role::Agent, &[10]);
        assert!(staff_may_access(&a, &conv(Assigned, Some(99), Some(1))));
        assert!(staff_may_access(&a, &conv(Closed, Some(99), Some(1))));
        assert!(staff_may_access(&a, &conv(Queued, Some(10), None)));
        assert!(!staff_may_access(&a, &conv(Queued, Some(11), None)));
        assert!(!staff_may_access(&a, &conv(Assigned, Some(10), Some(2))));
        assert!(!staff_may_access(&a, &conv(Queued, None, None)));
        assert!(!staff_may_reassign(&a, &conv(Queued, Some(10), None)));
        assert!(staff_may_reassign(&a, &conv(Assigned, Some(10), Some(1))));
    }

    #[test]
    fn a_supervisor_sees_its_teams_and_an_admin_everything() {
        let s = staff(Role::Supervisor, &[10]);
        assert!(staff_may_access(&s, &conv(Assigned, Some(10), Some(2))));
        assert!(!staff_may_access(&s, &conv(Assigned, Some(11), Some(2))));
        let admin = staff(Role::Admin, &[]);
        assert!(staff_may_access(&admin, &conv(Queued, None, None)));
        assert!(staff_may_reassign(
            &admin,
            &conv(Assigned, Some(3), Some(9))
        ));
    }
}
