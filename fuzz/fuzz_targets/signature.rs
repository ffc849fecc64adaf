#![no_main]

#[path = "../checks/signature.rs"]
mod signature;

libfuzzer_sys::fuzz_target!(|data: &[u8]| signature::check(data));
