//! `codec`: the byte forms of what crosses the log or the wire: a stamped command (a log entry's payload),
//! an unstamped command (a forwarded write) and a command's outcome (a forwarded reply). doq-api has no
//! wire format on purpose, so the layout lives here: a version byte, then fixed-width little-endian
//! integers and length-prefixed UTF-8 strings. Decoding never panics; bad bytes are an `Error::Internal`,
//! since only doq nodes of the same version write them.
//!
//! This file holds the entry points; the layout of each kind of value lives in a submodule:
//! `primitives` ([`Writer`], [`Reader`], integers, strings, lengths), `values` (names, settings,
//! bodies, receipts), `commands`, `outcomes` (replies), `errors` and `records` (the stored state
//! that snapshots carry).
mod commands;
mod errors;
mod outcomes;
mod primitives;
mod records;
#[cfg(test)]
mod tests;
mod values;

use doq_api::{Command, Reply, Result, Stamped, Timestamp};

pub(crate) use primitives::{bad, Reader, Writer};

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
