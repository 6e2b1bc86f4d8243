//! Blobs: the canonical bytes of one record, zstd-compressed and addressed by the SHA-256 of the
//! uncompressed canonical bytes.
//!
//! Record blobs of a scope are compressed with a zstd dictionary trained on the scope's own
//! records (see [`Dictionary`]): GitHub's JSON repeats the same keys, URL templates and user
//! objects in every record, which per-record compression alone cannot exploit. The frame
//! names its dictionary by id, so a blob stays self-describing and its name (the hash of the
//! uncompressed bytes) does not depend on how it was compressed.
//!
//! Canonical means: JSON with object keys sorted at every level and no insignificant
//! whitespace. Sorting is done here rather than relying on `serde_json`'s map type, because a
//! dependency enabling `serde_json/preserve_order` anywhere in the build would otherwise change
//! every hash silently.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::id::{BlobId, ObjectHash};

/// zstd level for blobs and manifests: level 3 is within a few percent of level 9's ratio on
/// small JSON documents at a fraction of the CPU.
pub const ZSTD_LEVEL: i32 = 3;

/// Failures turning values into blobs and back.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("could not encode {what} as JSON: {source}")]
    Encode {
        what: &'static str,
        source: serde_json::Error,
    },
    #[error("{key} is corrupt: {detail}; run `backtrack verify` and restore it from another copy of the store")]
    Corrupt { key: String, detail: String },
}

/// Writes `value` as canonical JSON (sorted keys, compact).
pub fn canonical_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let v = serde_json::to_value(value)?;
    let mut out = Vec::with_capacity(256);
    write_canonical(&v, &mut out)?;
    Ok(out)
}

fn write_canonical(v: &Value, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, val)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, k)?;
                out.push(b':');
                write_canonical(val, out)?;
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out)?;
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar)?,
    }
    Ok(())
}

/// A value ready to store: its id and compressed bytes, plus the logical (uncompressed) size.
#[derive(Debug, Clone)]
pub struct EncodedBlob {
    pub id: BlobId,
    pub compressed: Vec<u8>,
    pub logical_len: u64,
}

/// Canonicalizes, hashes and compresses one value.
pub fn encode<T: Serialize + ?Sized>(
    what: &'static str,
    value: &T,
) -> Result<EncodedBlob, BlobError> {
    let bytes = canonical_json(value).map_err(|source| BlobError::Encode { what, source })?;
    let id = BlobId::of(&bytes);
    Ok(EncodedBlob {
        id,
        logical_len: bytes.len() as u64,
        compressed: compress(&bytes),
    })
}

/// A blob encoded piece by piece (a value too large to hold twice: a snapshot's entry
/// table): the pieces are hashed and compressed as they come. The id is the one [`encode`]
/// gives the same bytes; the frame may differ in framing from [`compress`]'s (stored objects
/// are checked by what they decompress to, or by the hash of their own stored bytes).
pub struct StreamEncoder {
    hasher: crate::id::BlobHasher,
    zstd: zstd::stream::Encoder<'static, Vec<u8>>,
    len: u64,
}

impl std::fmt::Debug for StreamEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamEncoder")
            .field("len", &self.len)
            .finish()
    }
}

impl StreamEncoder {
    /// Fails only when zstd cannot allocate its context.
    pub fn new() -> std::io::Result<Self> {
        Ok(StreamEncoder {
            hasher: crate::id::BlobHasher::default(),
            zstd: zstd::stream::Encoder::new(Vec::new(), ZSTD_LEVEL)?,
            len: 0,
        })
    }

    pub fn push(&mut self, piece: &[u8]) -> std::io::Result<()> {
        self.hasher.update(piece);
        self.len += piece.len() as u64;
        std::io::Write::write_all(&mut self.zstd, piece)
    }

    pub fn finish(self) -> std::io::Result<EncodedBlob> {
        Ok(EncodedBlob {
            id: self.hasher.finish(),
            compressed: self.zstd.finish()?,
            logical_len: self.len,
        })
    }
}

/// zstd-compresses bytes. Compressing an in-memory buffer cannot fail short of allocation
/// failure, which aborts anyway, so this returns the bytes directly.
pub fn compress(bytes: &[u8]) -> Vec<u8> {
    zstd::bulk::compress(bytes, ZSTD_LEVEL).unwrap_or_else(|_| {
        // Unreachable in practice; fall back to the streaming API which has no size bound.
        zstd::stream::encode_all(bytes, ZSTD_LEVEL).unwrap_or_default()
    })
}

/// Decompresses stored bytes; `key` names the object in errors.
pub fn decompress(key: &str, compressed: &[u8]) -> Result<Vec<u8>, BlobError> {
    zstd::stream::decode_all(compressed).map_err(|e| BlobError::Corrupt {
        key: key.to_string(),
        detail: format!("not valid zstd data ({e})"),
    })
}

/// Decompresses, checks the hash against `id`, and parses a blob.
pub fn decode<T: DeserializeOwned>(id: &BlobId, compressed: &[u8]) -> Result<T, BlobError> {
    decode_with(id, compressed, None)
}

/// The dictionary id a compressed blob's frame names, if it was compressed with one.
pub fn frame_dictionary(compressed: &[u8]) -> Option<u32> {
    zstd::zstd_safe::get_dict_id_from_frame(compressed).map(|id| id.get())
}

/// [`decode`] for blobs that may have been compressed with `dict` (the one
/// [`frame_dictionary`] names).
pub fn decode_with<T: DeserializeOwned>(
    id: &BlobId,
    compressed: &[u8],
    dict: Option<&Dictionary>,
) -> Result<T, BlobError> {
    let key = id.key();
    let bytes = match (frame_dictionary(compressed), dict) {
        (None, _) => decompress(&key, compressed)?,
        (Some(want), Some(d)) if d.id == want => d.decompress(&key, compressed)?,
        (Some(want), _) => {
            return Err(BlobError::Corrupt {
                key,
                detail: format!("it needs dictionary {} and none was given", dict_name(want)),
            })
        }
    };
    let actual = BlobId::of(&bytes);
    if &actual != id {
        return Err(BlobError::Corrupt {
            key,
            detail: format!("content hashes to {actual}"),
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| BlobError::Corrupt {
        key,
        detail: format!("not a valid record ({e})"),
    })
}

/// [`decode`] without holding the decompressed bytes: they are hashed and parsed as they
/// come out of the decompressor. For entry tables, whose JSON (~170 bytes an entry, 100 MB
/// at 600,000 records) would otherwise sit beside both the compressed table and the
/// entries parsed from it. The same checks in the same order of precedence: not zstd, then
/// the content hash, then the JSON.
pub fn decode_streamed<T: DeserializeOwned>(
    id: &BlobId,
    compressed: &[u8],
) -> Result<T, BlobError> {
    decode_streamed_seed(id, compressed, std::marker::PhantomData::<T>)
}

/// [`decode_streamed`] through a serde seed, for a reader that takes a large value's parts
/// as they are parsed instead of the value whole (an entry table's entries one by one).
/// The parts reach the seed before the content hash is checked: whoever collects them acts
/// on them only once this returns `Ok`.
pub fn decode_streamed_seed<'de, S: serde::de::DeserializeSeed<'de>>(
    id: &BlobId,
    compressed: &[u8],
    seed: S,
) -> Result<S::Value, BlobError> {
    let key = id.key();
    let corrupt = |detail: String| BlobError::Corrupt {
        key: key.clone(),
        detail,
    };
    let decoder = zstd::stream::read::Decoder::with_buffer(compressed)
        .map_err(|e| corrupt(format!("not valid zstd data ({e})")))?;
    let mut reader = Hashing {
        inner: decoder,
        hasher: crate::id::BlobHasher::default(),
        failed: None,
    };
    let parsed = {
        let mut json = serde_json::Deserializer::from_reader(std::io::BufReader::new(&mut reader));
        seed.deserialize(&mut json)
            .and_then(|value| json.end().map(|()| value))
    };
    // A value that ends early leaves bytes to hash (and maybe a broken frame to find); what
    // the buffer held but the parser did not take is hashed already.
    let rest = std::io::copy(&mut reader, &mut std::io::sink());
    if let Some(e) = reader.failed.take() {
        return Err(corrupt(format!("not valid zstd data ({e})")));
    }
    rest.map_err(|e| corrupt(format!("not valid zstd data ({e})")))?;
    let actual = reader.hasher.finish();
    if &actual != id {
        return Err(corrupt(format!("content hashes to {actual}")));
    }
    parsed.map_err(|e| corrupt(format!("not a valid record ({e})")))
}

/// Hashes what it reads, and keeps the first read error (the decompressor's) apart from
/// the parser's own.
struct Hashing<R> {
    inner: R,
    hasher: crate::id::BlobHasher,
    failed: Option<std::io::Error>,
}

impl<R: std::io::Read> std::io::Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.hasher.update(&buf[..n]);
                Ok(n)
            }
            Err(e) => {
                let kind = e.kind();
                let message = e.to_string();
                self.failed.get_or_insert(e);
                Err(std::io::Error::new(kind, message))
            }
        }
    }
}

/// Dictionaries are trained on at most this many bytes of a scope's first records...
pub const DICT_TRAINING_BYTES: usize = 4 << 20;
/// ...and only once at least this many are at hand (below that, a dictionary would cost
/// more than it saves).
pub const DICT_MIN_TRAINING_BYTES: usize = 256 << 10;
/// The size zstd's trainer aims for; 64 KiB is where the ratio on issue JSON levels off.
const DICT_SIZE: usize = 64 << 10;
/// zstd reserves dictionary ids below 32768.
const DICT_ID_MIN: u32 = 32_768;

/// A zstd dictionary trained on one scope's records, stored once at `dicts/<id>` and named by
/// every frame compressed with it. Trained ids are random, so two trainings never share an
/// id in practice; the store's create-if-absent put is the final arbiter.
pub struct Dictionary {
    pub id: u32,
    bytes: Vec<u8>,
    decoder: zstd::dict::DecoderDictionary<'static>,
}

impl std::fmt::Debug for Dictionary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dictionary")
            .field("id", &self.id)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// The store key of dictionary `id`.
pub fn dict_key(id: u32) -> String {
    crate::keys::dict(id)
}

/// How a dictionary id reads in messages (and ends its key).
fn dict_name(id: u32) -> String {
    format!("{id:08x}")
}

impl Dictionary {
    /// Trains a dictionary on sample records (canonical bytes). `None` when zstd finds the
    /// samples too few or too alike to train on: the caller compresses without one.
    pub fn train<S: AsRef<[u8]>>(samples: &[S]) -> Option<Dictionary> {
        let mut bytes = match zstd::dict::from_samples(samples, DICT_SIZE) {
            Ok(b) => b,
            Err(e) => {
                tracing::debug!(error = %e, "dictionary training declined");
                return None;
            }
        };
        // The id sits right after the 4-byte magic. Derive ours from the content, so equal
        // dictionaries share an id and different ones collide only by 32-bit chance (which
        // the create-if-absent put of `dicts/<id>` catches).
        if bytes.len() < 8 {
            return None;
        }
        let digest = <sha2::Sha256 as sha2::Digest>::digest(&bytes);
        let id = DICT_ID_MIN
            + u32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]])
                % (u32::MAX - DICT_ID_MIN);
        bytes[4..8].copy_from_slice(&id.to_le_bytes());
        Dictionary::from_bytes(&dict_key(id), bytes).ok()
    }

    /// A stored dictionary; `key` names it in errors, and its id must match the key's.
    pub fn from_bytes(key: &str, bytes: Vec<u8>) -> Result<Dictionary, BlobError> {
        let corrupt = |detail: String| BlobError::Corrupt {
            key: key.to_string(),
            detail,
        };
        if bytes.len() < 8 || bytes[0..4] != [0x37, 0xA4, 0x30, 0xEC] {
            return Err(corrupt("not a zstd dictionary".into()));
        }
        let id = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        if !key.ends_with(&dict_name(id)) {
            return Err(corrupt(format!("it holds dictionary {}", dict_name(id))));
        }
        // `try_copy`, not `copy`: a damaged dictionary (right magic, broken tables) is
        // stored data, and `copy` panics on what zstd cannot load.
        let decoder = zstd::dict::DecoderDictionary::try_copy(&bytes)
            .map_err(|e| corrupt(format!("zstd cannot load it as a dictionary ({e})")))?;
        Ok(Dictionary { id, decoder, bytes })
    }

    /// [`Dictionary::from_bytes`] for a dictionary whose hash is held apart (a checked
    /// manifest records the hash of its scope's dictionary): the bytes must hash to
    /// `expected`, or the dictionary is damaged. Checked before zstd parses anything.
    pub fn from_bytes_checked(
        key: &str,
        bytes: Vec<u8>,
        expected: &ObjectHash,
    ) -> Result<Dictionary, BlobError> {
        let actual = ObjectHash::of(&bytes);
        if &actual != expected {
            return Err(BlobError::Corrupt {
                key: key.to_string(),
                detail: format!(
                    "its {} bytes hash to {actual}, the manifest that uses it records {expected}",
                    bytes.len()
                ),
            });
        }
        Self::from_bytes(key, bytes)
    }

    /// The hash of the dictionary as stored, for manifests to record.
    pub fn hash(&self) -> ObjectHash {
        ObjectHash::of(&self.bytes)
    }

    pub fn key(&self) -> String {
        dict_key(self.id)
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// A compressor for many blobs with this dictionary (digesting it once).
    pub fn compressor(&self) -> Result<zstd::bulk::Compressor<'static>, BlobError> {
        zstd::bulk::Compressor::with_dictionary(ZSTD_LEVEL, &self.bytes).map_err(|e| {
            BlobError::Corrupt {
                key: self.key(),
                detail: format!("zstd refused it as a dictionary ({e})"),
            }
        })
    }

    pub(crate) fn decompress(&self, key: &str, compressed: &[u8]) -> Result<Vec<u8>, BlobError> {
        let corrupt = |e: std::io::Error| BlobError::Corrupt {
            key: key.to_string(),
            detail: format!(
                "not valid zstd data for dictionary {} ({e})",
                dict_name(self.id)
            ),
        };
        let mut out = Vec::new();
        let mut decoder = zstd::stream::read::Decoder::with_prepared_dictionary(
            std::io::BufReader::new(compressed),
            &self.decoder,
        )
        .map_err(corrupt)?;
        std::io::Read::read_to_end(&mut decoder, &mut out).map_err(corrupt)?;
        Ok(out)
    }
}

/// Encodes records, with the scope's dictionary once there is one.
pub struct RecordEncoder {
    compressor: Option<(u32, zstd::bulk::Compressor<'static>)>,
}

impl std::fmt::Debug for RecordEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordEncoder")
            .field(
                "dictionary",
                &self.compressor.as_ref().map(|(id, _)| dict_name(*id)),
            )
            .finish()
    }
}

impl RecordEncoder {
    pub fn new(dict: Option<&Dictionary>) -> Result<Self, BlobError> {
        Ok(RecordEncoder {
            compressor: match dict {
                Some(d) => Some((d.id, d.compressor()?)),
                None => None,
            },
        })
    }

    pub fn dictionary(&self) -> Option<u32> {
        self.compressor.as_ref().map(|(id, _)| *id)
    }

    /// Compresses canonical bytes already hashed by the caller.
    pub fn compress(&mut self, canonical: &[u8]) -> Vec<u8> {
        match &mut self.compressor {
            Some((_, c)) => c
                .compress(canonical)
                .unwrap_or_else(|_| compress(canonical)),
            None => compress(canonical),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Decoded as it is decompressed, a blob reads as it does whole, and each kind of
    /// damage is reported the same: not zstd, a wrong content hash, JSON that is not the
    /// value (the hash, checked first, covers a valid frame of the wrong bytes).
    #[test]
    fn a_blob_decoded_as_a_stream_reads_and_fails_as_one_decoded_whole() {
        let value = json!([{"id": "1", "n": 2}, {"id": "3", "text": "x".repeat(300_000)}]);
        let good = encode("test", &value).unwrap();
        let whole = |id: &BlobId, bytes: &[u8]| {
            decode::<serde_json::Value>(id, bytes).map_err(|e| e.to_string())
        };
        let streamed = |id: &BlobId, bytes: &[u8]| {
            decode_streamed::<serde_json::Value>(id, bytes).map_err(|e| e.to_string())
        };
        assert_eq!(streamed(&good.id, &good.compressed).unwrap(), value);

        let not_json = compress(b"[1, 2");
        let not_json_id = BlobId::of(b"[1, 2");
        let truncated = &good.compressed[..good.compressed.len() / 2];
        let other = BlobId::of(b"something else");
        let cases: [(&BlobId, &[u8], &str); 5] = [
            (&good.id, b"not zstd at all", "not valid zstd data"),
            (&good.id, truncated, "not valid zstd data"),
            (&other, &good.compressed, "content hashes to"),
            (&not_json_id, &not_json, "not a valid record"),
            (&other, &not_json, "content hashes to"),
        ];
        for (id, bytes, says) in cases {
            let (a, b) = (
                whole(id, bytes).unwrap_err(),
                streamed(id, bytes).unwrap_err(),
            );
            assert!(b.contains(says), "{b}");
            assert_eq!(a.split(" (").next(), b.split(" (").next(), "{a} / {b}");
        }
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let v = json!({"b": 1, "a": {"z": [ {"y": 1, "x": 2} ], "c": null}});
        let s = String::from_utf8(canonical_json(&v).unwrap()).unwrap();
        assert_eq!(s, r#"{"a":{"c":null,"z":[{"x":2,"y":1}]},"b":1}"#);
    }

    #[test]
    fn encode_decode_round_trip_and_detects_tampering() {
        let v = json!({"title": "hello", "n": 3});
        let blob = encode("test", &v).unwrap();
        assert_eq!(blob.id, BlobId::of(&canonical_json(&v).unwrap()));
        let back: Value = decode(&blob.id, &blob.compressed).unwrap();
        assert_eq!(back, v);

        let other = compress(br#"{"n":4,"title":"hello"}"#);
        let err = decode::<Value>(&blob.id, &other).unwrap_err();
        assert!(err.to_string().contains("hashes to"), "{err}");
        let err = decode::<Value>(&blob.id, b"garbage").unwrap_err();
        assert!(err.to_string().contains("zstd"), "{err}");
    }

    fn sample_records(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                let module = ["parser", "store", "cli"][i % 3];
                let login = ["alice", "bob", "carol"][i % 3];
                let state = if i % 4 == 0 { "closed" } else { "open" };
                canonical_json(&json!({
                    "number": i,
                    "title": format!("Issue {i} about the {module} module"),
                    "url": format!("https://api.github.com/repos/acme/widgets/issues/{i}"),
                    "user": {"login": login, "type": "User",
                             "avatar_url": "https://avatars.githubusercontent.com/u/1?v=4"},
                    "state": state,
                }))
                .unwrap()
            })
            .collect()
    }

    #[test]
    fn dictionary_blobs_round_trip_name_their_dictionary_and_shrink() {
        let samples = sample_records(3000);
        let dict = Dictionary::train(&samples).expect("trainable");
        let stored = Dictionary::from_bytes(&dict.key(), dict.bytes().to_vec()).unwrap();
        assert_eq!(stored.id, dict.id);
        let mut enc = RecordEncoder::new(Some(&dict)).unwrap();
        let mut plain = RecordEncoder::new(None).unwrap();
        let (mut with, mut without) = (0, 0);
        for s in &samples {
            let id = BlobId::of(s);
            let c = enc.compress(s);
            with += c.len();
            without += plain.compress(s).len();
            assert_eq!(frame_dictionary(&c), Some(dict.id));
            let back: Value = decode_with(&id, &c, Some(&stored)).unwrap();
            assert_eq!(canonical_json(&back).unwrap(), *s);
        }
        assert!(
            with * 2 < without,
            "{with} bytes with the dictionary vs {without} without"
        );

        // Without its dictionary a blob says which one it needs; plain blobs need none.
        let c = enc.compress(&samples[0]);
        let err = decode_with::<Value>(&BlobId::of(&samples[0]), &c, None).unwrap_err();
        assert!(
            err.to_string().contains(&format!("{:08x}", dict.id)),
            "{err}"
        );
        let p = plain.compress(&samples[0]);
        assert_eq!(frame_dictionary(&p), None);
        let _: Value = decode_with(&BlobId::of(&samples[0]), &p, Some(&stored)).unwrap();
    }

    #[test]
    fn a_stored_dictionary_is_checked_against_its_key() {
        let dict = Dictionary::train(&sample_records(3000)).unwrap();
        let err = Dictionary::from_bytes("dicts/00000001", dict.bytes().to_vec()).unwrap_err();
        assert!(err.to_string().contains("holds dictionary"), "{err}");
        let err = Dictionary::from_bytes(&dict.key(), b"not a dict".to_vec()).unwrap_err();
        assert!(err.to_string().contains("not a zstd dictionary"), "{err}");
        assert!(Dictionary::train(&sample_records(3)).is_none());
    }

    /// Every damage a stored dictionary can take is an error value: truncations at every
    /// length (which keep or lose the magic and id), and each bit flip of its header, never
    /// a panic; with its hash held apart every one is caught before zstd sees it.
    #[test]
    fn damaged_dictionaries_are_errors_never_panics() {
        let dict = Dictionary::train(&sample_records(3000)).unwrap();
        let good = dict.bytes().to_vec();
        let hash = dict.hash();
        let mut cuts: Vec<usize> = (0..64).collect();
        cuts.extend((64..good.len()).step_by(97));
        for len in cuts {
            let cut = good[..len].to_vec();
            let _ = Dictionary::from_bytes(&dict.key(), cut.clone());
            let err = Dictionary::from_bytes_checked(&dict.key(), cut, &hash).unwrap_err();
            assert!(err.to_string().contains("hash to"), "{err}");
        }
        for bit in 0..(64 * 8) {
            let mut flipped = good.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            if let Ok(d) = Dictionary::from_bytes(&dict.key(), flipped.clone()) {
                // Loadable after all: using it must not panic either.
                let _ = d.compressor();
                let _ = decode_with::<Value>(&BlobId::of(b"x"), &compress(b"x"), Some(&d));
            }
            assert!(Dictionary::from_bytes_checked(&dict.key(), flipped, &hash).is_err());
        }
        assert_eq!(
            Dictionary::from_bytes_checked(&dict.key(), good, &hash)
                .unwrap()
                .id,
            dict.id
        );
    }
}
