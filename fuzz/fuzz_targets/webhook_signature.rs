#![no_main]
// See backtrack_lambda::fuzzing::webhook_signature.
libfuzzer_sys::fuzz_target!(|data: &[u8]| backtrack_lambda::fuzzing::webhook_signature(data));
