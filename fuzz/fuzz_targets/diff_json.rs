#![no_main]
// See backtrack::fuzzing::diff_json: no panic, and round trips where a printer exists.
libfuzzer_sys::fuzz_target!(|data: &[u8]| backtrack::fuzzing::diff_json(data));
