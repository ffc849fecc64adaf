#![no_main]

#[path = "../checks/index_line.rs"]
mod index_line;

libfuzzer_sys::fuzz_target!(|data: &[u8]| index_line::check(data));
