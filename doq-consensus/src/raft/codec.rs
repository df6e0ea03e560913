//! `codec`: the byte forms of what crosses the log or the wire: a stamped command (a log entry's payload),
//! an unstamped command (a forwarded write) and a command's outcome (a forwarded reply). doq-api has no
//! wire format on purpose, so the layout lives here: a version byte, then fixed-width little-endian
//! integers and length-prefixed UTF-8 strings. Decoding never panics; bad bytes are an `Error::Internal`,
//! since only doq nodes of the same version write them.
use doq_api::{
    Body, Command, Counters, Delivery, Enqueued, Error, Group, GroupRecord, ImportHeader,
    ImportItem, ImportMode, Lease, MessageHeader, MessageId, Metadata, NewMessage, Priority,
    QueueId, QueueKind, QueueName, QueueRecord, QueueSettings, Receipt, Reply, Result,
    SettingsUpdate, Stamped, Strategy, Timestamp,
};

/// The layout version written first; a reader refuses any other.
const VERSION: u8 = 1;

/// A stamped command, as a log entry's payload was before entries carried batches (tests write such
/// entries to check they still read).
#[cfg(test)]
pub(crate) fn encode_stamped(s: &Stamped) -> Vec<u8> {
    let mut w = Writer::new();
    w.u64(s.now.0);
    w.u64(s.seed);
    w.command(&s.command);
    w.0
}

/// The inverse of [`encode_stamped`].
pub(crate) fn decode_stamped(bytes: &[u8]) -> Result<Stamped> {
    let mut r = Reader::new(bytes)?;
    let now = Timestamp(r.u64()?);
    let seed = r.u64()?;
    let command = r.command()?;
    r.end()?;
    Ok(Stamped { now, seed, command })
}

/// An unstamped command, forwarded from a follower to the leader.
pub(crate) fn encode_command(c: &Command) -> Vec<u8> {
    let mut w = Writer::new();
    w.command(c);
    w.0
}

/// The inverse of [`encode_command`] (forwarding sends lists, [`decode_commands`]).
#[cfg(test)]
pub(crate) fn decode_command(bytes: &[u8]) -> Result<Command> {
    let mut r = Reader::new(bytes)?;
    let c = r.command()?;
    r.end()?;
    Ok(c)
}

/// A command's outcome, sent back over a forwarding hop.
pub(crate) fn encode_outcome(o: &Result<Reply>) -> Vec<u8> {
    let mut w = Writer::new();
    w.outcome(o);
    w.0
}

/// The inverse of [`encode_outcome`].
pub(crate) fn decode_outcome(bytes: &[u8]) -> Result<Result<Reply>> {
    let mut r = Reader::new(bytes)?;
    let o = r.outcome()?;
    r.end()?;
    Ok(o)
}

/// The first byte of a batch of stamped commands (a log entry's payload since entries carry batches).
/// An entry written before that holds one stamped command behind [`VERSION`]; both decode.
const BATCH: u8 = 2;

/// Many stamped commands as one log entry's payload, in proposal order.
pub(crate) fn encode_batch(cmds: &[Stamped]) -> Vec<u8> {
    let mut w = Writer(vec![BATCH]);
    w.len(cmds.len());
    for s in cmds {
        w.u64(s.now.0);
        w.u64(s.seed);
        w.command(&s.command);
    }
    w.0
}

/// The inverse of [`encode_batch`]; also reads a single [`encode_stamped`] (a batch of one).
pub(crate) fn decode_batch(bytes: &[u8]) -> Result<Vec<Stamped>> {
    match bytes.split_first() {
        Some((&VERSION, _)) => Ok(vec![decode_stamped(bytes)?]),
        Some((&BATCH, rest)) => {
            let mut r = Reader(rest);
            let n = r.len()?;
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let now = Timestamp(r.u64()?);
                let seed = r.u64()?;
                let command = r.command()?;
                out.push(Stamped { now, seed, command });
            }
            r.end()?;
            Ok(out)
        }
        Some((v, _)) => Err(bad(&format!("layout version {v}"))),
        None => Err(bad("empty")),
    }
}

/// Unstamped commands forwarded from a follower to the leader in one call.
pub(crate) fn encode_commands(cmds: &[Command]) -> Vec<u8> {
    let mut w = Writer::new();
    w.len(cmds.len());
    for c in cmds {
        w.command(c);
    }
    w.0
}

/// The inverse of [`encode_commands`].
pub(crate) fn decode_commands(bytes: &[u8]) -> Result<Vec<Command>> {
    let mut r = Reader::new(bytes)?;
    let n = r.len()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(r.command()?);
    }
    r.end()?;
    Ok(out)
}

/// One outcome per command, in order (the answer to [`encode_commands`], and a batch entry's result).
pub(crate) fn encode_outcomes(outcomes: &[Result<Reply>]) -> Vec<u8> {
    let mut w = Writer::new();
    w.len(outcomes.len());
    for o in outcomes {
        w.outcome(o);
    }
    w.0
}

/// The inverse of [`encode_outcomes`].
pub(crate) fn decode_outcomes(bytes: &[u8]) -> Result<Vec<Result<Reply>>> {
    let mut r = Reader::new(bytes)?;
    let n = r.len()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(r.outcome()?);
    }
    r.end()?;
    Ok(out)
}

/// The error for bytes that do not decode.
pub(crate) fn bad(what: &str) -> Error {
    Error::Internal(format!("undecodable cluster message: {what}"))
}

/// Builds one encoded value: the version byte, then fields in order.
pub(crate) struct Writer(pub(crate) Vec<u8>);

impl Writer {
    /// A writer holding only the version byte.
    pub(crate) fn new() -> Self {
        Self(vec![VERSION])
    }
    /// A writer holding nothing yet (a part of a larger value).
    pub(crate) fn empty() -> Self {
        Self(Vec::new())
    }
    /// A writer whose first byte is `tag` (another layout that reuses these primitives).
    pub(crate) fn tagged(tag: u8) -> Self {
        Self(vec![tag])
    }
    /// A queue record, with its id.
    pub(crate) fn queue_record(&mut self, r: &QueueRecord) {
        self.u32(r.id.0);
        self.name(&r.name);
        self.kind(r.kind);
        self.settings(&r.settings);
        self.u64(r.created_version);
        self.u64(r.version);
        self.u32(r.next_node);
        self.u64(r.dead_lettered);
    }
    /// A round-robin tree node, with its key.
    pub(crate) fn group_record(&mut self, g: &GroupRecord) {
        self.u32(g.queue.0);
        self.u32(g.node);
        self.u32(g.parent);
        self.str(&g.segment);
        self.bool(g.leaf);
        self.u32(g.cursor);
    }
    /// A message header (with its lease) and its body.
    pub(crate) fn message(&mut self, h: &MessageHeader, b: &Body) {
        self.u32(h.queue.0);
        self.u64(h.id.0);
        self.str(h.group.as_str());
        self.i64(h.priority.0);
        self.u32(h.deliveries);
        self.opt(h.lease.as_ref(), |w, l| {
            w.u64(l.deadline.0);
            w.u64(l.version);
        });
        self.u64(h.version);
        self.body(b);
    }
    /// Length-prefixed raw bytes.
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.0.extend_from_slice(b);
    }
    /// The engine counters.
    pub(crate) fn counters(&mut self, c: &Counters) {
        self.u64(c.last_now.0);
        self.u64(c.last_id);
        self.u32(c.next_queue);
    }
    fn outcome(&mut self, o: &Result<Reply>) {
        match o {
            Ok(reply) => {
                self.u8(0);
                self.reply(reply);
            }
            Err(e) => {
                self.u8(1);
                self.error(e);
            }
        }
    }
    pub(crate) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub(crate) fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn len(&mut self, n: usize) {
        self.u64(n as u64);
    }
    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }
    fn opt<T>(&mut self, v: Option<&T>, f: impl FnOnce(&mut Self, &T)) {
        match v {
            None => self.u8(0),
            Some(x) => {
                self.u8(1);
                f(self, x);
            }
        }
    }
    fn name(&mut self, n: &QueueName) {
        self.str(n.as_str());
    }
    fn kind(&mut self, k: QueueKind) {
        self.u8(match k {
            QueueKind::Delayed => 0,
            QueueKind::Fair => 1,
        });
    }
    fn settings(&mut self, s: &QueueSettings) {
        self.strategy(s.strategy);
        self.u32(s.max_unacked);
        self.u32(s.ack_timeout);
        self.u32(s.max_deliveries);
        self.opt(s.dead_letter.as_ref(), Self::name);
    }
    fn strategy(&mut self, s: Option<Strategy>) {
        self.u8(match s {
            None => 0,
            Some(Strategy::RoundRobin) => 1,
            Some(Strategy::Weighted) => 2,
        });
    }
    fn metadata(&mut self, m: &Metadata) {
        self.len(m.len());
        for (k, v) in m {
            self.str(k);
            self.str(v);
        }
    }
    fn body(&mut self, b: &Body) {
        self.str(&b.content);
        self.metadata(&b.metadata);
    }
    fn receipt(&mut self, r: Option<&Receipt>) {
        self.opt(r, |w, r| {
            w.u64(r.id.0);
            w.u64(r.lease);
        });
    }
    fn command(&mut self, c: &Command) {
        match c {
            Command::CreateQueue {
                name,
                kind,
                settings,
            } => {
                self.u8(1);
                self.name(name);
                self.kind(*kind);
                self.settings(settings);
            }
            Command::UpdateQueue { name, settings } => {
                self.u8(2);
                self.name(name);
                self.strategy(settings.strategy);
                self.u32(settings.max_unacked);
                self.u32(settings.ack_timeout);
                self.opt(settings.max_deliveries.as_ref(), |w, v| w.u32(*v));
                self.opt(settings.dead_letter.as_ref(), |w, d| {
                    w.opt(d.as_ref(), Self::name);
                });
            }
            Command::DeleteQueue { name } => {
                self.u8(3);
                self.name(name);
            }
            Command::Purge { name } => {
                self.u8(4);
                self.name(name);
            }
            Command::Enqueue { queue, items } => {
                self.u8(5);
                self.name(queue);
                self.len(items.len());
                for m in items {
                    self.opt(m.id.as_ref(), |w, id| w.u64(id.0));
                    self.str(m.group.as_str());
                    self.i64(m.priority.0);
                    self.body(&m.body);
                }
            }
            Command::Dequeue { queue, ack, max } => {
                self.u8(6);
                self.name(queue);
                self.bool(*ack);
                self.u16(*max);
            }
            Command::Ack { queue, id, receipt } => {
                self.u8(7);
                self.name(queue);
                self.u64(id.0);
                self.receipt(receipt.as_ref());
            }
            Command::Nack {
                queue,
                id,
                priority,
                metadata,
                receipt,
            } => {
                self.u8(8);
                self.name(queue);
                self.u64(id.0);
                self.i64(priority.0);
                self.opt(metadata.as_ref(), Self::metadata);
                self.receipt(receipt.as_ref());
            }
            Command::Touch { queue, id, receipt } => {
                self.u8(9);
                self.name(queue);
                self.u64(id.0);
                self.receipt(receipt.as_ref());
            }
            Command::UpdatePriority {
                queue,
                id,
                priority,
            } => {
                self.u8(10);
                self.name(queue);
                self.u64(id.0);
                self.i64(priority.0);
            }
            Command::Delete { queue, id } => {
                self.u8(11);
                self.name(queue);
                self.u64(id.0);
            }
            Command::ReserveIds { count } => {
                self.u8(12);
                self.u16(*count);
            }
            Command::StageImport { restore, items } => {
                self.u8(13);
                self.u64(*restore);
                self.len(items.len());
                for item in items {
                    self.import_item(item);
                }
            }
            Command::CommitImport {
                restore,
                mode,
                header,
            } => {
                self.u8(14);
                self.u64(*restore);
                self.u8(match mode {
                    ImportMode::Merge => 0,
                    ImportMode::Replace => 1,
                });
                self.str(&header.cluster_id);
                self.u64(header.since);
                self.u64(header.last_version);
                self.u64(header.id_watermark);
            }
            Command::AbortImport { restore } => {
                self.u8(15);
                self.u64(*restore);
            }
            Command::AckBatch { queue, items } => {
                self.u8(16);
                self.name(queue);
                self.len(items.len());
                for (id, receipt) in items {
                    self.u64(id.0);
                    self.receipt(receipt.as_ref());
                }
            }
        }
    }
    fn import_item(&mut self, item: &ImportItem) {
        match item {
            ImportItem::QueueDeleted { name } => {
                self.u8(1);
                self.name(name);
            }
            ImportItem::Queue {
                name,
                kind,
                settings,
                created_version,
            } => {
                self.u8(2);
                self.name(name);
                self.kind(*kind);
                self.settings(settings);
                self.u64(*created_version);
            }
            ImportItem::Message {
                queue,
                id,
                group,
                priority,
                body,
                deliveries,
            } => {
                self.u8(3);
                self.name(queue);
                self.u64(id.0);
                self.str(group.as_str());
                self.i64(priority.0);
                self.body(body);
                self.u32(*deliveries);
            }
            ImportItem::MessageDeleted { queue, id } => {
                self.u8(4);
                self.name(queue);
                self.u64(id.0);
            }
        }
    }
    fn reply(&mut self, r: &Reply) {
        match r {
            Reply::QueueCreated => self.u8(1),
            Reply::QueueUpdated => self.u8(2),
            Reply::QueueDeleted => self.u8(3),
            Reply::Purged { count } => {
                self.u8(4);
                self.u64(*count);
            }
            Reply::Enqueued(items) => {
                self.u8(5);
                self.len(items.len());
                for e in items {
                    self.u64(e.id.0);
                    self.str(e.group.as_str());
                    self.i64(e.priority.0);
                }
            }
            Reply::Dequeued(items) => {
                self.u8(6);
                self.len(items.len());
                for d in items {
                    self.u64(d.id.0);
                    self.str(d.group.as_str());
                    self.i64(d.priority.0);
                    self.body(&d.body);
                    self.u64(d.receipt.id.0);
                    self.u64(d.receipt.lease);
                    self.u32(d.deliveries);
                }
            }
            Reply::Acked => self.u8(7),
            Reply::Nacked { priority } => {
                self.u8(8);
                self.i64(priority.0);
            }
            Reply::Touched => self.u8(9),
            Reply::PriorityUpdated => self.u8(10),
            Reply::Deleted => self.u8(11),
            Reply::Ids(ids) => {
                self.u8(12);
                self.len(ids.len());
                for id in ids {
                    self.u64(id.0);
                }
            }
            Reply::Staged => self.u8(13),
            Reply::Restored {
                queues,
                messages,
                last_version,
            } => {
                self.u8(14);
                self.u64(*queues);
                self.u64(*messages);
                self.u64(*last_version);
            }
            Reply::Aborted => self.u8(15),
            Reply::AckedEach(results) => {
                self.u8(16);
                self.len(results.len());
                for (id, outcome) in results {
                    self.u64(id.0);
                    match outcome {
                        Ok(()) => self.u8(0),
                        Err(e) => {
                            self.u8(1);
                            self.error(e);
                        }
                    }
                }
            }
        }
    }
    fn error(&mut self, e: &Error) {
        match e {
            Error::QueueNotFound(q) => {
                self.u8(1);
                self.str(q);
            }
            Error::QueueEmpty(q) => {
                self.u8(2);
                self.str(q);
            }
            Error::MessageNotFound { queue } => {
                self.u8(3);
                self.str(queue);
            }
            Error::LeaseNotHeld { queue } => {
                self.u8(4);
                self.str(queue);
            }
            Error::StaleReceipt { queue } => {
                self.u8(5);
                self.str(queue);
            }
            Error::InvalidSettings { name, reason } => {
                self.u8(6);
                self.str(name);
                self.str(reason);
            }
            Error::QueueInUse(q) => {
                self.u8(7);
                self.str(q);
            }
            Error::Invalid {
                location,
                message,
                value,
            } => {
                self.u8(8);
                self.str(location);
                self.str(message);
                self.str(value);
            }
            Error::MembershipRefused(why) => {
                self.u8(9);
                self.str(why);
            }
            Error::Unavailable(why) => {
                self.u8(10);
                self.str(why);
            }
            Error::Storage { backend, what } => {
                self.u8(11);
                self.str(backend);
                self.str(what);
            }
            Error::Internal(why) => {
                self.u8(12);
                self.str(why);
            }
            Error::BackupInvalid(why) => {
                self.u8(13);
                self.str(why);
            }
            Error::RestoreInProgress => self.u8(14),
            Error::SinceTooOld => self.u8(15),
            Error::OutcomeUnknown(why) => {
                self.u8(16);
                self.str(why);
            }
            // `Error` is non_exhaustive: a variant added later crosses the hop as its text.
            other => {
                self.u8(12);
                self.str(&other.to_string());
            }
        }
    }
}

/// Reads one encoded value written by [`Writer`].
pub(crate) struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// Checks the version byte.
    pub(crate) fn new(bytes: &'a [u8]) -> Result<Self> {
        match bytes.split_first() {
            Some((&VERSION, rest)) => Ok(Self(rest)),
            Some((v, _)) => Err(bad(&format!("layout version {v}"))),
            None => Err(bad("empty")),
        }
    }
    /// Reads the bytes after a first byte the caller has already checked.
    pub(crate) fn after_tag(rest: &'a [u8]) -> Self {
        Self(rest)
    }
    /// A queue record written by [`Writer::queue_record`].
    pub(crate) fn queue_record(&mut self) -> Result<QueueRecord> {
        Ok(QueueRecord {
            id: QueueId(self.u32()?),
            name: self.name()?,
            kind: self.kind()?,
            settings: self.settings()?,
            created_version: self.u64()?,
            version: self.u64()?,
            next_node: self.u32()?,
            dead_lettered: self.u64()?,
        })
    }
    /// A group record written by [`Writer::group_record`].
    pub(crate) fn group_record(&mut self) -> Result<GroupRecord> {
        Ok(GroupRecord {
            queue: QueueId(self.u32()?),
            node: self.u32()?,
            parent: self.u32()?,
            segment: self.str()?,
            leaf: self.bool()?,
            cursor: self.u32()?,
        })
    }
    /// A message written by [`Writer::message`].
    pub(crate) fn message(&mut self) -> Result<(MessageHeader, Body)> {
        let header = MessageHeader {
            queue: QueueId(self.u32()?),
            id: MessageId(self.u64()?),
            group: Group::new(&self.str()?),
            priority: Priority(self.i64()?),
            deliveries: self.u32()?,
            lease: self.opt(|r| {
                Ok(Lease {
                    deadline: Timestamp(r.u64()?),
                    version: r.u64()?,
                })
            })?,
            version: self.u64()?,
        };
        Ok((header, self.body()?))
    }
    /// Length-prefixed raw bytes written by [`Writer::bytes`].
    pub(crate) fn bytes(&mut self) -> Result<Vec<u8>> {
        let n = self.len()?;
        Ok(self.take(n)?.to_vec())
    }
    /// Length-prefixed raw bytes, borrowed from the input.
    pub(crate) fn slice(&mut self) -> Result<&'a [u8]> {
        let n = self.len()?;
        self.take(n)
    }
    /// Counters written by [`Writer::counters`].
    pub(crate) fn counters(&mut self) -> Result<Counters> {
        Ok(Counters {
            last_now: Timestamp(self.u64()?),
            last_id: self.u64()?,
            next_queue: self.u32()?,
        })
    }
    /// Fails unless every byte was read.
    pub(crate) fn end(&self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(bad(&format!("{} trailing bytes", self.0.len())))
        }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(bad("truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    fn outcome(&mut self) -> Result<Result<Reply>> {
        match self.u8()? {
            0 => Ok(Ok(self.reply()?)),
            1 => Ok(Err(self.error()?)),
            t => Err(bad(&format!("outcome tag {t}"))),
        }
    }
    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }
    pub(crate) fn bool(&mut self) -> Result<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(bad(&format!("bool {b}"))),
        }
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub(crate) fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    /// A length, checked against the bytes left so a corrupt one cannot make us allocate wildly.
    pub(crate) fn len(&mut self) -> Result<usize> {
        let n = self.u64()?;
        match usize::try_from(n) {
            Ok(n) if n <= self.0.len() => Ok(n),
            _ => Err(bad(&format!("length {n} beyond the message"))),
        }
    }
    fn str(&mut self) -> Result<String> {
        let n = self.len()?;
        let raw = self.take(n)?;
        String::from_utf8(raw.to_vec()).map_err(|_| bad("string is not UTF-8"))
    }
    fn opt<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<Option<T>> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(f(self)?)),
            t => Err(bad(&format!("option tag {t}"))),
        }
    }
    fn name(&mut self) -> Result<QueueName> {
        let s = self.str()?;
        QueueName::new(&s).map_err(|_| bad(&format!("queue name {s:?}")))
    }
    fn kind(&mut self) -> Result<QueueKind> {
        match self.u8()? {
            0 => Ok(QueueKind::Delayed),
            1 => Ok(QueueKind::Fair),
            k => Err(bad(&format!("queue kind {k}"))),
        }
    }
    fn settings(&mut self) -> Result<QueueSettings> {
        Ok(QueueSettings {
            strategy: self.strategy()?,
            max_unacked: self.u32()?,
            ack_timeout: self.u32()?,
            max_deliveries: self.u32()?,
            dead_letter: self.opt(Self::name)?,
        })
    }
    fn strategy(&mut self) -> Result<Option<Strategy>> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(Strategy::RoundRobin)),
            2 => Ok(Some(Strategy::Weighted)),
            t => Err(bad(&format!("strategy {t}"))),
        }
    }
    fn metadata(&mut self) -> Result<Metadata> {
        let n = self.len()?;
        let mut m = Metadata::new();
        for _ in 0..n {
            let k = self.str()?;
            let v = self.str()?;
            m.insert(k, v);
        }
        Ok(m)
    }
    fn body(&mut self) -> Result<Body> {
        Ok(Body {
            content: self.str()?,
            metadata: self.metadata()?,
        })
    }
    fn receipt(&mut self) -> Result<Option<Receipt>> {
        self.opt(|r| {
            Ok(Receipt {
                id: MessageId(r.u64()?),
                lease: r.u64()?,
            })
        })
    }
    fn command(&mut self) -> Result<Command> {
        Ok(match self.u8()? {
            1 => {
                let name = self.name()?;
                let kind = self.kind()?;
                let settings = self.settings()?;
                Command::CreateQueue {
                    name,
                    kind,
                    settings,
                }
            }
            2 => Command::UpdateQueue {
                name: self.name()?,
                settings: SettingsUpdate {
                    strategy: self.strategy()?,
                    max_unacked: self.u32()?,
                    ack_timeout: self.u32()?,
                    max_deliveries: self.opt(Self::u32)?,
                    dead_letter: self.opt(|r| r.opt(Self::name))?,
                },
            },
            3 => Command::DeleteQueue { name: self.name()? },
            4 => Command::Purge { name: self.name()? },
            5 => {
                let queue = self.name()?;
                let n = self.len()?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(NewMessage {
                        id: self.opt(|r| Ok(MessageId(r.u64()?)))?,
                        group: Group::new(&self.str()?),
                        priority: Priority(self.i64()?),
                        body: self.body()?,
                    });
                }
                Command::Enqueue { queue, items }
            }
            6 => Command::Dequeue {
                queue: self.name()?,
                ack: self.bool()?,
                max: self.u16()?,
            },
            7 => Command::Ack {
                queue: self.name()?,
                id: MessageId(self.u64()?),
                receipt: self.receipt()?,
            },
            8 => Command::Nack {
                queue: self.name()?,
                id: MessageId(self.u64()?),
                priority: Priority(self.i64()?),
                metadata: self.opt(Self::metadata)?,
                receipt: self.receipt()?,
            },
            9 => Command::Touch {
                queue: self.name()?,
                id: MessageId(self.u64()?),
                receipt: self.receipt()?,
            },
            10 => Command::UpdatePriority {
                queue: self.name()?,
                id: MessageId(self.u64()?),
                priority: Priority(self.i64()?),
            },
            11 => Command::Delete {
                queue: self.name()?,
                id: MessageId(self.u64()?),
            },
            12 => Command::ReserveIds { count: self.u16()? },
            13 => {
                let restore = self.u64()?;
                let n = self.len()?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.import_item()?);
                }
                Command::StageImport { restore, items }
            }
            14 => Command::CommitImport {
                restore: self.u64()?,
                mode: match self.u8()? {
                    0 => ImportMode::Merge,
                    1 => ImportMode::Replace,
                    m => return Err(bad(&format!("import mode {m}"))),
                },
                header: ImportHeader {
                    cluster_id: self.str()?,
                    since: self.u64()?,
                    last_version: self.u64()?,
                    id_watermark: self.u64()?,
                },
            },
            15 => Command::AbortImport {
                restore: self.u64()?,
            },
            16 => {
                let queue = self.name()?;
                let n = self.len()?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push((MessageId(self.u64()?), self.receipt()?));
                }
                Command::AckBatch { queue, items }
            }
            t => return Err(bad(&format!("command tag {t}"))),
        })
    }
    fn import_item(&mut self) -> Result<ImportItem> {
        Ok(match self.u8()? {
            1 => ImportItem::QueueDeleted { name: self.name()? },
            2 => ImportItem::Queue {
                name: self.name()?,
                kind: self.kind()?,
                settings: self.settings()?,
                created_version: self.u64()?,
            },
            3 => ImportItem::Message {
                queue: self.name()?,
                id: MessageId(self.u64()?),
                group: Group::new(&self.str()?),
                priority: Priority(self.i64()?),
                body: self.body()?,
                deliveries: self.u32()?,
            },
            4 => ImportItem::MessageDeleted {
                queue: self.name()?,
                id: MessageId(self.u64()?),
            },
            t => return Err(bad(&format!("import item tag {t}"))),
        })
    }
    fn reply(&mut self) -> Result<Reply> {
        Ok(match self.u8()? {
            1 => Reply::QueueCreated,
            2 => Reply::QueueUpdated,
            3 => Reply::QueueDeleted,
            4 => Reply::Purged { count: self.u64()? },
            5 => {
                let n = self.len()?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(Enqueued {
                        id: MessageId(self.u64()?),
                        group: Group::new(&self.str()?),
                        priority: Priority(self.i64()?),
                    });
                }
                Reply::Enqueued(items)
            }
            6 => {
                let n = self.len()?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(Delivery {
                        id: MessageId(self.u64()?),
                        group: Group::new(&self.str()?),
                        priority: Priority(self.i64()?),
                        body: self.body()?,
                        receipt: Receipt {
                            id: MessageId(self.u64()?),
                            lease: self.u64()?,
                        },
                        deliveries: self.u32()?,
                    });
                }
                Reply::Dequeued(items)
            }
            7 => Reply::Acked,
            8 => Reply::Nacked {
                priority: Priority(self.i64()?),
            },
            9 => Reply::Touched,
            10 => Reply::PriorityUpdated,
            11 => Reply::Deleted,
            12 => {
                let n = self.len()?;
                let mut ids = Vec::with_capacity(n);
                for _ in 0..n {
                    ids.push(MessageId(self.u64()?));
                }
                Reply::Ids(ids)
            }
            13 => Reply::Staged,
            14 => Reply::Restored {
                queues: self.u64()?,
                messages: self.u64()?,
                last_version: self.u64()?,
            },
            15 => Reply::Aborted,
            16 => {
                let n = self.len()?;
                let mut results = Vec::with_capacity(n);
                for _ in 0..n {
                    let id = MessageId(self.u64()?);
                    let outcome = match self.u8()? {
                        0 => Ok(()),
                        1 => Err(self.error()?),
                        t => return Err(bad(&format!("item outcome tag {t}"))),
                    };
                    results.push((id, outcome));
                }
                Reply::AckedEach(results)
            }
            t => return Err(bad(&format!("reply tag {t}"))),
        })
    }
    fn error(&mut self) -> Result<Error> {
        Ok(match self.u8()? {
            1 => Error::QueueNotFound(self.str()?),
            2 => Error::QueueEmpty(self.str()?),
            3 => Error::MessageNotFound { queue: self.str()? },
            4 => Error::LeaseNotHeld { queue: self.str()? },
            5 => Error::StaleReceipt { queue: self.str()? },
            6 => Error::InvalidSettings {
                name: self.str()?,
                reason: self.str()?,
            },
            7 => Error::QueueInUse(self.str()?),
            8 => Error::Invalid {
                location: self.str()?,
                message: self.str()?,
                value: self.str()?,
            },
            9 => Error::MembershipRefused(self.str()?),
            10 => Error::Unavailable(self.str()?),
            11 => Error::Storage {
                backend: self.str()?,
                what: self.str()?,
            },
            12 => Error::Internal(self.str()?),
            13 => Error::BackupInvalid(self.str()?),
            14 => Error::RestoreInProgress,
            15 => Error::SinceTooOld,
            16 => Error::OutcomeUnknown(self.str()?),
            t => return Err(bad(&format!("error tag {t}"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> QueueName {
        QueueName::new(s).unwrap()
    }

    fn commands() -> Vec<Command> {
        let mut meta = Metadata::new();
        meta.insert("k".into(), "v ü".into());
        vec![
            Command::CreateQueue {
                name: q("a"),
                kind: QueueKind::Fair,
                settings: QueueSettings {
                    strategy: Some(Strategy::Weighted),
                    max_unacked: 3,
                    ack_timeout: 30,
                    max_deliveries: 2,
                    dead_letter: Some(q("dl")),
                },
            },
            Command::UpdateQueue {
                name: q("a"),
                settings: SettingsUpdate {
                    strategy: None,
                    max_unacked: 0,
                    ack_timeout: 1,
                    max_deliveries: Some(4),
                    dead_letter: Some(None),
                },
            },
            Command::DeleteQueue { name: q("a") },
            Command::Purge { name: q("a") },
            Command::Enqueue {
                queue: q("a"),
                items: vec![NewMessage {
                    id: Some(MessageId(u64::MAX)),
                    group: Group::new("g.h"),
                    priority: Priority(-5),
                    body: Body {
                        content: "hello".into(),
                        metadata: meta.clone(),
                    },
                }],
            },
            Command::Dequeue {
                queue: q("a"),
                ack: true,
                max: 7,
            },
            Command::AckBatch {
                queue: q("a"),
                items: vec![
                    (MessageId(3), None),
                    (
                        MessageId(4),
                        Some(Receipt {
                            id: MessageId(4),
                            lease: 9,
                        }),
                    ),
                ],
            },
            Command::Ack {
                queue: q("a"),
                id: MessageId(1),
                receipt: Some(Receipt {
                    id: MessageId(1),
                    lease: 9,
                }),
            },
            Command::Nack {
                queue: q("a"),
                id: MessageId(2),
                priority: Priority(3),
                metadata: Some(meta),
                receipt: None,
            },
            Command::Touch {
                queue: q("a"),
                id: MessageId(3),
                receipt: None,
            },
            Command::UpdatePriority {
                queue: q("a"),
                id: MessageId(4),
                priority: Priority(i64::MIN),
            },
            Command::Delete {
                queue: q("a"),
                id: MessageId(5),
            },
            Command::ReserveIds { count: 1000 },
            Command::StageImport {
                restore: 77,
                items: vec![
                    ImportItem::QueueDeleted { name: q("old") },
                    ImportItem::Queue {
                        name: q("a"),
                        kind: QueueKind::Fair,
                        settings: QueueSettings {
                            strategy: Some(Strategy::RoundRobin),
                            max_unacked: 1,
                            ack_timeout: 60,
                            max_deliveries: 0,
                            dead_letter: None,
                        },
                        created_version: 12,
                    },
                    ImportItem::Message {
                        queue: q("a"),
                        id: MessageId(3),
                        group: Group::new("g"),
                        priority: Priority(-1),
                        body: Body {
                            content: "c".into(),
                            metadata: Metadata::new(),
                        },
                        deliveries: 2,
                    },
                    ImportItem::MessageDeleted {
                        queue: q("a"),
                        id: MessageId(4),
                    },
                ],
            },
            Command::CommitImport {
                restore: 77,
                mode: ImportMode::Replace,
                header: ImportHeader {
                    cluster_id: "c-1".into(),
                    since: 5,
                    last_version: 9,
                    id_watermark: 100,
                },
            },
            Command::AbortImport { restore: 77 },
        ]
    }

    #[test]
    fn every_command_round_trips_stamped_and_bare() {
        for command in commands() {
            let s = Stamped {
                now: Timestamp(17),
                seed: u64::MAX,
                command: command.clone(),
            };
            assert_eq!(decode_stamped(&encode_stamped(&s)).unwrap(), s);
            assert_eq!(decode_command(&encode_command(&command)).unwrap(), command);
        }
    }

    #[test]
    fn batches_round_trip_and_old_single_entries_read_as_one() {
        let batch: Vec<Stamped> = commands()
            .into_iter()
            .enumerate()
            .map(|(i, command)| Stamped {
                now: Timestamp(i as u64),
                seed: 7 * i as u64,
                command,
            })
            .collect();
        assert_eq!(decode_batch(&encode_batch(&batch)).unwrap(), batch);
        assert_eq!(decode_batch(&encode_batch(&[])).unwrap(), Vec::new());
        // A log written before entries carried batches still replays.
        let single = batch[3].clone();
        assert_eq!(
            decode_batch(&encode_stamped(&single)).unwrap(),
            vec![single]
        );
        let bare: Vec<Command> = commands();
        assert_eq!(decode_commands(&encode_commands(&bare)).unwrap(), bare);
        let outcomes = vec![Ok(Reply::Acked), Err(Error::RestoreInProgress)];
        assert_eq!(
            decode_outcomes(&encode_outcomes(&outcomes)).unwrap(),
            outcomes
        );
        let good = encode_batch(&batch[..3]);
        for cut in 0..good.len() {
            assert!(decode_batch(&good[..cut]).is_err(), "prefix of {cut} bytes");
        }
        // A count larger than the bytes left is refused before anything is allocated.
        let mut huge = vec![BATCH];
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode_batch(&huge).is_err());
    }

    #[test]
    fn outcomes_round_trip() {
        let outcomes = vec![
            Ok(Reply::QueueCreated),
            Ok(Reply::Purged { count: 3 }),
            Ok(Reply::Enqueued(vec![Enqueued {
                id: MessageId(1),
                group: Group::new("default"),
                priority: Priority(2),
            }])),
            Ok(Reply::Dequeued(vec![Delivery {
                id: MessageId(1),
                group: Group::new("g"),
                priority: Priority(2),
                body: Body::default(),
                receipt: Receipt {
                    id: MessageId(1),
                    lease: 4,
                },
                deliveries: 2,
            }])),
            Ok(Reply::Nacked {
                priority: Priority(1),
            }),
            Ok(Reply::Ids(vec![MessageId(8), MessageId(9)])),
            Ok(Reply::Staged),
            Ok(Reply::AckedEach(vec![
                (MessageId(3), Ok(())),
                (MessageId(4), Err(Error::LeaseNotHeld { queue: "a".into() })),
            ])),
            Ok(Reply::Restored {
                queues: 1,
                messages: 2,
                last_version: 3,
            }),
            Ok(Reply::Aborted),
            Err(Error::BackupInvalid("gap".into())),
            Err(Error::RestoreInProgress),
            Err(Error::SinceTooOld),
            // Kept apart from `Unavailable` across the hop: the follower retries only "not sent".
            Err(Error::OutcomeUnknown("no answer".into())),
            Err(Error::Unavailable("not the leader".into())),
            Err(Error::QueueEmpty("q".into())),
            Err(Error::invalid("body.priority", "expected number", "x")),
            Err(Error::storage("redb", "commit")),
            Err(Error::InvalidSettings {
                name: "q".into(),
                reason: "r".into(),
            }),
        ];
        for o in outcomes {
            assert_eq!(decode_outcome(&encode_outcome(&o)).unwrap(), o);
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let good = encode_stamped(&Stamped {
            now: Timestamp(1),
            seed: 2,
            command: commands().remove(4),
        });
        for cut in 0..good.len() {
            assert!(
                decode_stamped(&good[..cut]).is_err(),
                "prefix of {cut} bytes"
            );
        }
        let mut long = good.clone();
        long.push(0);
        assert!(decode_stamped(&long).is_err());
        assert!(decode_outcome(&[VERSION, 9]).is_err());
        assert!(decode_command(&[2, 1]).is_err());
    }
}
