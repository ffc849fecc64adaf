#![no_main]

#[path = "../checks/owner_keys.rs"]
mod owner_keys;

libfuzzer_sys::fuzz_target!(|data: &[u8]| owner_keys::check(data));
