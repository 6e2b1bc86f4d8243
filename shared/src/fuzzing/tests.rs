//! The targets as stable property tests (see [`super::run_target`]).

use super::{run_target, TARGETS};

macro_rules! targets {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            let target = TARGETS
                .iter()
                .find(|(n, _)| *n == stringify!($name))
                .map(|(_, f)| *f)
                .unwrap_or_else(|| panic!("no target {}", stringify!($name)));
            run_target(stringify!($name), target, 2_000);
        }
    )*};
}

targets!(
    manifest,
    blob,
    entry_table,
    diff_json,
    webhook_payload,
    link_header,
    reference,
    scope,
    archive,
);

#[test]
fn every_target_has_a_test_and_a_corpus() {
    assert_eq!(TARGETS.len(), 9, "a new target needs its test above");
    for (name, _) in TARGETS {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus")
            .join(name);
        let seeds = std::fs::read_dir(&dir).map_or(0, Iterator::count);
        assert!(
            seeds > 0,
            "fuzz/corpus/{name} is empty: seed it (fuzz/seed-corpus)"
        );
    }
}
