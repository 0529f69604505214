//! A team's queue: the conversations waiting in it (priority, then age) and
//! the team's agents with status and load, published live to watchers.
//! The assignment policy comes with the routing issue; here agents take
//! conversations by hand (`conversation.accept`).

use std::collections::HashMap;

use actix::prelude::*;

use super::router::Router;
use super::{Deliver, SessionId};
use crate::domain::protocol::{AgentLoad, ServerFrame, Waiting};
use crate::domain::{AgentStatus, ConversationId, TeamId, UserId};
use crate::store::{self, Db};

/// The live queue of one team.
pub struct TeamQueue {
    team: TeamId,
    db: Db,
    _router: Addr<Router>,
    waiting: Vec<Waiting>,
    agents: Vec<AgentLoad>,
    watchers: HashMap<SessionId, Recipient<Deliver>>,
}

impl TeamQueue {
    /// A queue that loads itself when started.
    pub fn new(team: TeamId, db: Db, router: Addr<Router>) -> Self {
        TeamQueue {
            team,
            db,
            _router: router,
            waiting: Vec::new(),
            agents: Vec::new(),
            watchers: HashMap::new(),
        }
    }

    fn sort(&mut self) {
        self.waiting.sort_by(|a, b| {
            b.priority
                .cmp(&a.priority)
                .then(a.waiting_since.cmp(&b.waiting_since))
                .then(a.conversation_id.cmp(&b.conversation_id))
        });
    }

    fn snapshot(&self, initial: bool) -> ServerFrame {
        let (team_id, waiting, agents) = (self.team.0, self.waiting.clone(), self.agents.clone());
        if initial {
            ServerFrame::QueueSnapshot {
                team_id,
                waiting,
                agents,
            }
        } else {
            ServerFrame::QueueUpdate {
                team_id,
                waiting,
                agents,
            }
        }
    }

    fn publish(&mut self, extra: Option<ServerFrame>) {
        let update = Deliver::frame(&self.snapshot(false));
        let extra = extra.map(|f| Deliver::frame(&f));
        self.watchers.retain(|_, w| {
            extra.as_ref().is_none_or(|e| w.try_send(e.clone()).is_ok())
                && w.try_send(update.clone()).is_ok()
        });
    }
}

async fn load_agents(db: &Db, team: TeamId) -> Result<Vec<AgentLoad>, store::StoreError> {
    let ids = store::teams::member_ids(db, team).await?;
    let loads = store::conversations::loads_of(db, &ids).await?;
    let mut out = Vec::new();
    for id in ids {
        if let Some(u) = store::users::find(db, id).await?
            && u.active
        {
            out.push(AgentLoad {
                id: u.id,
                name: u.name,
                status: AgentStatus::parse(&u.status).unwrap_or(AgentStatus::Offline),
                load: loads.get(&id).copied().unwrap_or(0),
                capacity: u.capacity,
            });
        }
    }
    Ok(out)
}

impl Actor for TeamQueue {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let db = self.db.clone();
        let team = self.team;
        ctx.wait(
            async move {
                let rows = store::conversations::queued_in_team(&db, team).await?;
                let agents = load_agents(&db, team).await?;
                Ok::<_, store::StoreError>((rows, agents))
            }
            .into_actor(self)
            .map(|res, act, _| match res {
                Ok((rows, agents)) => {
                    act.waiting = rows
                        .into_iter()
                        .map(|c| Waiting {
                            conversation_id: c.id,
                            waiting_since: c.waiting_since.unwrap_or(c.created_at),
                            priority: c.priority,
                            skills: Vec::new(),
                        })
                        .collect();
                    act.sort();
                    act.agents = agents;
                }
                Err(e) => tracing::error!(team_id = %act.team, error = %e, "could not load queue"),
            }),
        );
    }
}

/// A conversation starts (or goes back to) waiting here.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Enqueue {
    /// It, with its wait time and priority.
    pub waiting: Waiting,
}

impl Handler<Enqueue> for TeamQueue {
    type Result = ();

    fn handle(&mut self, msg: Enqueue, _: &mut Self::Context) {
        self.waiting
            .retain(|w| w.conversation_id != msg.waiting.conversation_id);
        self.waiting.push(msg.waiting);
        self.sort();
        self.publish(None);
    }
}

/// A conversation left the queue (taken, closed, moved).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Dequeue {
    /// It.
    pub conversation: ConversationId,
}

impl Handler<Dequeue> for TeamQueue {
    type Result = ();

    fn handle(&mut self, msg: Dequeue, _: &mut Self::Context) {
        let before = self.waiting.len();
        self.waiting
            .retain(|w| w.conversation_id != msg.conversation.0);
        if self.waiting.len() != before {
            self.publish(None);
        }
    }
}

/// Watch this queue: a `queue.snapshot` now, `queue.update` on every change.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Watch {
    /// The socket.
    pub session: SessionId,
    /// Where its frames go.
    pub recipient: Recipient<Deliver>,
}

impl Handler<Watch> for TeamQueue {
    type Result = ();

    fn handle(&mut self, msg: Watch, _: &mut Self::Context) {
        if msg
            .recipient
            .try_send(Deliver::frame(&self.snapshot(true)))
            .is_ok()
        {
            self.watchers.insert(msg.session, msg.recipient);
        }
    }
}

/// Stop watching.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unwatch {
    /// The socket.
    pub session: SessionId,
}

impl Handler<Unwatch> for TeamQueue {
    type Result = ();

    fn handle(&mut self, msg: Unwatch, _: &mut Self::Context) {
        self.watchers.remove(&msg.session);
    }
}

/// Re-read one agent's status, load and capacity, and publish it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RefreshAgent {
    /// The agent.
    pub agent: UserId,
}

impl Handler<RefreshAgent> for TeamQueue {
    type Result = ();

    fn handle(&mut self, msg: RefreshAgent, ctx: &mut Self::Context) {
        let db = self.db.clone();
        let team = self.team;
        ctx.spawn(
            async move { load_agents(&db, team).await }
                .into_actor(self)
                .map(move |res, act, _| match res {
                    Ok(agents) => {
                        act.agents = agents;
                        let presence = act.agents.iter().find(|a| a.id == msg.agent.0).map(|a| {
                            ServerFrame::Presence {
                                agent_id: a.id,
                                status: a.status,
                                load: a.load,
                                capacity: a.capacity,
                            }
                        });
                        act.publish(presence);
                    }
                    Err(e) => {
                        tracing::warn!(team_id = %team, error = %e, "could not refresh agents")
                    }
                }),
        );
    }
}
