//! Service-level targets: when a first reply and a resolution are due, and
//! when to warn supervisors before they are missed. Pure.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Share of a target after which supervisors are warned ("about to breach").
pub const WARN_AT_PERCENT: i64 = 80;

/// Which target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SlaKind {
    /// The first agent reply.
    FirstResponse,
    /// Closing the conversation.
    Resolution,
}

impl SlaKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SlaKind::FirstResponse => "first_response",
            SlaKind::Resolution => "resolution",
        }
    }
}

/// A team's targets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlaTargets {
    /// First agent reply within this many seconds.
    pub first_response_s: Option<i32>,
    /// Closed within this many seconds.
    pub resolution_s: Option<i32>,
}

/// One pending deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    /// Which target.
    pub kind: SlaKind,
    /// The target in seconds.
    pub target_s: i32,
    /// When supervisors are warned.
    pub warn_at: DateTime<Utc>,
    /// When it is breached.
    pub due_at: DateTime<Utc>,
}

/// The deadlines still open for a conversation created at `created_at`:
/// the first response until an agent replied, the resolution until closed.
pub fn deadlines(
    targets: SlaTargets,
    created_at: DateTime<Utc>,
    responded: bool,
    closed: bool,
) -> Vec<Deadline> {
    let mut out = Vec::new();
    let mut add = |kind, target: Option<i32>| {
        if let Some(t) = target.filter(|t| *t > 0) {
            let total = Duration::seconds(i64::from(t));
            out.push(Deadline {
                kind,
                target_s: t,
                warn_at: created_at + total * i32::try_from(WARN_AT_PERCENT).unwrap_or(80) / 100,
                due_at: created_at + total,
            });
        }
    };
    if !responded && !closed {
        add(SlaKind::FirstResponse, targets.first_response_s);
    }
    if !closed {
        add(SlaKind::Resolution, targets.resolution_s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
    }

    #[test]
    fn deadlines_follow_the_targets_and_the_conversation() {
        let targets = SlaTargets {
            first_response_s: Some(100),
            resolution_s: Some(1000),
        };
        let d = deadlines(targets, t0(), false, false);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].kind, SlaKind::FirstResponse);
        assert_eq!(d[0].warn_at, t0() + Duration::seconds(80));
        assert_eq!(d[0].due_at, t0() + Duration::seconds(100));
        assert_eq!(d[1].due_at, t0() + Duration::seconds(1000));
        let replied = deadlines(targets, t0(), true, false);
        assert_eq!(
            replied.iter().map(|d| d.kind).collect::<Vec<_>>(),
            vec![SlaKind::Resolution]
        );
        assert!(deadlines(targets, t0(), false, true).is_empty());
        assert!(deadlines(SlaTargets::default(), t0(), false, false).is_empty());
    }
}
