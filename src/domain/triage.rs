//! The triage bot, pure: a team's short scripted flow (a welcome, a choice
//! or two, a question) that runs before a conversation joins the queue, and
//! the words that skip straight to a person.
//!
//! The bot keeps no state of its own. What it has said, what it learned and
//! whether it is done are a function of the flow and of the customer's
//! messages so far ([`run`]). That function only ever *appends* replies as
//! inputs arrive, so the Conversation actor can number the replies
//! (`bot:0`, `bot:1`, …), use those numbers as idempotency keys, and after a
//! restart replay the stored messages to send exactly the replies that are
//! missing, never one twice.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::TeamId;

/// Words that hand over to a person when none are configured.
pub const DEFAULT_HANDOFF_WORDS: [&str; 2] = ["human", "agent"];
/// Name the bot's messages carry when none is configured.
pub const DEFAULT_BOT_NAME: &str = "Assistant";
/// What the bot says when it hands over, unless configured.
pub const DEFAULT_HANDOFF_MESSAGE: &str = "Thanks! Connecting you with a person now.";
/// Most steps in a flow: triage must stay short.
pub const MAX_STEPS: usize = 10;
/// Most options of one choice.
pub const MAX_OPTIONS: usize = 10;
/// Most handoff words.
pub const MAX_HANDOFF_WORDS: usize = 10;
/// Longest answer kept from a free-text question.
pub const MAX_ANSWER_CHARS: usize = 1000;
/// Longest bot text (welcome, prompt, handoff message).
const MAX_TEXT_CHARS: usize = 1000;

/// A flow as admins write it (`PUT /teams/{id}/triage`) and as it is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowSpec {
    /// Off: the team's conversations go straight to the queue.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Sender name of the bot's messages (default `Assistant`).
    #[serde(default)]
    pub bot_name: Option<String>,
    /// The first thing the bot says.
    pub welcome: String,
    /// Asked in order; at most 10.
    #[serde(default)]
    pub steps: Vec<StepSpec>,
    /// Typed at any point, any of these skips to the queue at once
    /// (whole words, case-insensitive). Default `["human", "agent"]`.
    #[serde(default)]
    pub handoff_words: Option<Vec<String>>,
    /// Said when handing over to the queue.
    #[serde(default)]
    pub handoff_message: Option<String>,
}

fn yes() -> bool {
    true
}

/// One step as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Where the answer goes: `team` (a choice whose options name teams),
    /// `issue_type`, `language`, or the name of a conversation attribute.
    pub key: String,
    /// `choice` or `question`.
    #[serde(rename = "type")]
    pub kind: String,
    /// What the bot asks.
    pub prompt: String,
    /// For a choice: 2–10 options.
    #[serde(default)]
    pub options: Option<Vec<OptionSpec>>,
}

/// One option of a choice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptionSpec {
    /// Shown to the customer, and accepted as the answer (as is its number).
    pub label: String,
    /// Stored as the answer (default: the label).
    #[serde(default)]
    pub value: Option<String>,
    /// For `key: "team"`: the team this option routes to.
    #[serde(default)]
    pub team_id: Option<i64>,
}

/// Where an answer goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The conversation moves to the chosen option's team.
    Team,
    /// Sets the conversation's issue type (routing rules see it).
    IssueType,
    /// Sets the conversation's language (routing rules see it).
    Language,
    /// A conversation attribute of this name.
    Attribute(String),
}

/// A validated option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// Shown and accepted.
    pub label: String,
    /// Stored.
    pub value: String,
    /// Routed to, for a team choice.
    pub team: Option<TeamId>,
}

/// A validated step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Pick one of the options (by number, label or value).
    Choice {
        /// Where the answer goes.
        target: Target,
        /// What the bot asks.
        prompt: String,
        /// The options, in order.
        options: Vec<Choice>,
    },
    /// Answer in free text.
    Question {
        /// Where the answer goes.
        target: Target,
        /// What the bot asks.
        prompt: String,
    },
}

/// A validated flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    /// Whether it runs.
    pub enabled: bool,
    /// Sender name of its messages.
    pub bot_name: String,
    /// First message.
    pub welcome: String,
    /// The steps.
    pub steps: Vec<Step>,
    /// Normalised handoff phrases (each a list of lower-case words).
    pub handoff_words: Vec<Vec<String>>,
    /// Said on handover.
    pub handoff_message: String,
}

/// A field of a [`FlowSpec`] that is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowProblem {
    /// Dotted path, e.g. `steps.1.options`.
    pub field: String,
    /// For a person.
    pub message: String,
}

fn text_ok(s: &str, max: usize) -> bool {
    let n = s.chars().count();
    n > 0 && n <= max && !s.chars().any(|c| c.is_control() && c != '\n')
}

/// Lower-case words of a text (letters and digits; everything else splits).
fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

impl Flow {
    /// Validates a written flow; every problem is reported at once. Team
    /// ids are only checked for shape here (the caller checks they exist).
    pub fn parse(spec: &FlowSpec) -> Result<Flow, Vec<FlowProblem>> {
        let mut problems = Vec::new();
        let mut fail = |field: String, message: &str| {
            problems.push(FlowProblem {
                field,
                message: message.to_owned(),
            })
        };
        let bot_name = spec
            .bot_name
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(DEFAULT_BOT_NAME)
            .to_owned();
        if !text_ok(&bot_name, 60) || bot_name.contains(['<', '>']) {
            fail("bot_name".into(), "must be 1–60 characters without < or >");
        }
        let welcome = spec.welcome.trim().to_owned();
        if !text_ok(&welcome, MAX_TEXT_CHARS) {
            fail("welcome".into(), "must be 1–1000 characters");
        }
        let handoff_message = spec
            .handoff_message
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(DEFAULT_HANDOFF_MESSAGE)
            .to_owned();
        if !text_ok(&handoff_message, MAX_TEXT_CHARS) {
            fail("handoff_message".into(), "must be 1–1000 characters");
        }
        let raw_words: Vec<String> = match &spec.handoff_words {
            Some(w) => w.clone(),
            None => DEFAULT_HANDOFF_WORDS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        };
        if raw_words.len() > MAX_HANDOFF_WORDS {
            fail("handoff_words".into(), "at most 10 words or phrases");
        }
        let mut handoff_words = Vec::new();
        for (i, w) in raw_words.iter().enumerate() {
            let phrase = words(w);
            if phrase.is_empty() || w.chars().count() > 40 {
                fail(
                    format!("handoff_words.{i}"),
                    "must be a word or phrase of 1–40 characters",
                );
            } else {
                handoff_words.push(phrase);
            }
        }
        if spec.steps.len() > MAX_STEPS {
            fail("steps".into(), "at most 10 steps");
        }
        let mut steps = Vec::new();
        let mut keys = Vec::new();
        for (i, s) in spec.steps.iter().enumerate() {
            let at = |f: &str| format!("steps.{i}.{f}");
            let target = match s.key.as_str() {
                "team" => Target::Team,
                "issue_type" => Target::IssueType,
                "language" => Target::Language,
                k if !k.is_empty()
                    && k.len() <= 40
                    && k.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') =>
                {
                    Target::Attribute(k.to_owned())
                }
                _ => {
                    fail(
                        at("key"),
                        "must be team, issue_type, language or 1–40 characters of a-z 0-9 _",
                    );
                    continue;
                }
            };
            if keys.contains(&s.key) {
                fail(at("key"), "is used by an earlier step");
            }
            keys.push(s.key.clone());
            let prompt = s.prompt.trim().to_owned();
            if !text_ok(&prompt, MAX_TEXT_CHARS) {
                fail(at("prompt"), "must be 1–1000 characters");
            }
            match (s.kind.as_str(), &s.options) {
                ("question", None) => {
                    if matches!(target, Target::Team | Target::Language) {
                        fail(at("type"), "team and language are asked as a choice");
                    }
                    steps.push(Step::Question { target, prompt });
                }
                ("question", Some(_)) => fail(at("options"), "a question has no options"),
                ("choice", Some(opts)) => {
                    if !(2..=MAX_OPTIONS).contains(&opts.len()) {
                        fail(at("options"), "a choice has 2–10 options");
                    }
                    let mut options = Vec::new();
                    for (j, o) in opts.iter().enumerate() {
                        let field = |f: &str| format!("steps.{i}.options.{j}.{f}");
                        let label = o.label.trim().to_owned();
                        if !text_ok(&label, 80) || label.contains('\n') {
                            fail(field("label"), "must be 1–80 characters on one line");
                        }
                        let value = o
                            .value
                            .as_deref()
                            .map(str::trim)
                            .filter(|v| !v.is_empty())
                            .unwrap_or(&label)
                            .to_owned();
                        let max = if target == Target::Language { 16 } else { 64 };
                        if !text_ok(&value, max) || value.contains('\n') {
                            fail(field("value"), "must be 1–64 characters on one line");
                        }
                        if target == Target::Language
                            && !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                        {
                            fail(field("value"), "must be a language tag such as es or pt-BR");
                        }
                        let team = match (&target, o.team_id) {
                            (Target::Team, Some(t)) if t > 0 => Some(TeamId(t)),
                            (Target::Team, _) => {
                                fail(
                                    field("team_id"),
                                    "a team choice names a team for each option",
                                );
                                None
                            }
                            (_, Some(_)) => {
                                fail(field("team_id"), "only options of key team name a team");
                                None
                            }
                            (_, None) => None,
                        };
                        options.push(Choice { label, value, team });
                    }
                    steps.push(Step::Choice {
                        target,
                        prompt,
                        options,
                    });
                }
                ("choice", None) => fail(at("options"), "a choice has 2–10 options"),
                _ => fail(at("type"), "must be choice or question"),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Flow {
            enabled: spec.enabled,
            bot_name,
            welcome,
            steps,
            handoff_words,
            handoff_message,
        })
    }

    /// Every team an option routes to (to check they exist).
    pub fn teams(&self) -> Vec<TeamId> {
        self.steps
            .iter()
            .filter_map(|s| match s {
                Step::Choice { options, .. } => Some(options.iter().filter_map(|o| o.team)),
                Step::Question { .. } => None,
            })
            .flatten()
            .collect()
    }

    /// Whether `text` asks for a person (contains a handoff phrase).
    pub fn wants_person(&self, text: &str) -> bool {
        let said = words(text);
        self.handoff_words
            .iter()
            .any(|phrase| said.windows(phrase.len()).any(|w| w == phrase.as_slice()))
    }
}

impl Step {
    /// The bot's message for this step (a choice lists its options as a
    /// numbered list, which the widget's Markdown shows as one).
    fn ask(&self) -> String {
        match self {
            Step::Question { prompt, .. } => prompt.clone(),
            Step::Choice {
                prompt, options, ..
            } => {
                let list: Vec<String> = options
                    .iter()
                    .enumerate()
                    .map(|(i, o)| format!("{}. {}", i + 1, o.label))
                    .collect();
                format!("{prompt}\n\n{}", list.join("\n"))
            }
        }
    }

    /// The option `text` picks: its number, label or value (ignoring case
    /// and surrounding spaces and a trailing dot).
    fn pick<'a>(options: &'a [Choice], text: &str) -> Option<&'a Choice> {
        let t = text.trim().trim_end_matches('.').trim();
        if let Ok(n) = t.parse::<usize>() {
            return n.checked_sub(1).and_then(|i| options.get(i));
        }
        options
            .iter()
            .find(|o| o.label.eq_ignore_ascii_case(t) || o.value.eq_ignore_ascii_case(t))
    }
}

/// What the bot learned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answers {
    /// A chosen team.
    pub team: Option<TeamId>,
    /// A chosen or typed issue type.
    pub issue_type: Option<String>,
    /// A chosen language.
    pub language: Option<String>,
    /// Other answers, by key, in the order given.
    pub attributes: Vec<(String, String)>,
}

impl Answers {
    fn record(&mut self, target: &Target, value: String, team: Option<TeamId>) {
        match target {
            Target::Team => self.team = team,
            Target::IssueType => self.issue_type = Some(value),
            Target::Language => self.language = Some(value),
            Target::Attribute(k) => self.attributes.push((k.clone(), value)),
        }
    }
}

/// Why the bot handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handoff {
    /// Every step was answered.
    Completed,
    /// The customer asked for a person.
    Asked,
}

/// Where the flow stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Waiting for the answer to this step.
    Waiting {
        /// Index into the flow's steps.
        step: usize,
    },
    /// Done: the conversation goes to the queue.
    HandedOff(Handoff),
}

/// The bot's whole part so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// Everything the bot has said, in order. Grows only at the end as
    /// inputs are added.
    pub replies: Vec<String>,
    /// What it learned.
    pub answers: Answers,
    /// Where it stands.
    pub outcome: Outcome,
    /// How many inputs it used (later ones came after the handover).
    pub consumed: usize,
}

/// Plays `flow` against the customer's messages so far.
pub fn run<S: AsRef<str>>(flow: &Flow, inputs: &[S]) -> Run {
    let mut replies = vec![flow.welcome.clone()];
    let mut answers = Answers::default();
    let mut step = 0;
    let mut outcome = match flow.steps.first() {
        Some(first) => {
            replies.push(first.ask());
            Outcome::Waiting { step: 0 }
        }
        None => {
            replies.push(flow.handoff_message.clone());
            Outcome::HandedOff(Handoff::Completed)
        }
    };
    let mut consumed = 0;
    for input in inputs {
        if matches!(outcome, Outcome::HandedOff(_)) {
            break;
        }
        consumed += 1;
        let text = input.as_ref();
        if flow.wants_person(text) {
            replies.push(flow.handoff_message.clone());
            outcome = Outcome::HandedOff(Handoff::Asked);
            break;
        }
        let Some(current) = flow.steps.get(step) else {
            break;
        };
        let accepted = match current {
            Step::Choice {
                target, options, ..
            } => match Step::pick(options, text) {
                Some(o) => {
                    answers.record(target, o.value.clone(), o.team);
                    true
                }
                None => {
                    replies.push(format!(
                        "Sorry, I didn't get that. Please answer with a number from 1 to {}.\n\n{}",
                        options.len(),
                        current.ask()
                    ));
                    false
                }
            },
            Step::Question { target, .. } => {
                let value: String = text.trim().chars().take(MAX_ANSWER_CHARS).collect();
                if value.is_empty() {
                    replies.push(current.ask());
                    false
                } else {
                    answers.record(target, value, None);
                    true
                }
            }
        };
        if accepted {
            step += 1;
            match flow.steps.get(step) {
                Some(next) => {
                    replies.push(next.ask());
                    outcome = Outcome::Waiting { step };
                }
                None => {
                    replies.push(flow.handoff_message.clone());
                    outcome = Outcome::HandedOff(Handoff::Completed);
                }
            }
        }
    }
    Run {
        replies,
        answers,
        outcome,
        consumed,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn option(label: &str, team: Option<i64>) -> OptionSpec {
        OptionSpec {
            label: label.into(),
            value: None,
            team_id: team,
        }
    }

    fn spec() -> FlowSpec {
        FlowSpec {
            enabled: true,
            bot_name: None,
            welcome: "Hi! I'm the assistant.".into(),
            steps: vec![
                StepSpec {
                    key: "team".into(),
                    kind: "choice".into(),
                    prompt: "What is it about?".into(),
                    options: Some(vec![option("Billing", Some(2)), option("Tech", Some(3))]),
                },
                StepSpec {
                    key: "order".into(),
                    kind: "question".into(),
                    prompt: "Your order number?".into(),
                    options: None,
                },
            ],
            handoff_words: None,
            handoff_message: None,
        }
    }

    fn flow() -> Flow {
        Flow::parse(&spec()).unwrap()
    }

    #[test]
    fn a_flow_greets_asks_each_step_and_hands_over_with_the_answers() {
        let f = flow();
        let r = run::<&str>(&f, &[]);
        assert_eq!(r.replies.len(), 2);
        assert_eq!(r.replies[0], "Hi! I'm the assistant.");
        assert_eq!(r.replies[1], "What is it about?\n\n1. Billing\n2. Tech");
        assert_eq!(r.outcome, Outcome::Waiting { step: 0 });

        let r = run(&f, &["2", " A-77 "]);
        assert_eq!(r.outcome, Outcome::HandedOff(Handoff::Completed));
        assert_eq!(r.answers.team, Some(TeamId(3)));
        assert_eq!(
            r.answers.attributes,
            vec![("order".to_owned(), "A-77".to_owned())]
        );
        assert_eq!(r.replies.last().unwrap(), DEFAULT_HANDOFF_MESSAGE);
        assert_eq!(r.consumed, 2);
    }

    #[test]
    fn choices_accept_numbers_labels_and_values_and_reprompt_otherwise() {
        let f = flow();
        assert_eq!(run(&f, &["billing"]).answers.team, Some(TeamId(2)));
        assert_eq!(run(&f, &["1."]).answers.team, Some(TeamId(2)));
        let r = run(&f, &["7", "what?"]);
        assert_eq!(r.outcome, Outcome::Waiting { step: 0 });
        assert_eq!(r.replies.len(), 4);
        assert!(r.replies[2].starts_with("Sorry, I didn't get that"));
        assert!(r.replies[3].ends_with("2. Tech"));
    }

    #[test]
    fn asking_for_a_person_hands_over_at_any_point_and_later_input_is_ignored() {
        let f = flow();
        let r = run(&f, &["Can I talk to a HUMAN please?"]);
        assert_eq!(r.outcome, Outcome::HandedOff(Handoff::Asked));
        assert_eq!(r.answers, Answers::default());
        let r = run(&f, &["1", "agent!", "more", "text"]);
        assert_eq!(r.outcome, Outcome::HandedOff(Handoff::Asked));
        assert_eq!(r.answers.team, Some(TeamId(2)));
        assert_eq!(r.consumed, 2);
        // "agents" is not the word "agent".
        assert_eq!(run(&f, &["agents"]).outcome, Outcome::Waiting { step: 0 });
    }

    #[test]
    fn phrases_and_custom_words_are_matched_as_whole_words() {
        let mut s = spec();
        s.handoff_words = Some(vec!["talk to someone".into(), "Mensch".into()]);
        let f = Flow::parse(&s).unwrap();
        assert!(f.wants_person("can I TALK to   someone?"));
        assert!(f.wants_person("ein mensch bitte"));
        assert!(!f.wants_person("human"));
        assert!(!f.wants_person("talk to some one"));
    }

    #[test]
    fn a_flow_without_steps_greets_and_hands_over_at_once() {
        let mut s = spec();
        s.steps.clear();
        let r = run::<&str>(&Flow::parse(&s).unwrap(), &[]);
        assert_eq!(r.outcome, Outcome::HandedOff(Handoff::Completed));
        assert_eq!(r.replies.len(), 2);
    }

    #[test]
    fn bad_flows_report_every_problem_by_field() {
        let s = FlowSpec {
            enabled: true,
            bot_name: Some("<b>".into()),
            welcome: "  ".into(),
            steps: vec![
                StepSpec {
                    key: "team".into(),
                    kind: "choice".into(),
                    prompt: "Which?".into(),
                    options: Some(vec![option("A", None), option("B", Some(1))]),
                },
                StepSpec {
                    key: "Bad Key".into(),
                    kind: "question".into(),
                    prompt: "x".into(),
                    options: None,
                },
                StepSpec {
                    key: "x".into(),
                    kind: "choice".into(),
                    prompt: "only one".into(),
                    options: Some(vec![option("A", None)]),
                },
                StepSpec {
                    key: "y".into(),
                    kind: "poll".into(),
                    prompt: "x".into(),
                    options: None,
                },
                StepSpec {
                    key: "language".into(),
                    kind: "question".into(),
                    prompt: "x".into(),
                    options: None,
                },
            ],
            handoff_words: Some(vec!["!!".into()]),
            handoff_message: None,
        };
        let fields: Vec<String> = Flow::parse(&s)
            .unwrap_err()
            .into_iter()
            .map(|p| p.field)
            .collect();
        assert_eq!(
            fields,
            vec![
                "bot_name",
                "welcome",
                "handoff_words.0",
                "steps.0.options.0.team_id",
                "steps.1.key",
                "steps.2.options",
                "steps.3.type",
                "steps.4.type",
            ]
        );
    }

    fn any_input() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("1".to_owned()),
            Just("2".to_owned()),
            Just("3".to_owned()),
            Just("tech".to_owned()),
            Just("human".to_owned()),
            Just("I want an agent".to_owned()),
            "[a-z ]{0,12}",
            any::<String>(),
        ]
    }

    proptest! {
        /// Replies only grow at the end: what was said stays said, so the
        /// reply numbers are stable idempotency keys across restarts.
        #[test]
        fn replies_only_grow_at_the_end(inputs in prop::collection::vec(any_input(), 0..12)) {
            let f = flow();
            let mut before = run::<String>(&f, &[]);
            for k in 1..=inputs.len() {
                let now = run(&f, &inputs[..k]);
                prop_assert!(now.replies.starts_with(&before.replies));
                let step_of = |o: Outcome| match o {
                    Outcome::Waiting { step } => step,
                    Outcome::HandedOff(_) => usize::MAX,
                };
                prop_assert!(step_of(now.outcome) >= step_of(before.outcome));
                before = now;
            }
        }

        /// Asking for a person always ends triage right there, and nothing
        /// after the handover changes the result.
        #[test]
        fn a_handoff_word_ends_triage_and_later_input_changes_nothing(
            before in prop::collection::vec(any_input(), 0..6),
            after in prop::collection::vec(any_input(), 0..6),
        ) {
            let f = flow();
            let mut inputs = before.clone();
            inputs.push("human".to_owned());
            let r = run(&f, &inputs);
            prop_assert!(matches!(r.outcome, Outcome::HandedOff(_)));
            let mut longer = inputs.clone();
            longer.extend(after);
            prop_assert_eq!(run(&f, &longer), r);
        }

        /// Valid answers to every step complete the flow after exactly one
        /// input per step, recording each.
        #[test]
        fn valid_answers_complete_the_flow(pick in 1usize..=2, order in "[0-9]{1,10}") {
            let f = flow();
            let r = run(&f, &[pick.to_string(), order.clone()]);
            prop_assert_eq!(r.outcome, Outcome::HandedOff(Handoff::Completed));
            prop_assert_eq!(r.answers.team, Some(TeamId(if pick == 1 { 2 } else { 3 })));
            prop_assert_eq!(r.answers.attributes, vec![("order".to_owned(), order)]);
            prop_assert_eq!(r.replies.len(), 4);
        }
    }
}
