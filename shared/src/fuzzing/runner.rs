//! The fuzz targets as property tests on stable: each runs on its regression inputs
//! (`fuzz/regressions/<target>/`: every panic found here or by cargo-fuzz, fixed in the
//! library), its corpus (`fuzz/corpus/<target>/`, real payloads), then inputs mutated from
//! the corpus as a mutation fuzzer makes them, and random bytes; with a fixed seed in CI
//! (`PROPTEST_CASES` and `PROPTEST_RNG_SEED` override).

use std::path::PathBuf;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `fuzz/<kind>/<target>/`, sorted (none if the folder is missing).
fn files(kind: &str, target: &str) -> Vec<Vec<u8>> {
    let Ok(dir) = std::fs::read_dir(fuzz_dir().join(kind).join(target)) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| std::fs::read(p).ok())
        .collect()
}

/// One edit of a byte string, as a mutation-based fuzzer makes them.
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Duplicate(usize, usize),
    Interesting(usize, &'static [u8]),
}

/// Tokens that tend to reach corners of JSON, URL, id and header parsers.
const INTERESTING: &[&[u8]] = &[
    b"\"",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"null",
    b"-1",
    b"1e999",
    b"18446744073709551616",
    b"\"\\ud800\"",
    b"<",
    b">",
    b";",
    b"rel=",
    b"/",
    b"%",
    b"\xff",
    b"\xe2\x80\xae",
    b"\0",
    b"github:",
    b"jira:",
    b"01",
    b"~",
    b"^",
];

fn apply(data: &mut Vec<u8>, edit: &Edit) {
    let at = |i: usize, len: usize| if len == 0 { 0 } else { i % (len + 1) };
    match edit {
        Edit::Flip(i, mask) => {
            if !data.is_empty() {
                let i = i % data.len();
                data[i] ^= mask;
            }
        }
        Edit::Truncate(i) => data.truncate(at(*i, data.len())),
        Edit::Insert(i, bytes) => {
            let i = at(*i, data.len());
            data.splice(i..i, bytes.iter().copied());
        }
        Edit::Delete(i, n) => {
            let i = at(*i, data.len());
            let end = (i + n).min(data.len());
            data.drain(i..end);
        }
        Edit::Duplicate(i, n) => {
            let i = at(*i, data.len());
            let end = (i + n).min(data.len());
            let chunk = data[i..end].to_vec();
            data.splice(end..end, chunk);
        }
        Edit::Interesting(i, token) => {
            let i = at(*i, data.len());
            data.splice(i..i, token.iter().copied());
        }
    }
}

fn edit() -> impl Strategy<Value = Edit> {
    let i = any::<usize>();
    prop_oneof![
        (i, 1..=255u8).prop_map(|(i, m)| Edit::Flip(i, m)),
        i.prop_map(Edit::Truncate),
        (i, prop::collection::vec(any::<u8>(), 1..8)).prop_map(|(i, b)| Edit::Insert(i, b)),
        (i, 1..64usize).prop_map(|(i, n)| Edit::Delete(i, n)),
        (i, 1..64usize).prop_map(|(i, n)| Edit::Duplicate(i, n)),
        (i, prop::sample::select(INTERESTING)).prop_map(|(i, t)| Edit::Interesting(i, t)),
    ]
}

/// Seeds with a few edits each, or random bytes.
fn inputs(seeds: Vec<Vec<u8>>) -> BoxedStrategy<Vec<u8>> {
    let random = prop::collection::vec(any::<u8>(), 0..256);
    if seeds.is_empty() {
        return random.boxed();
    }
    let mutated = (
        prop::sample::select(seeds),
        prop::collection::vec(edit(), 0..6),
    )
        .prop_map(|(mut data, edits)| {
            for e in &edits {
                apply(&mut data, e);
            }
            data
        });
    prop_oneof![4 => mutated, 1 => random].boxed()
}

/// Runs `target` as a property test named `name` over `cases` generated inputs (see the
/// module docs); panics with the shrunk input on a failure.
pub fn run_target(name: &str, target: fn(&[u8]), cases: u32) {
    for (i, input) in files("regressions", name).iter().enumerate() {
        let outcome = std::panic::catch_unwind(|| target(input));
        assert!(
            outcome.is_ok(),
            "fuzz/regressions/{name} case {i} panics again"
        );
    }
    let seeds = files("corpus", name);
    for seed in &seeds {
        target(seed);
    }
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let mut runner = TestRunner::new(Config {
        cases: env("PROPTEST_CASES").map_or(cases, |n| n as u32),
        rng_seed: RngSeed::Fixed(env("PROPTEST_RNG_SEED").unwrap_or(18)),
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&inputs(seeds), |data| {
        target(&data);
        Ok(())
    });
    if let Err(e) = result {
        panic!("fuzz target {name}: {e}");
    }
}
