//! Errors: every [`Error`] variant behind its one-byte tag, so a leader's refusal reaches the
//! follower's client unchanged; a variant added later crosses as `Internal` with its text.
use doq_api::{Error, Result};

use super::{bad, Reader, Writer};

impl Writer {
    pub(super) fn error(&mut self, e: &Error) {
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

impl Reader<'_> {
    pub(super) fn error(&mut self) -> Result<Error> {
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
