//! Team rules that need no I/O.

use std::collections::HashMap;

use super::TeamId;

/// Whether giving `team` the fallback `fallback` would make overflow go round
/// in a circle (A → B → … → A), which would bounce a conversation forever.
pub fn fallback_makes_cycle(
    fallbacks: &HashMap<TeamId, Option<TeamId>>,
    team: TeamId,
    fallback: TeamId,
) -> bool {
    let mut current = Some(fallback);
    let mut steps = 0;
    while let Some(t) = current {
        if t == team {
            return true;
        }
        steps += 1;
        if steps > fallbacks.len() + 1 {
            return true; // an existing cycle: refuse to extend it
        }
        current = fallbacks.get(&t).copied().flatten();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(i64, Option<i64>)]) -> HashMap<TeamId, Option<TeamId>> {
        pairs
            .iter()
            .map(|(a, b)| (TeamId(*a), b.map(TeamId)))
            .collect()
    }

    #[test]
    fn a_team_cannot_fall_back_to_itself() {
        assert!(fallback_makes_cycle(
            &map(&[(1, None)]),
            TeamId(1),
            TeamId(1)
        ));
    }

    #[test]
    fn a_chain_is_fine_a_loop_is_not() {
        let m = map(&[(1, None), (2, Some(3)), (3, None)]);
        assert!(!fallback_makes_cycle(&m, TeamId(1), TeamId(2)));
        let m = map(&[(1, None), (2, Some(1)), (3, Some(2))]);
        assert!(fallback_makes_cycle(&m, TeamId(1), TeamId(3)));
    }
}

/// The team named like `name` (ignoring ASCII case and surrounding spaces).
pub fn team_named(name: &str, teams: &[(TeamId, String)]) -> Option<TeamId> {
    teams
        .iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(name.trim()))
        .map(|(id, _)| *id)
}

/// The team a new conversation waits in until routing rules exist: the team
/// named like its issue type (case-insensitive), else the configured default
/// team, else the first team; `None` when there are no teams.
pub fn team_for_issue(
    issue_type: Option<&str>,
    default_team: &str,
    teams: &[(TeamId, String)],
) -> Option<TeamId> {
    issue_type
        .and_then(|i| team_named(i, teams))
        .or_else(|| {
            (!default_team.is_empty())
                .then(|| team_named(default_team, teams))
                .flatten()
        })
        .or_else(|| teams.iter().map(|(id, _)| *id).min())
}

#[cfg(test)]
mod choice_tests {
    use super::*;

    #[test]
    fn issue_type_then_default_then_first_team() {
        let teams = vec![
            (TeamId(3), "Sales".to_owned()),
            (TeamId(2), "Billing".to_owned()),
        ];
        assert_eq!(team_for_issue(Some("billing"), "", &teams), Some(TeamId(2)));
        assert_eq!(
            team_for_issue(Some("other"), "Sales", &teams),
            Some(TeamId(3))
        );
        assert_eq!(team_for_issue(None, "", &teams), Some(TeamId(2)));
        assert_eq!(team_for_issue(Some("x"), "", &[]), None);
    }
}
