//! Blobs: the canonical bytes of one record, zstd-compressed and addressed by the SHA-256 of the
//! uncompressed canonical bytes.
//!
//! Canonical means: JSON with object keys sorted at every level and no insignificant
//! whitespace. Sorting is done here rather than relying on `serde_json`'s map type, because a
//! dependency enabling `serde_json/preserve_order` anywhere in the build would otherwise change
//! every hash silently.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::id::BlobId;

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
    let key = id.key();
    let bytes = decompress(&key, compressed)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
