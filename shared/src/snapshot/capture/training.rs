//! The records a first capture holds back to train its scope's dictionary on, and which of
//! them it trains on.
//!
//! A dictionary trained on one kind of record compresses the other poorly, and the order in
//! which kinds arrive depends on the path that read them (a REST capture lists issues and
//! comments side by side; a GraphQL one reads comments item by item behind the issue
//! listing, so its first megabytes are nearly all issues). So records are held until both
//! comments and the other records fill half the sample (or the held bytes reach a cap, or
//! the capture ends), and the sample takes half from each where it can: both paths then
//! train on the same mix and store about the same bytes.

use crate::blob;
use crate::id::BlobId;

/// Bytes held back at most while one half of the sample is still short (a repository with
/// few comments, or a walk slow to reach them): the dictionary is trained on what is there.
pub(super) const HOLD_MAX_BYTES: usize = 2 * blob::DICT_TRAINING_BYTES;

/// One record held back: its manifest entry's slot, its blob id, its canonical bytes, and
/// whether it is a comment.
pub(super) type Held = (usize, BlobId, Vec<u8>, bool);

/// The records held back until the dictionary is trained.
#[derive(Debug, Default)]
pub(super) struct Training {
    pub held: Vec<Held>,
    comments: usize,
    others: usize,
}

impl Training {
    pub fn push(&mut self, held: Held) {
        if held.3 {
            self.comments += held.2.len();
        } else {
            self.others += held.2.len();
        }
        self.held.push(held);
    }

    pub fn bytes(&self) -> usize {
        self.comments + self.others
    }

    /// Enough is held to train on: both halves of the sample are full, or the cap is
    /// reached.
    pub fn ready(&self) -> bool {
        let half = blob::DICT_TRAINING_BYTES / 2;
        (self.comments >= half && self.others >= half) || self.bytes() >= HOLD_MAX_BYTES
    }

    /// The sample to train on: up to half of [`blob::DICT_TRAINING_BYTES`] from comments and
    /// half from the rest, each in the order they came; a half that is short leaves its room
    /// to the other.
    pub fn sample(&self) -> Vec<&[u8]> {
        let total = blob::DICT_TRAINING_BYTES;
        let half = total / 2;
        let comments = self
            .comments
            .min(half.max(total.saturating_sub(self.others)));
        let others = self.others.min(total - comments);
        let (mut took_comments, mut took_others) = (0usize, 0usize);
        let mut sample = Vec::new();
        for (_, _, bytes, comment) in &self.held {
            let (took, quota) = if *comment {
                (&mut took_comments, comments)
            } else {
                (&mut took_others, others)
            };
            if *took < quota {
                *took += bytes.len();
                sample.push(bytes.as_slice());
            }
        }
        sample
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(n: usize, comment: bool) -> Held {
        (0, BlobId::of(&n.to_le_bytes()), vec![b'x'; n], comment)
    }

    fn composition(t: &Training) -> (usize, usize) {
        let sample = t.sample();
        let comments = t
            .held
            .iter()
            .filter(|h| {
                h.3 && sample
                    .iter()
                    .any(|s| std::ptr::eq(s.as_ptr(), h.2.as_ptr()))
            })
            .map(|h| h.2.len())
            .sum();
        let all: usize = sample.iter().map(|s| s.len()).sum();
        (comments, all - comments)
    }

    /// Issues first and comments later (a GraphQL capture), or side by side (REST): the
    /// sample is half comments either way.
    #[test]
    fn the_sample_mixes_kinds_whatever_order_they_came_in() {
        let record = 4096;
        let half = blob::DICT_TRAINING_BYTES / 2;
        let mut graphql = Training::default();
        while graphql.others < 3 * half {
            graphql.push(held(record, false));
            assert!(!graphql.ready(), "no comments yet");
        }
        while !graphql.ready() {
            graphql.push(held(record, true));
        }
        let mut rest = Training::default();
        while !rest.ready() {
            rest.push(held(record, false));
            rest.push(held(record, true));
        }
        for t in [&graphql, &rest] {
            let (comments, others) = composition(t);
            assert_eq!((comments, others), (half, half));
        }
    }

    /// Few comments: held to the cap, then trained on what is there, the other kind filling
    /// the room the comments leave.
    #[test]
    fn a_short_half_leaves_its_room_to_the_other() {
        let mut t = Training::default();
        t.push(held(100_000, true));
        while !t.ready() {
            t.push(held(4096, false));
        }
        assert!(t.bytes() >= HOLD_MAX_BYTES && t.bytes() < HOLD_MAX_BYTES + 4096);
        let (comments, others) = composition(&t);
        assert_eq!(comments, 100_000);
        assert!(others >= blob::DICT_TRAINING_BYTES - 100_000, "{others}");
        assert!(
            others < blob::DICT_TRAINING_BYTES - 100_000 + 4096,
            "{others}"
        );
    }
}
