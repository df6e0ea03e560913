//! The doq-api values that commands, replies and stored records share: queue names, kinds,
//! settings and strategies, message bodies with their metadata, and receipts.
use doq_api::{
    Body, MessageId, Metadata, QueueKind, QueueName, QueueSettings, Receipt, Result, Strategy,
};

use super::{bad, Reader, Writer};

impl Writer {
    pub(super) fn name(&mut self, n: &QueueName) {
        self.str(n.as_str());
    }
    pub(super) fn kind(&mut self, k: QueueKind) {
        self.u8(match k {
            QueueKind::Delayed => 0,
            QueueKind::Fair => 1,
        });
    }
    pub(super) fn settings(&mut self, s: &QueueSettings) {
        self.strategy(s.strategy);
        self.u32(s.max_unacked);
        self.u32(s.ack_timeout);
        self.u32(s.max_deliveries);
        self.opt(s.dead_letter.as_ref(), Self::name);
    }
    pub(super) fn strategy(&mut self, s: Option<Strategy>) {
        self.u8(match s {
            None => 0,
            Some(Strategy::RoundRobin) => 1,
            Some(Strategy::Weighted) => 2,
        });
    }
    pub(super) fn metadata(&mut self, m: &Metadata) {
        self.len(m.len());
        for (k, v) in m {
            self.str(k);
            self.str(v);
        }
    }
    pub(super) fn body(&mut self, b: &Body) {
        self.str(&b.content);
        self.metadata(&b.metadata);
    }
    pub(super) fn receipt(&mut self, r: Option<&Receipt>) {
        self.opt(r, |w, r| {
            w.u64(r.id.0);
            w.u64(r.lease);
        });
    }
}

impl Reader<'_> {
    pub(super) fn name(&mut self) -> Result<QueueName> {
        let s = self.str()?;
        QueueName::new(&s).map_err(|_| bad(&format!("queue name {s:?}")))
    }
    pub(super) fn kind(&mut self) -> Result<QueueKind> {
        match self.u8()? {
            0 => Ok(QueueKind::Delayed),
            1 => Ok(QueueKind::Fair),
            k => Err(bad(&format!("queue kind {k}"))),
        }
    }
    pub(super) fn settings(&mut self) -> Result<QueueSettings> {
        Ok(QueueSettings {
            strategy: self.strategy()?,
            max_unacked: self.u32()?,
            ack_timeout: self.u32()?,
            max_deliveries: self.u32()?,
            dead_letter: self.opt(Self::name)?,
        })
    }
    pub(super) fn strategy(&mut self) -> Result<Option<Strategy>> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(Strategy::RoundRobin)),
            2 => Ok(Some(Strategy::Weighted)),
            t => Err(bad(&format!("strategy {t}"))),
        }
    }
    pub(super) fn metadata(&mut self) -> Result<Metadata> {
        let n = self.len()?;
        let mut m = Metadata::new();
        for _ in 0..n {
            let k = self.str()?;
            let v = self.str()?;
            m.insert(k, v);
        }
        Ok(m)
    }
    pub(super) fn body(&mut self) -> Result<Body> {
        Ok(Body {
            content: self.str()?,
            metadata: self.metadata()?,
        })
    }
    pub(super) fn receipt(&mut self) -> Result<Option<Receipt>> {
        self.opt(|r| {
            Ok(Receipt {
                id: MessageId(r.u64()?),
                lease: r.u64()?,
            })
        })
    }
}
