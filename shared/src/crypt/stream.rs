//! The encrypted stream of an archive file exported from an encrypted store (without
//! `--decrypt`): the file's record stream sealed in chunks under a key only the store's key
//! holders can derive, so the file is as unreadable as the store it came from.
//!
//! The construction is the STREAM one of age and Tink: the plaintext is cut into chunks of
//! [`CHUNK`] bytes, each sealed with XChaCha20-Poly1305 under a per-file key (HKDF of the
//! repository key's archive subkey with a random per-file salt), its nonce the chunk's
//! counter and a flag marking the last chunk, its associated data the SHA-256 of the file's
//! magic and header lines. So a chunk cannot be altered, reordered, dropped, moved to
//! another file, or made last, and the header (its key slots, its salt) cannot be changed,
//! without failing authentication; a file cut after any chunk is named truncated.
//!
//! On the wire each chunk is its ciphertext length (big-endian `u32`, the top bit set on the
//! last chunk) and the ciphertext (plaintext plus the 16-byte tag).

use std::fmt;
use std::io::{self, BufRead, Read, Write};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::KeySlot;

/// The `scheme` of an archive header's `encryption`.
pub const SCHEME: &str = "backtrack-stream-v1";
/// Plaintext bytes per chunk.
pub const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;
const LAST: u32 = 1 << 31;

/// An archive header's `encryption`: how the record stream is sealed and the key slots that
/// unwrap the key it is sealed under (the exporting store's, as it had them).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArchiveEncryption {
    pub scheme: String,
    /// Names the repository key (not secret: an HKDF output of its own), so an importer
    /// knows whether a store holds the same key without trying it.
    pub key_id: String,
    /// Base64 per-file salt of the stream key.
    pub salt: String,
    pub chunk_bytes: u32,
    /// The exporting store's key slots: an empty store the file is imported into gets them.
    pub slots: Vec<KeySlot>,
}

/// The key of one file's stream, bound to its header.
pub struct StreamKey {
    cipher: XChaCha20Poly1305,
    /// SHA-256 of the magic and header lines: every chunk's associated data.
    header: [u8; 32],
}

impl fmt::Debug for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StreamKey(<redacted>)")
    }
}

impl StreamKey {
    pub(super) fn new(key: &Zeroizing<[u8; 32]>, header: [u8; 32]) -> StreamKey {
        StreamKey {
            cipher: XChaCha20Poly1305::new(key.as_ref().into()),
            header,
        }
    }

    fn nonce(counter: u64, last: bool) -> XNonce {
        let mut n = [0u8; 24];
        n[15..23].copy_from_slice(&counter.to_be_bytes());
        n[23] = u8::from(last);
        *XNonce::from_slice(&n)
    }
}

/// Why a stream did not open; carried inside the `io::Error` a read returns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error("encrypted chunk {chunk} fails authentication: the file was altered, or it was not written with this key")]
    Tampered { chunk: u64 },
    #[error("encrypted chunk {chunk} claims {len} bytes, more than a chunk holds")]
    Oversized { chunk: u64, len: u32 },
    #[error("data follows the record stream inside its encryption")]
    Trailing,
}

impl StreamError {
    /// The stream error an `io::Error` carries, if it is one.
    pub fn of(e: &io::Error) -> Option<&StreamError> {
        e.get_ref().and_then(|inner| inner.downcast_ref())
    }

    fn io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }
}

/// Seals everything written into chunks; [`SealWriter::finish`] writes the last one.
pub struct SealWriter<W: Write> {
    inner: W,
    key: StreamKey,
    buf: Vec<u8>,
    counter: u64,
}

impl<W: Write> fmt::Debug for SealWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealWriter")
            .field("chunks", &self.counter)
            .finish()
    }
}

impl<W: Write> SealWriter<W> {
    pub fn new(inner: W, key: StreamKey) -> Self {
        SealWriter {
            inner,
            key,
            buf: Vec::with_capacity(CHUNK),
            counter: 0,
        }
    }

    fn emit(&mut self, len: usize, last: bool) -> io::Result<()> {
        let sealed = self
            .key
            .cipher
            .encrypt(
                &StreamKey::nonce(self.counter, last),
                Payload {
                    msg: &self.buf[..len],
                    aad: &self.key.header,
                },
            )
            .map_err(|_| io::Error::other("sealing an archive chunk failed"))?;
        let mut head = u32::try_from(sealed.len())
            .map_err(|_| io::Error::other("an archive chunk is too large"))?;
        if last {
            head |= LAST;
        }
        self.inner.write_all(&head.to_be_bytes())?;
        self.inner.write_all(&sealed)?;
        self.buf.drain(..len);
        self.counter += 1;
        Ok(())
    }

    /// Seals what is left as the last chunk (empty if nothing is) and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        let len = self.buf.len();
        self.emit(len, true)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for SealWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        // Strictly more than a chunk: what fills the last one exactly stays for `finish`.
        while self.buf.len() > CHUNK {
            self.emit(CHUNK, false)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Opens a sealed stream chunk by chunk, reading exactly its bytes from `inner` (what
/// follows the last chunk stays unread there).
pub struct OpenReader<R: Read> {
    inner: R,
    key: StreamKey,
    plain: Zeroizing<Vec<u8>>,
    pos: usize,
    counter: u64,
    last: bool,
}

impl<R: Read> fmt::Debug for OpenReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenReader")
            .field("chunks", &self.counter)
            .field("last", &self.last)
            .finish()
    }
}

impl<R: Read> OpenReader<R> {
    pub fn new(inner: R, key: StreamKey) -> Self {
        OpenReader {
            inner,
            key,
            plain: Zeroizing::new(Vec::new()),
            pos: 0,
            counter: 0,
            last: false,
        }
    }

    fn next_chunk(&mut self) -> io::Result<()> {
        let mut head = [0u8; 4];
        // A cut anywhere in the chunks is an early end of file, named truncated above.
        self.inner.read_exact(&mut head)?;
        let head = u32::from_be_bytes(head);
        let last = head & LAST != 0;
        let len = head & !LAST;
        if len as usize > CHUNK + TAG || (len as usize) < TAG {
            return Err(StreamError::Oversized {
                chunk: self.counter,
                len,
            }
            .io());
        }
        let mut sealed = vec![0u8; len as usize];
        self.inner.read_exact(&mut sealed)?;
        let plain = self
            .key
            .cipher
            .decrypt(
                &StreamKey::nonce(self.counter, last),
                Payload {
                    msg: &sealed,
                    aad: &self.key.header,
                },
            )
            .map_err(|_| {
                StreamError::Tampered {
                    chunk: self.counter,
                }
                .io()
            })?;
        self.plain = Zeroizing::new(plain);
        self.pos = 0;
        self.counter += 1;
        self.last = last;
        Ok(())
    }

    /// The reader below once the stream ended exactly: its last chunk read, and all of the
    /// plaintext consumed.
    pub fn finish(mut self) -> io::Result<R> {
        while self.pos == self.plain.len() && !self.last {
            self.next_chunk()?;
        }
        if self.pos < self.plain.len() {
            return Err(StreamError::Trailing.io());
        }
        Ok(self.inner)
    }
}

impl<R: Read> BufRead for OpenReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos == self.plain.len() && !self.last {
            self.next_chunk()?;
        }
        Ok(&self.plain[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.plain.len());
    }
}

impl<R: Read> Read for OpenReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8, header: u8) -> StreamKey {
        StreamKey::new(&Zeroizing::new([byte; 32]), [header; 32])
    }

    fn seal(data: &[u8]) -> Vec<u8> {
        let mut w = SealWriter::new(Vec::new(), key(1, 9));
        // In uneven pieces, as zstd writes.
        for piece in data.chunks(7_777) {
            w.write_all(piece).unwrap();
        }
        w.finish().unwrap()
    }

    fn open(sealed: &[u8], k: StreamKey) -> io::Result<Vec<u8>> {
        let mut r = OpenReader::new(sealed, k);
        let mut out = Vec::new();
        r.read_to_end(&mut out)?;
        let rest = r.finish()?;
        assert!(rest.is_empty(), "the reader stops at the last chunk");
        Ok(out)
    }

    #[test]
    fn streams_round_trip_at_every_chunk_boundary() {
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 5] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let sealed = seal(&data);
            assert_eq!(open(&sealed, key(1, 9)).unwrap(), data, "{len} bytes");
            if len > 16 {
                assert!(!sealed.windows(16).any(|w| w == &data[..16]));
            }
        }
    }

    #[test]
    fn a_wrong_key_header_flip_cut_or_reorder_is_refused() {
        let data: Vec<u8> = (0..2 * CHUNK + 100).map(|i| (i % 13) as u8).collect();
        let sealed = seal(&data);
        let tampered = |r: io::Result<Vec<u8>>| {
            matches!(
                r.map_err(|e| StreamError::of(&e).cloned()),
                Err(Some(StreamError::Tampered { .. }))
            )
        };
        assert!(tampered(open(&sealed, key(2, 9))), "another key");
        assert!(tampered(open(&sealed, key(1, 8))), "another header");
        for at in [4, 100, CHUNK, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[at] ^= 1;
            assert!(open(&bad, key(1, 9)).is_err(), "flip at {at}");
        }
        // Cut after a whole chunk: the last one is missing.
        let first = 4 + CHUNK + TAG;
        let cut = open(&sealed[..first], key(1, 9)).unwrap_err();
        assert_eq!(cut.kind(), io::ErrorKind::UnexpectedEof);
        // The first chunk made to look last fails authentication.
        let mut last = sealed[..first].to_vec();
        last[0] |= 0x80;
        assert!(tampered(open(&last, key(1, 9))));
        // Chunks swapped.
        let second = first + 4 + CHUNK + TAG;
        let mut swapped = sealed[first..second].to_vec();
        swapped.extend_from_slice(&sealed[..first]);
        swapped.extend_from_slice(&sealed[second..]);
        assert!(tampered(open(&swapped, key(1, 9))));
    }
}
