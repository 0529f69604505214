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
