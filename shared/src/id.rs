//! Identifier newtypes: content hashes for blobs, time-ordered ids for snapshots and jobs.
//!
//! Kinds of id are separate types so that a blob hash can never be passed where a snapshot id
//! is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The SHA-256 of a record's canonical (uncompressed) bytes, in lowercase hex.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BlobId([u8; 32]);

impl BlobId {
    /// Content addressing in one place: every blob id in the system comes from here.
    pub fn of(bytes: &[u8]) -> Self {
        BlobId(Sha256::digest(bytes).into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The hash's bytes, as a capture keeps them in its own temporary files.
    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// An id [`BlobId::as_bytes`] gave, read back from a capture's own temporary file.
    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        BlobId(bytes)
    }

    /// `blobs/<first 2 hex>/<hash>`: the object-store key of this blob.
    pub fn key(&self) -> String {
        crate::keys::blob(self)
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobId({})", &self.to_hex()[..12])
    }
}

/// A [`BlobId`] computed over bytes that come in pieces.
#[derive(Default)]
pub struct BlobHasher(Sha256);

impl fmt::Debug for BlobHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BlobHasher")
    }
}

impl BlobHasher {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn finish(self) -> BlobId {
        BlobId(self.0.finalize().into())
    }
}

/// The SHA-256 of an object exactly as stored (its compressed bytes), in lowercase hex: the
/// hash held apart from an object that is not content-addressed (a manifest is named by its
/// snapshot, not its content), recorded where the object cannot be altered with it — the
/// catalog entry, or an already-checked object that names it. A separate type from
/// [`BlobId`], which hashes a blob's *uncompressed* bytes and names its key.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ObjectHash([u8; 32]);

impl ObjectHash {
    pub fn of(stored: &[u8]) -> Self {
        ObjectHash(Sha256::digest(stored).into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for ObjectHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ObjectHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectHash({})", &self.to_hex()[..12])
    }
}

impl FromStr for ObjectHash {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| IdError {
            kind: "object hash",
            value: s.to_string(),
        })?;
        Ok(ObjectHash(out))
    }
}

impl TryFrom<String> for ObjectHash {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ObjectHash> for String {
    fn from(h: ObjectHash) -> String {
        h.to_hex()
    }
}

/// A malformed id in stored data or user input.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid {kind} id {value:?}")]
pub struct IdError {
    pub kind: &'static str,
    pub value: String,
}

impl FromStr for BlobId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| IdError {
            kind: "blob",
            value: s.to_string(),
        })?;
        Ok(BlobId(out))
    }
}

impl TryFrom<String> for BlobId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<BlobId> for String {
    fn from(b: BlobId) -> String {
        b.to_hex()
    }
}

macro_rules! ulid_id {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(ulid::Ulid);

        impl $name {
            /// A fresh id; ids made later sort after ids made earlier (millisecond precision,
            /// random within the same millisecond).
            pub fn new() -> Self {
                $name(ulid::Ulid::new())
            }

            /// Milliseconds since the Unix epoch at which this id was made.
            pub fn timestamp_ms(&self) -> u64 {
                self.0.timestamp_ms()
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Lowercase reads better in tables and is what users type as a prefix.
                f.write_str(&self.0.to_string().to_ascii_lowercase())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                ulid::Ulid::from_string(&s.to_ascii_uppercase())
                    .map($name)
                    .map_err(|_| IdError { kind: $kind, value: s.to_string() })
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.to_string()
            }
        }
    };
}

ulid_id!(
    /// A snapshot's id: 26 lowercase Crockford base32 characters that sort by creation time.
    SnapshotId,
    "snapshot"
);
ulid_id!(
    /// A rollback job's id (same shape as snapshot ids, distinct type).
    JobId,
    "job"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_id_is_sha256_and_round_trips() {
        let id = BlobId::of(b"abc");
        assert_eq!(
            id.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(id.key(), format!("blobs/ba/{}", id.to_hex()));
        assert_eq!(id.to_hex().parse::<BlobId>().unwrap(), id);
        assert!("zz".parse::<BlobId>().is_err());
    }

    #[test]
    fn object_hash_is_sha256_of_the_stored_bytes_and_round_trips() {
        let h = ObjectHash::of(b"abc");
        assert_eq!(h.to_hex(), BlobId::of(b"abc").to_hex());
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<ObjectHash>(&json).unwrap(), h);
        assert!("ab".parse::<ObjectHash>().is_err());
    }

    #[test]
    fn snapshot_ids_sort_by_time_and_round_trip() {
        let a = SnapshotId::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = SnapshotId::new();
        assert!(a < b);
        assert!(a.to_string() < b.to_string());
        assert_eq!(a.to_string().parse::<SnapshotId>().unwrap(), a);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<SnapshotId>(&json).unwrap(), a);
    }
}
