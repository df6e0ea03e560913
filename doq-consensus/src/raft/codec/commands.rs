//! Commands: every [`Command`] variant (the writes a log entry or a forwarding hop carries) and
//! the backup items a staged import holds, each behind its one-byte tag.
use doq_api::{
    Command, Group, ImportHeader, ImportItem, ImportMode, MessageId, NewMessage, Priority, Result,
    SettingsUpdate,
};

use super::{bad, Reader, Writer};

impl Writer {
    pub(super) fn command(&mut self, c: &Command) {
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
}

impl Reader<'_> {
    pub(super) fn command(&mut self) -> Result<Command> {
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
}
