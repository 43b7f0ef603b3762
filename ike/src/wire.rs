// SPDX-License-Identifier: GPL-2.0
//! Bounds-checked big-endian reading and writing. Every read returns `None` instead of
//! panicking; callers turn that into a `ParseError` with context.

use crate::error::EncodeError;

/// A cursor over untrusted bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// What is left, without consuming it.
    pub(crate) fn peek_rest(&self) -> &'a [u8] {
        self.rest
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, tail) = self.rest.split_first_chunk::<N>()?;
        self.rest = tail;
        Some(*head)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        let (&byte, tail) = self.rest.split_first()?;
        self.rest = tail;
        Some(byte)
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }

    pub(crate) fn bytes(&mut self, len: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.rest.split_at_checked(len)?;
        self.rest = tail;
        Some(head)
    }

    /// Consumes everything left.
    pub(crate) fn take_rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.rest)
    }
}

/// Appends big-endian fields to a buffer.
pub(crate) trait WriteExt {
    fn put_u8(&mut self, value: u8);
    fn put_u16(&mut self, value: u16);
    fn put_u32(&mut self, value: u32);
    /// Overwrites a placeholder written earlier at `at` (out-of-range offsets are ignored).
    fn patch_u16(&mut self, at: usize, value: u16);
    /// Same as `patch_u16` for a 32-bit field.
    fn patch_u32(&mut self, at: usize, value: u32);
    /// Patches the 16-bit length at `start + 2` of a structure that began at `start`
    /// (generic payload header, proposal, transform): its size so far.
    fn finish_length16(&mut self, start: usize, what: &'static str) -> Result<(), EncodeError>;
}

impl WriteExt for Vec<u8> {
    fn put_u8(&mut self, value: u8) {
        self.push(value);
    }

    fn put_u16(&mut self, value: u16) {
        self.extend_from_slice(&value.to_be_bytes());
    }

    fn put_u32(&mut self, value: u32) {
        self.extend_from_slice(&value.to_be_bytes());
    }

    fn patch_u16(&mut self, at: usize, value: u16) {
        patch(self, at, &value.to_be_bytes());
    }

    fn patch_u32(&mut self, at: usize, value: u32) {
        patch(self, at, &value.to_be_bytes());
    }

    fn finish_length16(&mut self, start: usize, what: &'static str) -> Result<(), EncodeError> {
        let value = u16_field(self.len().saturating_sub(start), what)?;
        self.patch_u16(start.saturating_add(2), value);
        Ok(())
    }
}

fn patch(buf: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(slot) = at
        .checked_add(bytes.len())
        .and_then(|end| buf.get_mut(at..end))
    {
        slot.copy_from_slice(bytes);
    }
}

/// A length or count that must fit an 8-bit field.
pub(crate) fn u8_field(len: usize, what: &'static str) -> Result<u8, EncodeError> {
    u8::try_from(len).map_err(|_| EncodeError::TooLong {
        what,
        len,
        max: usize::from(u8::MAX),
    })
}

/// A length or count that must fit a 16-bit field.
pub(crate) fn u16_field(len: usize, what: &'static str) -> Result<u16, EncodeError> {
    u16::try_from(len).map_err(|_| EncodeError::TooLong {
        what,
        len,
        max: usize::from(u16::MAX),
    })
}
