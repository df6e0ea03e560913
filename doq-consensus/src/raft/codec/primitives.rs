//! The byte layout's building blocks: [`Writer`] and [`Reader`], the version byte, fixed-width
//! little-endian integers, booleans, options, lengths (checked against the bytes left) and
//! length-prefixed strings and bytes, and [`bad`], the error for bytes that do not decode.
use doq_api::{Error, Result};

use super::VERSION;

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
    /// Length-prefixed raw bytes.
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.0.extend_from_slice(b);
    }
    pub(crate) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub(crate) fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }
    pub(super) fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(super) fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(super) fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn len(&mut self, n: usize) {
        self.u64(n as u64);
    }
    pub(super) fn str(&mut self, s: &str) {
        self.len(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }
    pub(super) fn opt<T>(&mut self, v: Option<&T>, f: impl FnOnce(&mut Self, &T)) {
        match v {
            None => self.u8(0),
            Some(x) => {
                self.u8(1);
                f(self, x);
            }
        }
    }
}

/// Reads one encoded value written by [`Writer`].
pub(crate) struct Reader<'a>(pub(super) &'a [u8]);

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
    pub(super) fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    pub(super) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub(crate) fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    pub(super) fn i64(&mut self) -> Result<i64> {
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
    pub(super) fn str(&mut self) -> Result<String> {
        let n = self.len()?;
        let raw = self.take(n)?;
        String::from_utf8(raw.to_vec()).map_err(|_| bad("string is not UTF-8"))
    }
    pub(super) fn opt<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<Option<T>> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(f(self)?)),
            t => Err(bad(&format!("option tag {t}"))),
        }
    }
}
