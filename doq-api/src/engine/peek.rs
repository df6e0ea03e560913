//! Peek (docs/http.md §3.5): browse a queue's messages by id without changing anything, filtered by the state
//! each one is in at the time of the read.
use super::{delayed, queue_state::Entry, Engine, MessageState, MessageView, QueueState};
use crate::{
    error::Result, message::MessageId, name::QueueName, queue::QueueKind, time::Timestamp,
};

/// Which messages a peek returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeekFilter {
    /// Every message.
    All,
    /// Only messages in this state.
    Only(MessageState),
}

impl PeekFilter {
    fn accepts(self, state: MessageState) -> bool {
        match self {
            Self::All => true,
            Self::Only(s) => s == state,
        }
    }
}

/// One page of a peek.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeekPage {
    /// Matching messages with ids after the cursor, increasing, at most the limit.
    pub messages: Vec<MessageView>,
    /// Whether more matching messages follow the last one returned.
    pub more: bool,
}

/// The view of entry `e` (message `id` of `q`) at `now`: its state, and its lease only while live.
pub(crate) fn view(q: &QueueState, id: MessageId, e: &Entry, now: Timestamp) -> MessageView {
    let mut header = e.header(q.record.id, id);
    let state = match e.lease() {
        Some(l) if l.deadline > now => MessageState::Leased,
        _ if q.record.kind == QueueKind::Delayed && !delayed::is_due(e.priority, now) => {
            MessageState::Delayed
        }
        _ => MessageState::Ready,
    };
    if state != MessageState::Leased {
        header.lease = None;
    }
    MessageView { header, state }
}

impl Engine {
    /// Up to `limit` messages of `queue` with ids greater than `after` whose state at `now` passes
    /// `filter`, ordered by id. Unknown queue is an error.
    pub fn peek(
        &self,
        queue: &QueueName,
        after: Option<MessageId>,
        limit: usize,
        filter: PeekFilter,
        now: Timestamp,
    ) -> Result<PeekPage> {
        let q = self.queue(queue)?;
        let from = match after.map(|a| a.0.checked_add(1)) {
            None => MessageId(0),
            Some(Some(next)) => MessageId(next),
            // Nothing comes after the largest id.
            Some(None) => {
                return Ok(PeekPage {
                    messages: Vec::new(),
                    more: false,
                })
            }
        };
        // Messages are ordered by id: walk from the cursor and stop one past the page (to know
        // whether more follow).
        let mut hits: Vec<MessageView> = q
            .messages
            .range(from..)
            .map(|(id, e)| view(q, *id, e, now))
            .filter(|v| filter.accepts(v.state))
            .take(limit.saturating_add(1))
            .collect();
        let more = hits.len() > limit;
        hits.truncate(limit);
        Ok(PeekPage {
            messages: hits,
            more,
        })
    }
}
