#![no_main]

#[path = "../checks/tar_gz.rs"]
mod tar_gz;

libfuzzer_sys::fuzz_target!(|data: &[u8]| tar_gz::check(data));
