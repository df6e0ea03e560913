//! Entry points for the fuzzers in `fuzz/` (hidden from the docs; always compiled, so a change to
//! the codec that breaks them fails the ordinary build): the decoders of bytes that cross the
//! node-to-node channel or come back from the Raft log. Each one decodes arbitrary bytes, which
//! must answer an error rather than panic, and checks that whatever decodes survives an
//! encode/decode round trip unchanged (a panic is how a fuzzer learns of a failure).
use crate::raft::codec;

/// A log entry's payload: a batch of stamped commands, or one stamped command as entries were
/// written before they carried batches.
pub fn log_entry(bytes: &[u8]) {
    if let Ok(batch) = codec::decode_batch(bytes) {
        let again = codec::decode_batch(&codec::encode_batch(&batch));
        assert_eq!(again.as_ref(), Ok(&batch), "log entry round trip");
    }
}

/// The writes a follower forwards to the leader in one call.
pub fn forwarded_command(bytes: &[u8]) {
    if let Ok(commands) = codec::decode_commands(bytes) {
        let again = codec::decode_commands(&codec::encode_commands(&commands));
        assert_eq!(
            again.as_ref(),
            Ok(&commands),
            "forwarded commands round trip"
        );
    }
}

/// The outcomes sent back over a forwarding hop, one per command.
pub fn forwarded_outcome(bytes: &[u8]) {
    if let Ok(outcomes) = codec::decode_outcomes(bytes) {
        let again = codec::decode_outcomes(&codec::encode_outcomes(&outcomes));
        assert_eq!(
            again.as_ref(),
            Ok(&outcomes),
            "forwarded outcomes round trip"
        );
    }
    if let Ok(outcome) = codec::decode_outcome(bytes) {
        let again = codec::decode_outcome(&codec::encode_outcome(&outcome));
        assert_eq!(again.as_ref(), Ok(&outcome), "forwarded outcome round trip");
    }
}

#[cfg(test)]
mod tests {
    use doq_api::{Command, QueueName, Reply, Stamped, Timestamp};

    use super::*;

    #[test]
    fn entry_points_accept_valid_and_garbage_bytes() {
        let command = Command::Dequeue {
            queue: QueueName::new("q").unwrap(),
            ack: false,
            max: 3,
        };
        let stamped = Stamped {
            now: Timestamp(5),
            seed: 7,
            command: command.clone(),
        };
        let outcome: doq_api::Result<Reply> = Err(doq_api::Error::Internal("x".into()));
        let inputs = [
            codec::encode_stamped(&stamped),
            codec::encode_batch(&[stamped.clone(), stamped]),
            codec::encode_commands(&[command]),
            codec::encode_outcomes(std::slice::from_ref(&outcome)),
            codec::encode_outcome(&outcome),
            vec![],
            vec![1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ];
        for bytes in &inputs {
            log_entry(bytes);
            forwarded_command(bytes);
            forwarded_outcome(bytes);
        }
    }
}
