#![no_main]

#[path = "../checks/ggen_lock.rs"]
mod ggen_lock;

libfuzzer_sys::fuzz_target!(|data: &[u8]| ggen_lock::check(data));
