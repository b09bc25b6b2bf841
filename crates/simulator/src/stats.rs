//! What the simulator has done, counted under one lock so a snapshot is always consistent.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};

/// Counters of `POST /v1/chat/completions` since the start (or the last reset), as
/// `GET /sim/stats` reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimulatorStats {
    /// Chat requests received, whatever became of them.
    pub requests: u64,
    /// Answers delivered whole: a non-streaming body, or a stream up to `[DONE]`.
    pub answered: u64,
    /// Responses by HTTP status (a cut stream counts as the 200 it started as; a hang counts
    /// when it ends).
    pub by_status: BTreeMap<u16, u64>,
    /// Requests accepted and left unanswered.
    pub hangs: u64,
    /// Answers dropped part-way.
    pub cuts: u64,
    /// Streams left open and silent part-way.
    pub stalls: u64,
    /// Content chunks sent on streams, one per completion token.
    pub streamed_chunks: u64,
    /// Tokens reported in the usage of the answers delivered whole.
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters(Mutex<SimulatorStats>);

/// The last user messages of chat requests, newest last: what tests read to see what a model
/// was told (the error output a retry carries).
#[derive(Debug, Default)]
pub(crate) struct RecentPrompts(Mutex<std::collections::VecDeque<String>>);

impl RecentPrompts {
    /// Enough for a task's rounds; older messages are forgotten.
    const KEPT: usize = 64;

    pub(crate) fn record(&self, user_message: Option<String>) {
        let mut recent = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if recent.len() == Self::KEPT {
            recent.pop_front();
        }
        recent.push_back(user_message.unwrap_or_default());
    }

    pub(crate) fn snapshot(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }
}

impl Counters {
    fn lock(&self) -> MutexGuard<'_, SimulatorStats> {
        // A counter update cannot leave the struct half-written, so a poisoned lock is still good.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn snapshot(&self) -> SimulatorStats {
        self.lock().clone()
    }

    pub(crate) fn reset(&self) {
        *self.lock() = SimulatorStats::default();
    }

    pub(crate) fn request(&self) {
        self.lock().requests += 1;
    }

    pub(crate) fn status(&self, status: u16) {
        *self.lock().by_status.entry(status).or_default() += 1;
    }

    pub(crate) fn answered(&self, prompt_tokens: u32, completion_tokens: u32) {
        let mut stats = self.lock();
        stats.answered += 1;
        stats.prompt_tokens += u64::from(prompt_tokens);
        stats.completion_tokens += u64::from(completion_tokens);
    }

    pub(crate) fn hang(&self) {
        self.lock().hangs += 1;
    }

    pub(crate) fn cut(&self) {
        self.lock().cuts += 1;
    }

    pub(crate) fn stall(&self) {
        self.lock().stalls += 1;
    }

    pub(crate) fn chunk(&self) {
        self.lock().streamed_chunks += 1;
    }
}
