//! Outcomes: a command's result as it crosses a forwarding hop, an `Ok` [`Reply`] (every variant
//! behind its one-byte tag) or an `Err` (see `errors`).
use doq_api::{Delivery, Enqueued, Group, MessageId, Priority, Receipt, Reply, Result};

use super::{bad, Reader, Writer};

impl Writer {
    pub(super) fn outcome(&mut self, o: &Result<Reply>) {
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
}

impl Reader<'_> {
    pub(super) fn outcome(&mut self) -> Result<Result<Reply>> {
        match self.u8()? {
            0 => Ok(Ok(self.reply()?)),
            1 => Ok(Err(self.error()?)),
            t => Err(bad(&format!("outcome tag {t}"))),
        }
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
}
