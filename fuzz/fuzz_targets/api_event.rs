#![no_main]
// See backtrack_lambda::fuzzing::api_event.
libfuzzer_sys::fuzz_target!(|data: &[u8]| backtrack_lambda::fuzzing::api_event(data));
