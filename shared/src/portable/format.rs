//! The archive file itself (format version 1): a plain header, then one zstd frame of
//! length-prefixed records ending with a record that carries a SHA-256 over the content
//! before it, then the SHA-256 of every byte of the file before it. The layout is
//! documented in [`crate::portable`] and the README.
//!
//! [`ArchiveReader`] checks everything the file can vouch for on its own as it reads: the
//! magic line, the format version, each record's framing and size, each blob against its
//! content address, the counts and the checksum in the end record, and that nothing follows
//! it. What needs more than the file (a manifest naming a blob the file lacks) is the
//! importer's to check.

use std::io::{self, BufRead, BufReader, Read, Write};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::crypt::stream::{ArchiveEncryption, OpenReader, SealWriter, StreamError};
use crate::crypt::RepoKey;
use crate::id::BlobId;

/// The first line of every archive file.
pub const MAGIC: &[u8] = b"backtrack-archive\n";
/// The format this build writes, and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;
/// No record is larger: a length beyond it is damage, not a reason to allocate gigabytes.
pub const MAX_RECORD: u32 = 256 << 20;
/// The header line is short; a longer one is not an archive.
const MAX_HEADER: u64 = 64 << 10;
/// zstd level of the record stream (as for blobs: ratio levels off above it on JSON).
const LEVEL: i32 = 3;

const TAG_BLOB: u8 = b'B';
const TAG_SNAPSHOT: u8 = b'S';
const TAG_END: u8 = b'E';
/// A blob record starts with its id as 64 lowercase hex characters.
const ID_LEN: usize = 64;

/// The header line (JSON), read before anything is decompressed: a reader learns the format
/// version, the compression and the encryption before it touches the records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format: u32,
    /// How the record stream is compressed: `zstd` in format 1.
    pub compression: String,
    /// `null` for a plain file; for a file exported from an encrypted store without
    /// `--decrypt`, how its record stream is sealed and the key slots that open it (see
    /// [`crate::crypt::stream`]). A reader that finds a value it does not know refuses the
    /// file instead of misreading ciphertext.
    #[serde(default)]
    pub encryption: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    /// `backtrack X.Y.Z`.
    pub created_by: String,
}

/// The end record: what came before it, and the SHA-256 over the magic line, the header
/// line and every record before it (tag, length and payload, uncompressed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trailer {
    pub snapshots: u64,
    pub blobs: u64,
    /// Uncompressed bytes the checksum covers.
    pub content_bytes: u64,
    pub sha256: String,
}

/// One record of the stream.
#[derive(Debug)]
pub enum Frame {
    /// A record's canonical JSON, already checked against its id.
    Blob { id: BlobId, bytes: Vec<u8> },
    /// A snapshot (`{"entry": …, "manifest": …}`), as JSON bytes.
    Snapshot(Vec<u8>),
    /// The end record, checked: counts and checksum match, nothing follows.
    End(Trailer),
}

/// What is wrong with an archive file. Each message names the file and what was found.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveFileError {
    #[error("cannot read {file}: {detail}")]
    Read { file: String, detail: String },
    #[error("cannot write {file}: {detail}")]
    Write { file: String, detail: String },
    #[error(
        "{file} is not a backtrack archive (it does not begin with the line `backtrack-archive`)"
    )]
    NotAnArchive { file: String },
    #[error("{file} is a format-{found} archive, written by a newer backtrack; this one reads format {supported} and older: upgrade backtrack to import it")]
    NewerFormat {
        file: String,
        found: u64,
        supported: u32,
    },
    #[error("{file} uses {what}, which this backtrack cannot read")]
    Unsupported { file: String, what: String },
    #[error("{file} is truncated: it ends {at}, before its end record; export it again or fetch a complete copy")]
    Truncated { file: String, at: String },
    #[error("{file} is damaged: {detail}; export it again or fetch an intact copy")]
    Damaged { file: String, detail: String },
    #[error("{file} is encrypted (exported from an encrypted store without --decrypt): import it into a store with its key, or into an empty store with the passphrase or key file of the store it came from")]
    Encrypted { file: String },
    #[error("{file} is encrypted with key {archive_key}, not with the key of {store} ({store_key}); import it into an empty store with the passphrase of the store it came from, or export it again with --decrypt")]
    OtherKey {
        file: String,
        archive_key: String,
        store: String,
        store_key: String,
    },
}

impl Header {
    /// The encryption of an encrypted file's stream; `None` for a plain file.
    pub fn stream_encryption(&self) -> Option<Result<ArchiveEncryption, String>> {
        let value = self.encryption.as_ref().filter(|e| !e.is_null())?;
        Some(serde_json::from_value(value.clone()).map_err(|_| format!("encryption {value}")))
    }
}

/// Where the record stream goes: straight to the file, or through the stream sealing.
enum Sink<W: Write> {
    Plain(W),
    Sealed(SealWriter<W>),
}

impl<W: Write> Sink<W> {
    fn finish(self) -> io::Result<W> {
        match self {
            Sink::Plain(w) => Ok(w),
            Sink::Sealed(s) => s.finish(),
        }
    }
}

impl<W: Write> Write for Sink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Sealed(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Sealed(s) => s.flush(),
        }
    }
}

/// Where the record stream comes from: the file, or the stream opened.
enum Source<R: BufRead> {
    Plain(R),
    Sealed(OpenReader<R>),
}

impl<R: BufRead> Source<R> {
    fn finish(self) -> io::Result<R> {
        match self {
            Source::Plain(r) => Ok(r),
            Source::Sealed(s) => s.finish(),
        }
    }
}

impl<R: BufRead> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::Plain(r) => r.read(buf),
            Source::Sealed(s) => s.read(buf),
        }
    }
}

impl<R: BufRead> BufRead for Source<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self {
            Source::Plain(r) => r.fill_buf(),
            Source::Sealed(s) => s.fill_buf(),
        }
    }
    fn consume(&mut self, n: usize) {
        match self {
            Source::Plain(r) => r.consume(n),
            Source::Sealed(s) => s.consume(n),
        }
    }
}

/// Writes an archive: [`ArchiveWriter::blob`] and [`ArchiveWriter::snapshot`] in any order
/// the reader should see them, then [`ArchiveWriter::finish`]. Nothing is buffered beyond
/// zstd's window, so memory stays flat whatever the archive's size.
pub struct ArchiveWriter<W: Write> {
    file: String,
    encoder: zstd::stream::write::Encoder<'static, Sink<Tap<W>>>,
    hasher: Sha256,
    content_bytes: u64,
    blobs: u64,
    snapshots: u64,
}

impl<W: Write> ArchiveWriter<W> {
    /// Writes the magic and header lines and starts the record stream. `file` names the
    /// destination in errors.
    pub fn new(file: impl Into<String>, out: W) -> Result<Self, ArchiveFileError> {
        Self::create(file.into(), out, None)
    }

    /// Like [`new`](Self::new), for a file whose record stream is sealed under `key` (the
    /// exporting store's), its header carrying `encryption` (the slots that unwrap it).
    pub fn sealed(
        file: impl Into<String>,
        out: W,
        key: &RepoKey,
        encryption: &ArchiveEncryption,
    ) -> Result<Self, ArchiveFileError> {
        Self::create(file.into(), out, Some((key, encryption)))
    }

    fn create(
        file: String,
        out: W,
        sealing: Option<(&RepoKey, &ArchiveEncryption)>,
    ) -> Result<Self, ArchiveFileError> {
        let mut out = Tap::new(out);
        let header = Header {
            format: FORMAT_VERSION,
            compression: "zstd".into(),
            encryption: sealing
                .map(|(_, e)| serde_json::to_value(e))
                .transpose()
                .map_err(|e| ArchiveFileError::Write {
                    file: file.clone(),
                    detail: e.to_string(),
                })?,
            created_at: Utc::now(),
            created_by: format!("backtrack {}", env!("CARGO_PKG_VERSION")),
        };
        let write_err = |e: io::Error| ArchiveFileError::Write {
            file: file.clone(),
            detail: e.to_string(),
        };
        let mut line = serde_json::to_vec(&header).map_err(|e| ArchiveFileError::Write {
            file: file.clone(),
            detail: e.to_string(),
        })?;
        line.push(b'\n');
        out.write_all(MAGIC).map_err(write_err)?;
        out.write_all(&line).map_err(write_err)?;
        let mut hasher = Sha256::new();
        hasher.update(MAGIC);
        hasher.update(&line);
        let sink = match sealing {
            None => Sink::Plain(out),
            Some((key, encryption)) => {
                let salt = base64::engine::general_purpose::STANDARD
                    .decode(&encryption.salt)
                    .map_err(|e| ArchiveFileError::Write {
                        file: file.clone(),
                        detail: e.to_string(),
                    })?;
                let stream = key.stream_key(&salt, hasher.clone().finalize().into());
                Sink::Sealed(SealWriter::new(out, stream))
            }
        };
        let mut encoder = zstd::stream::write::Encoder::new(sink, LEVEL).map_err(write_err)?;
        // zstd's own checksum names damage inside the compressed stream as such.
        encoder.include_checksum(true).map_err(write_err)?;
        Ok(ArchiveWriter {
            content_bytes: (MAGIC.len() + line.len()) as u64,
            file,
            encoder,
            hasher,
            blobs: 0,
            snapshots: 0,
        })
    }

    fn record(&mut self, tag: u8, parts: &[&[u8]]) -> Result<(), ArchiveFileError> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let len = u32::try_from(len)
            .ok()
            .filter(|l| *l <= MAX_RECORD)
            .ok_or_else(|| ArchiveFileError::Write {
                file: self.file.clone(),
                detail: format!(
                    "a record of {len} bytes is larger than the {MAX_RECORD} the format allows"
                ),
            })?;
        let mut head = [0u8; 5];
        head[0] = tag;
        head[1..].copy_from_slice(&len.to_be_bytes());
        let file = &self.file;
        let write_err = |e: io::Error| ArchiveFileError::Write {
            file: file.clone(),
            detail: e.to_string(),
        };
        if tag != TAG_END {
            self.hasher.update(head);
            self.content_bytes += head.len() as u64 + u64::from(len);
        }
        self.encoder.write_all(&head).map_err(write_err)?;
        for part in parts {
            if tag != TAG_END {
                self.hasher.update(part);
            }
            self.encoder.write_all(part).map_err(write_err)?;
        }
        Ok(())
    }

    /// A record's canonical bytes, which must hash to `id`.
    pub fn blob(&mut self, id: &BlobId, bytes: &[u8]) -> Result<(), ArchiveFileError> {
        self.blobs += 1;
        self.record(TAG_BLOB, &[id.to_hex().as_bytes(), bytes])
    }

    /// A snapshot record (JSON).
    pub fn snapshot(&mut self, json: &[u8]) -> Result<(), ArchiveFileError> {
        self.snapshots += 1;
        self.record(TAG_SNAPSHOT, &[json])
    }

    /// Writes the end record, ends the zstd frame, writes the final checksum and flushes.
    /// Returns the output, the end record written and the file's size.
    pub fn finish(mut self) -> Result<(W, Trailer, u64), ArchiveFileError> {
        let trailer = Trailer {
            snapshots: self.snapshots,
            blobs: self.blobs,
            content_bytes: self.content_bytes,
            sha256: hex::encode(self.hasher.clone().finalize()),
        };
        let json = serde_json::to_vec(&trailer).map_err(|e| ArchiveFileError::Write {
            file: self.file.clone(),
            detail: e.to_string(),
        })?;
        self.record(TAG_END, &[&json])?;
        let file = self.file.clone();
        let write_err = |e: io::Error| ArchiveFileError::Write {
            file: file.clone(),
            detail: e.to_string(),
        };
        let tap = self
            .encoder
            .finish()
            .and_then(Sink::finish)
            .map_err(write_err)?;
        let digest = tap.hasher.finalize();
        let (mut out, size) = (tap.inner, tap.bytes + digest.len() as u64);
        out.write_all(&digest).map_err(write_err)?;
        out.flush().map_err(write_err)?;
        Ok((out, trailer, size))
    }
}

impl<W: Write> std::fmt::Debug for ArchiveWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveWriter")
            .field("file", &self.file)
            .field("blobs", &self.blobs)
            .field("snapshots", &self.snapshots)
            .finish()
    }
}

impl<R: Read> std::fmt::Debug for ArchiveReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveReader")
            .field("file", &self.file)
            .field("header", &self.header)
            .field("blobs", &self.blobs)
            .field("snapshots", &self.snapshots)
            .finish()
    }
}

/// Reads an archive record by record, checking as it goes (see the module docs).
pub struct ArchiveReader<R: Read> {
    file: String,
    /// `None` once the frame has ended.
    decoder: Option<zstd::stream::read::Decoder<'static, Source<Tap<BufReader<R>>>>>,
    header: Header,
    hasher: Sha256,
    content_bytes: u64,
    blobs: u64,
    snapshots: u64,
    ended: bool,
}

impl<R: Read> ArchiveReader<R> {
    /// Reads and checks the magic and header lines of a plain file (an encrypted one is
    /// refused as such). `file` names the source in errors.
    pub fn open(file: impl Into<String>, input: R) -> Result<Self, ArchiveFileError> {
        Self::open_with(file, input, None)
    }

    /// Reads the magic and header lines only: what a file is, before choosing its key.
    pub fn header_of(file: impl Into<String>, input: R) -> Result<Header, ArchiveFileError> {
        let file = file.into();
        let mut input = Tap::new(BufReader::new(input));
        Ok(Self::read_header(&file, &mut input)?.0)
    }

    /// [`open`](Self::open), opening an encrypted file's stream with `key` (the repository
    /// key its header names); a plain file is read as it is.
    pub fn open_with(
        file: impl Into<String>,
        input: R,
        key: Option<&RepoKey>,
    ) -> Result<Self, ArchiveFileError> {
        let file = file.into();
        let mut input = Tap::new(BufReader::new(input));
        let (header, line) = Self::read_header(&file, &mut input)?;
        let mut hasher = Sha256::new();
        hasher.update(MAGIC);
        hasher.update(&line);
        let source = match header.stream_encryption() {
            None => Source::Plain(input),
            Some(Err(what)) => return Err(ArchiveFileError::Unsupported { file, what }),
            Some(Ok(enc)) => {
                let Some(key) = key else {
                    return Err(ArchiveFileError::Encrypted { file });
                };
                if key.key_id() != enc.key_id {
                    return Err(ArchiveFileError::OtherKey {
                        file: file.clone(),
                        archive_key: enc.key_id,
                        store: "the destination".into(),
                        store_key: key.key_id().to_string(),
                    });
                }
                let salt = base64::engine::general_purpose::STANDARD
                    .decode(&enc.salt)
                    .map_err(|_| ArchiveFileError::Damaged {
                        file: file.clone(),
                        detail: "its header's encryption salt is not base64".into(),
                    })?;
                let stream = key.stream_key(&salt, hasher.clone().finalize().into());
                Source::Sealed(OpenReader::new(input, stream))
            }
        };
        let mut decoder = zstd::stream::read::Decoder::with_buffer(source).map_err(|e| {
            ArchiveFileError::Read {
                file: file.clone(),
                detail: e.to_string(),
            }
        })?;
        // One frame: the final checksum follows it, outside zstd.
        decoder = decoder.single_frame();
        Ok(ArchiveReader {
            content_bytes: (MAGIC.len() + line.len()) as u64,
            file,
            decoder: Some(decoder),
            header,
            hasher,
            blobs: 0,
            snapshots: 0,
            ended: false,
        })
    }

    /// The magic and header lines, checked: the header and its line as read.
    fn read_header(
        file: &str,
        input: &mut Tap<BufReader<R>>,
    ) -> Result<(Header, Vec<u8>), ArchiveFileError> {
        let file = file.to_string();
        let mut magic = Vec::with_capacity(MAGIC.len());
        Read::take(&mut *input, MAGIC.len() as u64)
            .read_to_end(&mut magic)
            .map_err(|e| ArchiveFileError::Read {
                file: file.clone(),
                detail: e.to_string(),
            })?;
        if magic != MAGIC {
            return Err(ArchiveFileError::NotAnArchive { file });
        }
        let mut line = Vec::new();
        Read::take(&mut *input, MAX_HEADER)
            .read_until(b'\n', &mut line)
            .map_err(|e| ArchiveFileError::Read {
                file: file.clone(),
                detail: e.to_string(),
            })?;
        if line.last() != Some(&b'\n') {
            return Err(if (line.len() as u64) < MAX_HEADER {
                ArchiveFileError::Truncated {
                    file,
                    at: "inside its header line".into(),
                }
            } else {
                ArchiveFileError::Damaged {
                    file,
                    detail: "its header line is too long".into(),
                }
            });
        }
        let damaged = |detail: String| ArchiveFileError::Damaged {
            file: file.clone(),
            detail,
        };
        let value: serde_json::Value = serde_json::from_slice(&line)
            .map_err(|e| damaged(format!("its header line is not valid JSON ({e})")))?;
        let found = value
            .get("format")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| damaged("its header has no format version".into()))?;
        if found > u64::from(FORMAT_VERSION) {
            return Err(ArchiveFileError::NewerFormat {
                file,
                found,
                supported: FORMAT_VERSION,
            });
        }
        if found == 0 {
            return Err(damaged(
                "its header names format 0, which never existed".into(),
            ));
        }
        let header: Header = serde_json::from_value(value)
            .map_err(|e| damaged(format!("its header is incomplete ({e})")))?;
        if header.compression != "zstd" {
            return Err(ArchiveFileError::Unsupported {
                file,
                what: format!("compression {:?}", header.compression),
            });
        }
        Ok((header, line))
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The file's name, as given to [`ArchiveReader::open`].
    pub fn file(&self) -> &str {
        &self.file
    }

    fn damaged(&self, detail: String) -> ArchiveFileError {
        ArchiveFileError::Damaged {
            file: self.file.clone(),
            detail,
        }
    }

    /// Fills `buf`; `Ok(false)` when the stream ended before its first byte.
    fn fill(&mut self, buf: &mut [u8], at: &str) -> Result<bool, ArchiveFileError> {
        let Some(decoder) = self.decoder.as_mut() else {
            return Ok(false);
        };
        let mut got = 0;
        while got < buf.len() {
            match decoder.read(&mut buf[got..]) {
                Ok(0) if got == 0 => return Ok(false),
                Ok(0) => {
                    return Err(ArchiveFileError::Truncated {
                        file: self.file.clone(),
                        at: at.to_string(),
                    })
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if StreamError::of(&e).is_some() => {
                    return Err(self.damaged(format!(
                        "{e}, after {} intact records",
                        self.blobs + self.snapshots
                    )))
                }
                // zstd says a frame ended early when the file was cut inside it.
                Err(e)
                    if e.kind() == io::ErrorKind::UnexpectedEof
                        || e.to_string().contains("incomplete frame") =>
                {
                    return Err(ArchiveFileError::Truncated {
                        file: self.file.clone(),
                        at: at.to_string(),
                    })
                }
                Err(e) => {
                    return Err(self.damaged(format!(
                        "its compressed records cannot be read ({e}), after {} intact records",
                        self.blobs + self.snapshots
                    )))
                }
            }
        }
        Ok(true)
    }

    /// The next record. After [`Frame::End`] there is none: calling again is an error.
    pub fn next_frame(&mut self) -> Result<Frame, ArchiveFileError> {
        if self.ended {
            return Err(self.damaged("read past its end record".into()));
        }
        let records = self.blobs + self.snapshots;
        let mut head = [0u8; 5];
        if !self.fill(&mut head, &format!("after {records} records"))? {
            return Err(ArchiveFileError::Truncated {
                file: self.file.clone(),
                at: format!("after {records} records"),
            });
        }
        let tag = head[0];
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]);
        if len > MAX_RECORD {
            return Err(self.damaged(format!(
                "record {} claims {len} bytes, more than the {MAX_RECORD} any record may have",
                records + 1
            )));
        }
        if !matches!(tag, TAG_BLOB | TAG_SNAPSHOT | TAG_END) {
            return Err(self.damaged(format!(
                "record {} has an unknown type (byte 0x{tag:02x})",
                records + 1
            )));
        }
        let mut payload = vec![0u8; len as usize];
        if len > 0 && !self.fill(&mut payload, &format!("inside record {}", records + 1))? {
            return Err(ArchiveFileError::Truncated {
                file: self.file.clone(),
                at: format!("inside record {}", records + 1),
            });
        }
        if tag == TAG_END {
            return self.end(&payload).map(Frame::End);
        }
        self.hasher.update(head);
        self.hasher.update(&payload);
        self.content_bytes += head.len() as u64 + u64::from(len);
        if tag == TAG_SNAPSHOT {
            self.snapshots += 1;
            return Ok(Frame::Snapshot(payload));
        }
        self.blobs += 1;
        if payload.len() < ID_LEN {
            return Err(self.damaged(format!("record {} is too short for a blob", records + 1)));
        }
        let bytes = payload.split_off(ID_LEN);
        let id: BlobId = std::str::from_utf8(&payload)
            .ok()
            .and_then(|hex| hex.parse().ok())
            .ok_or_else(|| {
                self.damaged(format!(
                    "record {} does not start with a blob id",
                    records + 1
                ))
            })?;
        let actual = BlobId::of(&bytes);
        if actual != id {
            return Err(self.damaged(format!(
                "blob {id} was altered: its content hashes to {actual}"
            )));
        }
        Ok(Frame::Blob { id, bytes })
    }

    fn end(&mut self, payload: &[u8]) -> Result<Trailer, ArchiveFileError> {
        let trailer: Trailer = serde_json::from_slice(payload)
            .map_err(|e| self.damaged(format!("its end record is not valid ({e})")))?;
        let sha = hex::encode(self.hasher.clone().finalize());
        if trailer.sha256 != sha {
            return Err(self.damaged(format!(
                "its content hashes to {sha}, its end record says {}: something in it was altered",
                trailer.sha256
            )));
        }
        let found = (self.snapshots, self.blobs, self.content_bytes);
        let said = (trailer.snapshots, trailer.blobs, trailer.content_bytes);
        if found != said {
            return Err(self.damaged(format!(
                "it holds {} snapshots, {} blobs and {} bytes, its end record says {}, {} and {}",
                found.0, found.1, found.2, said.0, said.1, said.2
            )));
        }
        let mut rest = [0u8; 1];
        if self.fill(&mut rest, "after its end record")? {
            return Err(self.damaged("data follows its end record".into()));
        }
        let Some(decoder) = self.decoder.take() else {
            return Err(self.damaged("read past its end record".into()));
        };
        let mut tap = decoder
            .finish()
            .finish()
            .map_err(|e| match StreamError::of(&e) {
                Some(_) => self.damaged(e.to_string()),
                None if e.kind() == io::ErrorKind::UnexpectedEof => ArchiveFileError::Truncated {
                    file: self.file.clone(),
                    at: "inside its last encrypted chunk".into(),
                },
                None => ArchiveFileError::Read {
                    file: self.file.clone(),
                    detail: e.to_string(),
                },
            })?;
        let digest = hex::encode(tap.hasher.clone().finalize());
        let mut footer = Vec::with_capacity(33);
        (&mut tap)
            .take(33)
            .read_to_end(&mut footer)
            .map_err(|e| ArchiveFileError::Read {
                file: self.file.clone(),
                detail: e.to_string(),
            })?;
        match footer.len() {
            32 => {}
            33 => return Err(self.damaged("data follows its final checksum".into())),
            _ => {
                return Err(ArchiveFileError::Truncated {
                    file: self.file.clone(),
                    at: "inside its final checksum".into(),
                })
            }
        }
        let said = hex::encode(&footer);
        if said != digest {
            return Err(self.damaged(format!(
                "its bytes hash to {digest}, its final checksum says {said}"
            )));
        }
        self.ended = true;
        Ok(trailer)
    }
}

/// Hashes and counts every byte that passes: written, or consumed from a buffered reader
/// (what zstd reads ahead but does not use is not counted).
struct Tap<T> {
    inner: T,
    hasher: Sha256,
    bytes: u64,
}

impl<T> Tap<T> {
    fn new(inner: T) -> Self {
        Tap {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }
}

impl<W: Write> Write for Tap<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<R: BufRead> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Tap<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, n: usize) {
        // The bytes being consumed are still in the buffer: no read happens here.
        if let Ok(buf) = self.inner.fill_buf() {
            let n = n.min(buf.len());
            self.hasher.update(&buf[..n]);
            self.bytes += n as u64;
        }
        self.inner.consume(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut w = ArchiveWriter::new("mem", Vec::new()).unwrap();
        for text in ["{\"a\":1}", "{\"b\":2}"] {
            w.blob(&BlobId::of(text.as_bytes()), text.as_bytes())
                .unwrap();
        }
        w.snapshot(b"{\"entry\":null}").unwrap();
        w.finish().unwrap().0
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<Frame>, ArchiveFileError> {
        let mut r = ArchiveReader::open("mem", bytes)?;
        let mut out = Vec::new();
        loop {
            let f = r.next_frame()?;
            let end = matches!(f, Frame::End(_));
            out.push(f);
            if end {
                return Ok(out);
            }
        }
    }

    #[test]
    fn a_written_archive_reads_back_whole() {
        let frames = read_all(&sample()).unwrap();
        assert_eq!(frames.len(), 4);
        assert!(matches!(&frames[0], Frame::Blob { bytes, .. } if bytes == b"{\"a\":1}"));
        match &frames[3] {
            Frame::End(t) => assert_eq!((t.blobs, t.snapshots), (2, 1)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_cut_is_named_truncated() {
        let bytes = sample();
        let body = MAGIC.len() + 10;
        for cut in body..bytes.len() {
            match read_all(&bytes[..cut]) {
                Err(ArchiveFileError::Truncated { .. }) => {}
                // A cut inside the zstd frame header is damage zstd reports as such.
                Err(ArchiveFileError::Damaged { .. }) => {}
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
        let last = read_all(&bytes[..bytes.len() - 1]);
        assert!(
            matches!(last, Err(ArchiveFileError::Truncated { .. })),
            "{last:?}"
        );
    }

    #[test]
    fn every_flipped_bit_is_refused() {
        let bytes = sample();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            assert!(read_all(&bad).is_err(), "flip at {i} went unnoticed");
        }
    }

    #[test]
    fn a_newer_format_is_named() {
        let bytes = sample();
        let text = String::from_utf8_lossy(&bytes).replacen("\"format\":1", "\"format\":2", 1);
        let mut bad = text.into_bytes();
        // Only the header changed (ASCII); keep the body as written.
        bad.truncate(bytes.len());
        let mut fixed = bytes.clone();
        let end = MAGIC.len()
            + bytes[MAGIC.len()..]
                .iter()
                .position(|b| *b == b'\n')
                .unwrap();
        fixed[..end].copy_from_slice(&bad[..end]);
        match ArchiveReader::open("mem", &fixed[..]) {
            Err(e @ ArchiveFileError::NewerFormat { found: 2, .. }) => {
                assert!(e.to_string().contains("upgrade backtrack"), "{e}")
            }
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("a format-2 file was read"),
        }
    }

    #[test]
    fn trailing_data_and_foreign_files_are_refused() {
        let mut bytes = sample();
        bytes.extend_from_slice(b"junk");
        assert!(matches!(
            read_all(&bytes),
            Err(ArchiveFileError::Damaged { .. })
        ));
        assert!(matches!(
            ArchiveReader::open("mem", &b"PK\x03\x04zip"[..]),
            Err(ArchiveFileError::NotAnArchive { .. })
        ));
    }
}
