//! The routing policy, pure: which agent may take which conversation, which
//! agent is best, and the assignment plan for a queue. `TeamQueue` feeds it
//! the live state and carries the plan out through conditional writes.
//!
//! Policy (see `docs/routing.md`):
//! - **eligible**: online, load < capacity, and every required skill at or
//!   above the required level;
//! - **best**: lowest load ratio (load / capacity), then highest skill match
//!   (sum of the agent's levels in the required skills), then longest idle,
//!   then lowest id (so the choice is deterministic);
//! - **order**: the queue is served by priority (high first), then waiting
//!   time (oldest first), then id.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AgentStatus, ConversationId, TeamId, UserId};

/// What routing knows about one agent.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentState {
    /// The agent.
    pub id: UserId,
    /// Presence: only `online` agents take new conversations.
    pub status: AgentStatus,
    /// Open conversations held now.
    pub load: u32,
    /// Most it holds at once.
    pub capacity: u32,
    /// Skill name → level 1–5.
    pub skills: BTreeMap<String, u8>,
    /// Since when it has had nothing new (last assignment or coming online).
    pub idle_since: DateTime<Utc>,
}

/// What routing knows about one waiting conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedConversation {
    /// The conversation.
    pub id: ConversationId,
    /// Higher is served first.
    pub priority: i32,
    /// Since when it waits.
    pub waiting_since: DateTime<Utc>,
    /// Skill name → least level needed.
    pub required: BTreeMap<String, u8>,
}

/// Serving order: priority (high first), then age (oldest first), then id.
pub fn serving_order(a: &QueuedConversation, b: &QueuedConversation) -> Ordering {
    serving_key(a).cmp(&serving_key(b))
}

/// Where a conversation stands in serving order, as a sortable key:
/// higher priority first, then longer waiting, then lower id.
pub fn serving_key(c: &QueuedConversation) -> (std::cmp::Reverse<i32>, DateTime<Utc>, i64) {
    (std::cmp::Reverse(c.priority), c.waiting_since, c.id.0)
}

/// Whether an agent in `status` holding `load` conversations of its
/// `capacity` has room for one more, skills aside.
pub fn has_room(status: AgentStatus, load: u64, capacity: u64) -> bool {
    status == AgentStatus::Online && load < capacity
}

/// Whether `agent` may take `conv` now.
pub fn eligible(agent: &AgentState, conv: &QueuedConversation) -> bool {
    has_room(
        agent.status,
        u64::from(agent.load),
        u64::from(agent.capacity),
    ) && conv
        .required
        .iter()
        .all(|(skill, level)| agent.skills.get(skill).is_some_and(|l| l >= level))
}

/// Sum of the agent's levels in the conversation's required skills.
fn skill_match(agent: &AgentState, conv: &QueuedConversation) -> u32 {
    conv.required
        .keys()
        .map(|s| u32::from(agent.skills.get(s).copied().unwrap_or(0)))
        .sum()
}

/// `Less` when `a` is the better choice for `conv`.
fn better(a: &AgentState, b: &AgentState, conv: &QueuedConversation) -> Ordering {
    // load ratio a.load/a.cap vs b.load/b.cap, compared exactly.
    let ratio = (u64::from(a.load) * u64::from(b.capacity))
        .cmp(&(u64::from(b.load) * u64::from(a.capacity)));
    ratio
        .then(skill_match(b, conv).cmp(&skill_match(a, conv)))
        .then(a.idle_since.cmp(&b.idle_since))
        .then(a.id.0.cmp(&b.id.0))
}

/// The best eligible agent for `conv`, if any.
pub fn best_agent<'a>(
    conv: &QueuedConversation,
    agents: &'a [AgentState],
) -> Option<&'a AgentState> {
    agents
        .iter()
        .filter(|a| eligible(a, conv))
        .min_by(|a, b| better(a, b, conv))
}

/// One planned assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assignment {
    /// The conversation.
    pub conversation: ConversationId,
    /// Its agent.
    pub agent: UserId,
}

/// Plans assignments for a queue: conversations in serving order, each to
/// its best eligible agent, counting each assignment against the agent's
/// capacity. Afterwards no left-over conversation is eligible for any agent
/// (work conservation), no agent is over capacity, and a conversation was
/// skipped only if no agent could take it when its turn came.
/// `now` becomes the agents' new `idle_since` when they get one.
pub fn plan<'q>(
    queue: impl IntoIterator<Item = &'q QueuedConversation>,
    agents: &mut [AgentState],
    now: DateTime<Utc>,
) -> Vec<Assignment> {
    let mut order: Vec<&QueuedConversation> = queue.into_iter().collect();
    order.sort_by(|a, b| serving_order(a, b));
    plan_in_order(order, agents, now)
}

/// [`plan`] for a queue already in serving order (a team queue keeps its
/// waiting list so): walked lazily, and only until no agent has a free
/// place, so a long backlog is not read to its end for every plan.
pub fn plan_in_order<'q>(
    queue: impl IntoIterator<Item = &'q QueuedConversation>,
    agents: &mut [AgentState],
    now: DateTime<Utc>,
) -> Vec<Assignment> {
    let mut out = Vec::new();
    // Free places among online agents: once none is left nothing more can
    // be assigned.
    let mut free: u64 = agents
        .iter()
        .filter(|a| a.status == AgentStatus::Online)
        .map(|a| u64::from(a.capacity.saturating_sub(a.load)))
        .sum();
    for conv in queue {
        if free == 0 {
            break;
        }
        let Some(best) = best_agent(conv, agents).map(|a| a.id) else {
            continue;
        };
        if let Some(agent) = agents.iter_mut().find(|a| a.id == best) {
            agent.load += 1;
            agent.idle_since = now;
            free -= 1;
        }
        out.push(Assignment {
            conversation: conv.id,
            agent: best,
        });
    }
    out
}

/// A routing rule as admins write it: when every given condition matches,
/// the conversation goes to `team` with `required_skills` and `priority`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuleConditions {
    /// Pre-chat issue type (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue_type: Option<String>,
    /// Preferred language, e.g. `es` (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Channel: `widget`, `whatsapp` or `api`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Custom pre-chat fields that must equal these values (text compared
    /// case-insensitively).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = Object)]
    pub custom_fields: BTreeMap<String, serde_json::Value>,
}

/// The facts of a new conversation that rules match against.
#[derive(Debug, Clone, Default)]
pub struct Facts<'a> {
    /// Issue type.
    pub issue_type: Option<&'a str>,
    /// Language.
    pub language: Option<&'a str>,
    /// Channel.
    pub channel: &'a str,
    /// Custom fields.
    pub custom_fields: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

fn same_text(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

fn same_value(want: &serde_json::Value, got: Option<&serde_json::Value>) -> bool {
    match (want, got) {
        (serde_json::Value::String(w), Some(serde_json::Value::String(g))) => same_text(w, g),
        (w, Some(g)) => w == g,
        (_, None) => false,
    }
}

impl RuleConditions {
    /// Whether every condition given holds for `facts` (no condition: always).
    pub fn matches(&self, facts: &Facts<'_>) -> bool {
        let text = |want: &Option<String>, got: Option<&str>| match want {
            None => true,
            Some(w) => got.is_some_and(|g| same_text(w, g)),
        };
        text(&self.issue_type, facts.issue_type)
            && text(&self.language, facts.language)
            && text(&self.channel, Some(facts.channel))
            && self
                .custom_fields
                .iter()
                .all(|(k, v)| same_value(v, facts.custom_fields.and_then(|m| m.get(k))))
    }
}

/// What a matching rule decides.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteDecision {
    /// The team, if the rule names one.
    pub team: Option<TeamId>,
    /// Required skill name → least level.
    pub required_skills: BTreeMap<String, u8>,
    /// Priority.
    pub priority: i32,
}

/// An active rule with its evaluation position.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Lower first.
    pub position: i32,
    /// Tie-breaker.
    pub id: i64,
    /// When it applies.
    pub conditions: RuleConditions,
    /// What it decides.
    pub decision: RouteDecision,
}

/// The first rule (by position, then id) whose conditions match.
pub fn first_match<'a>(rules: &'a [Rule], facts: &Facts<'_>) -> Option<&'a Rule> {
    let mut sorted: Vec<&Rule> = rules.iter().collect();
    sorted.sort_by_key(|r| (r.position, r.id));
    sorted.into_iter().find(|r| r.conditions.matches(facts))
}

/// Where a new conversation goes and what it needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// The team whose queue it joins (`None`: there are no teams).
    pub team: Option<TeamId>,
    /// Skill name → least level.
    pub required: BTreeMap<String, u8>,
    /// Higher is served first.
    pub priority: i32,
}

/// Which team a conversation joins when no rule names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Otherwise<'a> {
    /// A new conversation: the team named like the issue type, else this
    /// configured default team (by name), else the first team.
    NewConversation {
        /// `realtime.default_team`.
        default_team: &'a str,
    },
    /// One leaving the triage bot: the team named like the (new) issue
    /// type, else the team whose bot it talked to.
    Stay(Option<TeamId>),
}

/// The first matching rule decides priority and skills, and the team if it
/// names one; otherwise see [`Otherwise`] (and `docs/routing.md`).
pub fn route(
    rules: &[Rule],
    facts: &Facts<'_>,
    teams: &[(TeamId, String)],
    otherwise: Otherwise<'_>,
) -> Route {
    let decision = first_match(rules, facts).map(|r| &r.decision);
    Route {
        team: decision.and_then(|d| d.team).or_else(|| match otherwise {
            Otherwise::NewConversation { default_team } => {
                super::team::team_for_issue(facts.issue_type, default_team, teams)
            }
            Otherwise::Stay(current) => facts
                .issue_type
                .and_then(|i| super::team::team_named(i, teams))
                .or(current),
        }),
        required: decision
            .map(|d| d.required_skills.clone())
            .unwrap_or_default(),
        priority: decision.map_or(0, |d| d.priority),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap_or_default()
    }

    fn agent(id: i64, load: u32, cap: u32, skills: &[(&str, u8)]) -> AgentState {
        AgentState {
            id: UserId(id),
            status: AgentStatus::Online,
            load,
            capacity: cap,
            skills: skills.iter().map(|(s, l)| ((*s).to_owned(), *l)).collect(),
            idle_since: t(0),
        }
    }

    fn conv(id: i64, priority: i32, since: i64, req: &[(&str, u8)]) -> QueuedConversation {
        QueuedConversation {
            id: ConversationId(id),
            priority,
            waiting_since: t(since),
            required: req.iter().map(|(s, l)| ((*s).to_owned(), *l)).collect(),
        }
    }

    #[test]
    fn lowest_load_ratio_wins_then_skill_then_idle() {
        let c = conv(1, 0, 0, &[("billing", 2)]);
        let agents = vec![
            agent(1, 2, 4, &[("billing", 5)]),
            agent(2, 1, 3, &[("billing", 2)]),
        ];
        assert_eq!(
            best_agent(&c, &agents).map(|a| a.id),
            Some(UserId(2)),
            "1/3 < 2/4"
        );
        let agents = vec![
            agent(1, 1, 3, &[("billing", 2)]),
            agent(2, 1, 3, &[("billing", 4)]),
        ];
        assert_eq!(
            best_agent(&c, &agents).map(|a| a.id),
            Some(UserId(2)),
            "higher skill"
        );
        let mut a = agent(1, 0, 3, &[("billing", 2)]);
        let mut b = agent(2, 0, 3, &[("billing", 2)]);
        a.idle_since = t(10);
        b.idle_since = t(5);
        assert_eq!(
            best_agent(&c, &[a, b]).map(|a| a.id),
            Some(UserId(2)),
            "longest idle"
        );
    }

    #[test]
    fn skills_levels_status_and_capacity_gate_eligibility() {
        let c = conv(1, 0, 0, &[("language:es", 3)]);
        assert!(!eligible(&agent(1, 0, 3, &[("language:es", 2)]), &c));
        assert!(!eligible(&agent(1, 0, 3, &[]), &c));
        assert!(!eligible(&agent(1, 3, 3, &[("language:es", 5)]), &c));
        let mut away = agent(1, 0, 3, &[("language:es", 5)]);
        away.status = AgentStatus::Away;
        assert!(!eligible(&away, &c));
        assert!(eligible(&agent(1, 0, 3, &[("language:es", 3)]), &c));
    }

    #[test]
    fn the_plan_serves_priority_then_age() {
        let queue = vec![conv(1, 0, 10, &[]), conv(2, 5, 20, &[]), conv(3, 0, 5, &[])];
        let mut agents = vec![agent(9, 0, 2, &[])];
        let p = plan(&queue, &mut agents, t(100));
        let ids: Vec<i64> = p.iter().map(|a| a.conversation.0).collect();
        assert_eq!(ids, vec![2, 3]);
        assert_eq!(agents[0].load, 2);
    }

    #[test]
    fn rules_match_in_position_order_and_case_insensitively() {
        let rule = |id, position, conditions: RuleConditions| Rule {
            position,
            id,
            conditions,
            decision: RouteDecision {
                team: Some(TeamId(id)),
                required_skills: BTreeMap::new(),
                priority: 0,
            },
        };
        let spanish = RuleConditions {
            issue_type: None,
            language: Some("ES".into()),
            channel: None,
            custom_fields: BTreeMap::new(),
        };
        let pro = RuleConditions {
            issue_type: Some("billing".into()),
            language: None,
            channel: Some("widget".into()),
            custom_fields: [("plan".to_owned(), serde_json::json!("Pro"))].into(),
        };
        let rules = vec![rule(1, 2, spanish), rule(2, 1, pro)];
        let fields = serde_json::json!({"plan": "pro"});
        let facts = Facts {
            issue_type: Some("Billing"),
            language: Some("es"),
            channel: "widget",
            custom_fields: fields.as_object(),
        };
        assert_eq!(first_match(&rules, &facts).map(|r| r.id), Some(2));
        let facts = Facts {
            issue_type: Some("other"),
            ..facts
        };
        assert_eq!(first_match(&rules, &facts).map(|r| r.id), Some(1));
        let facts = Facts {
            language: None,
            ..facts
        };
        assert!(first_match(&rules, &facts).is_none());
    }

    const SKILLS: &[&str] = &["billing", "language:es", "vip"];

    fn any_skills() -> impl Strategy<Value = BTreeMap<String, u8>> {
        proptest::collection::btree_map(
            proptest::sample::select(SKILLS).prop_map(str::to_owned),
            1u8..=5,
            0..3,
        )
    }

    /// Events a queue lives through.
    #[derive(Debug, Clone)]
    enum Event {
        Arrive {
            priority: i32,
            required: BTreeMap<String, u8>,
        },
        Close {
            agent: usize,
        },
        Status {
            agent: usize,
            status: AgentStatus,
        },
        Disconnect {
            agent: usize,
        },
    }

    fn any_event() -> impl Strategy<Value = Event> {
        prop_oneof![
            3 => ((0i32..3), any_skills()).prop_map(|(priority, required)| Event::Arrive { priority, required }),
            2 => (0usize..4).prop_map(|agent| Event::Close { agent }),
            2 => ((0usize..4), prop_oneof![Just(AgentStatus::Online), Just(AgentStatus::Away), Just(AgentStatus::Offline)])
                .prop_map(|(agent, status)| Event::Status { agent, status }),
            1 => (0usize..4).prop_map(|agent| Event::Disconnect { agent }),
        ]
    }

    proptest! {
        /// Over random arrivals, closes, status changes and disconnects,
        /// with the plan run after each event as TeamQueue does: nothing is
        /// assigned twice, no agent exceeds its capacity, the queue is work
        /// conserving, and it is served in priority-then-age order.
        #[test]
        fn routing_keeps_its_invariants(
            agents in proptest::collection::vec((1u32..4, any_skills()), 1..4),
            events in proptest::collection::vec(any_event(), 1..60),
        ) {
            let mut agents: Vec<AgentState> = agents
                .into_iter()
                .enumerate()
                .map(|(i, (cap, skills))| AgentState {
                    id: UserId(i as i64 + 1),
                    status: AgentStatus::Online,
                    load: 0,
                    capacity: cap,
                    skills,
                    idle_since: t(0),
                })
                .collect();
            let mut queue: Vec<QueuedConversation> = Vec::new();
            let mut held: Vec<Vec<ConversationId>> = vec![Vec::new(); agents.len()];
            let mut ever_assigned: std::collections::HashSet<i64> = Default::default();
            let mut next = 1i64;
            for (clock, event) in events.into_iter().enumerate() {
                let now = t(clock as i64 + 1);
                match event {
                    Event::Arrive { priority, required } => {
                        queue.push(QueuedConversation { id: ConversationId(next), priority, waiting_since: now, required });
                        next += 1;
                    }
                    Event::Close { agent } => {
                        if let Some(h) = held.get_mut(agent) && h.pop().is_some() {
                            agents[agent].load -= 1;
                        }
                    }
                    Event::Status { agent, status } => {
                        if let Some(a) = agents.get_mut(agent) { a.status = status; }
                    }
                    Event::Disconnect { agent } => {
                        // After the grace period: offline, conversations back to the front.
                        if agent < agents.len() {
                            agents[agent].status = AgentStatus::Offline;
                            for c in held[agent].drain(..) {
                                queue.push(QueuedConversation { id: c, priority: 0, waiting_since: t(0), required: BTreeMap::new() });
                                ever_assigned.remove(&c.0);
                            }
                            agents[agent].load = 0;
                        }
                    }
                }
                let before = agents.clone();
                let p = plan(&queue, &mut agents, now);
                // Order: a conversation passed over was not eligible for the
                // agent a later one got, at that moment.
                let mut sim = before.clone();
                let mut sorted = queue.clone();
                sorted.sort_by(serving_order);
                let assigned: std::collections::HashMap<i64, UserId> =
                    p.iter().map(|a| (a.conversation.0, a.agent)).collect();
                for (i, c) in sorted.iter().enumerate() {
                    if let Some(agent) = assigned.get(&c.id.0) {
                        for earlier in &sorted[..i] {
                            if !assigned.contains_key(&earlier.id.0) {
                                let a = sim.iter().find(|a| a.id == *agent).cloned();
                                prop_assert!(a.is_none_or(|a| !eligible(&a, earlier)),
                                    "{:?} skipped while {:?} went to {:?}", earlier.id, c.id, agent);
                            }
                        }
                        if let Some(a) = sim.iter_mut().find(|a| a.id == *agent) { a.load += 1; }
                    }
                }
                for a in &p {
                    prop_assert!(ever_assigned.insert(a.conversation.0), "assigned twice: {:?}", a.conversation);
                    let idx = (a.agent.0 - 1) as usize;
                    held[idx].push(a.conversation);
                }
                queue.retain(|c| !assigned.contains_key(&c.id.0));
                for (i, a) in agents.iter().enumerate() {
                    prop_assert!(a.load <= a.capacity, "agent over capacity: {a:?}");
                    prop_assert_eq!(a.load as usize, held[i].len());
                }
                for c in &queue {
                    prop_assert!(agents.iter().all(|a| !eligible(a, c)),
                        "{:?} waits though an agent could take it", c.id);
                }
            }
        }
    }
}
