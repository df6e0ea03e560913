//! The model-based property test: random operations on one delayed queue, answered by the engine
//! and by an obviously-right model (a Vec scanned linearly), must agree; a rebuild must agree too.
use proptest::prelude::{
    any, prop, prop_assert_eq, prop_oneof, proptest, Just, ProptestConfig, Strategy as PropStrategy,
};

use super::*;

/// The obviously-right model of one delayed queue: a Vec scanned linearly.
#[derive(Default)]
struct Model {
    msgs: Vec<ModelMsg>,
    last_id: u64,
}

struct ModelMsg {
    id: u64,
    priority: i64,
    content: String,
    lease: Option<u64>,
    deliveries: u32,
}

#[derive(Clone, Debug)]
enum Op {
    Enqueue(i64),
    Dequeue(bool),
    Ack(usize),
    Nack(usize, i64),
    Touch(usize),
    UpdatePriority(usize, i64),
    Delete(usize),
    Advance(u64),
    Restart,
}

fn op() -> impl PropStrategy<Value = Op> {
    let now_secs = i64::try_from(T0 / 1000).unwrap();
    prop_oneof![
        4 => prop_oneof![0..20i64, now_secs..now_secs + 5].prop_map(Op::Enqueue),
        4 => any::<bool>().prop_map(Op::Dequeue),
        2 => (0..8usize).prop_map(Op::Ack),
        1 => (0..8usize, 0..20i64).prop_map(|(i, p)| Op::Nack(i, p)),
        1 => (0..8usize).prop_map(Op::Touch),
        1 => (0..8usize, 0..20i64).prop_map(|(i, p)| Op::UpdatePriority(i, p)),
        1 => (0..8usize).prop_map(Op::Delete),
        2 => (0..40_000u64).prop_map(Op::Advance),
        1 => Just(Op::Restart),
    ]
}

/// What both sides answer, reduced to comparable values.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Enqueued(u64),
    Got(u64, String, u32),
    Empty,
    Ok,
    Priority(i64),
    NoLease,
    NotFound,
}

impl Model {
    fn live(&self, i: usize, now: u64) -> bool {
        self.msgs
            .get(i)
            .and_then(|m| m.lease)
            .is_some_and(|d| d > now)
    }

    fn apply(&mut self, op: &Op, now: u64, ids: &[u64]) -> Option<Answer> {
        let pos = |i: &usize| {
            ids.get(*i)
                .and_then(|id| self.msgs.iter().position(|m| m.id == *id))
        };
        Some(match op {
            Op::Enqueue(p) => {
                let id = (self.last_id + 1).max((now - SNOWFLAKE_EPOCH_MS) << 22);
                self.last_id = id;
                self.msgs.push(ModelMsg {
                    id,
                    priority: *p,
                    content: format!("m{id}"),
                    lease: None,
                    deliveries: 0,
                });
                Answer::Enqueued(id)
            }
            Op::Dequeue(ack) => {
                let best = (0..self.msgs.len())
                    .filter(|i| !self.live(*i, now))
                    .min_by_key(|i| (self.msgs[*i].priority, self.msgs[*i].id));
                match best {
                    Some(i) if i128::from(self.msgs[i].priority) <= i128::from(now / 1000) => {
                        self.msgs[i].deliveries += 1;
                        let m = &self.msgs[i];
                        let a = Answer::Got(m.id, m.content.clone(), m.deliveries);
                        if *ack {
                            self.msgs.remove(i);
                        } else {
                            self.msgs[i].lease = Some(now + 60_000);
                        }
                        a
                    }
                    _ => Answer::Empty,
                }
            }
            Op::Ack(i) => match pos(i).filter(|p| self.live(*p, now)) {
                Some(p) => {
                    self.msgs.remove(p);
                    Answer::Ok
                }
                None => Answer::NoLease,
            },
            Op::Nack(i, prio) => match pos(i).filter(|p| self.live(*p, now)) {
                Some(p) => {
                    if *prio != 0 {
                        self.msgs[p].priority = *prio;
                    }
                    self.msgs[p].lease = None;
                    Answer::Priority(self.msgs[p].priority)
                }
                None => Answer::NoLease,
            },
            Op::Touch(i) => match pos(i).filter(|p| self.live(*p, now)) {
                Some(p) => {
                    self.msgs[p].lease = Some(now + 60_000);
                    Answer::Ok
                }
                None => Answer::NoLease,
            },
            Op::UpdatePriority(i, prio) => match pos(i) {
                Some(p) => {
                    self.msgs[p].priority = *prio;
                    Answer::Ok
                }
                None => Answer::NotFound,
            },
            Op::Delete(i) => match pos(i) {
                Some(p) => {
                    self.msgs.remove(p);
                    Answer::Ok
                }
                None => Answer::NotFound,
            },
            Op::Advance(_) | Op::Restart => return None,
        })
    }
}

fn engine_answer(r: &mut Rig, op: &Op, ids: &[u64]) -> Option<Answer> {
    let q = name("p");
    let id = |i: &usize| MessageId(ids.get(*i).copied().unwrap_or(1));
    let reply = match op {
        Op::Enqueue(p) => {
            let m = NewMessage {
                body: Body {
                    content: String::new(),
                    metadata: Metadata::new(),
                },
                ..msg("", *p, "")
            };
            match r.run(Command::Enqueue {
                queue: q,
                items: vec![m.clone()],
            }) {
                Ok(Reply::Enqueued(v)) => {
                    // Store the same content the model derives from the id.
                    let id = v[0].id;
                    let body = Body {
                        content: format!("m{}", id.0),
                        metadata: Metadata::new(),
                    };
                    let h = r.store.headers.get(&(1, id.0)).cloned().unwrap();
                    r.store.put_message(&h, &body);
                    return Some(Answer::Enqueued(id.0));
                }
                other => other,
            }
        }
        Op::Dequeue(ack) => r.run(Command::Dequeue {
            queue: q,
            ack: *ack,
            max: 1,
        }),
        Op::Ack(i) => r.run(Command::Ack {
            queue: q,
            id: id(i),
            receipt: None,
        }),
        Op::Nack(i, p) => r.run(Command::Nack {
            queue: q,
            id: id(i),
            priority: Priority(*p),
            metadata: None,
            receipt: None,
        }),
        Op::Touch(i) => r.run(Command::Touch {
            queue: q,
            id: id(i),
            receipt: None,
        }),
        Op::UpdatePriority(i, p) => r.run(Command::UpdatePriority {
            queue: q,
            id: id(i),
            priority: Priority(*p),
        }),
        Op::Delete(i) => r.run(Command::Delete {
            queue: q,
            id: id(i),
        }),
        Op::Advance(ms) => {
            r.now += ms;
            return None;
        }
        Op::Restart => {
            let rebuilt = Engine::rebuild(&r.store).unwrap();
            assert_eq!(rebuilt.digest(), r.engine.digest());
            r.engine = rebuilt;
            return None;
        }
    };
    Some(match reply {
        Ok(Reply::Dequeued(mut v)) => {
            let d = v.pop().unwrap();
            Answer::Got(d.id.0, d.body.content, d.deliveries)
        }
        Ok(Reply::Nacked { priority }) => Answer::Priority(priority.0),
        Ok(_) => Answer::Ok,
        Err(Error::QueueEmpty(_)) => Answer::Empty,
        Err(Error::LeaseNotHeld { .. }) => Answer::NoLease,
        Err(Error::MessageNotFound { .. }) => Answer::NotFound,
        Err(e) => panic!("unexpected error {e:?}"),
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
    #[test]
    fn engine_agrees_with_model(ops in prop::collection::vec(op(), 1..120)) {
        let mut r = Rig::new();
        r.create("p", QueueKind::Delayed, settings(None, 0));
        let mut model = Model::default();
        let mut ids: Vec<u64> = Vec::new();
        for op in &ops {
            let now = r.now.max(r.engine.last_now().0);
            let expected = model.apply(op, now, &ids);
            let got = engine_answer(&mut r, op, &ids);
            prop_assert_eq!(&got, &expected, "op {:?}", op);
            if let Some(Answer::Enqueued(id)) = got {
                ids.push(id);
            }
        }
        let rebuilt = Engine::rebuild(&r.store).unwrap();
        prop_assert_eq!(rebuilt.digest(), r.engine.digest());
    }
}
