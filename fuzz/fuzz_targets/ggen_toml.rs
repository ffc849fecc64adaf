#![no_main]

#[path = "../checks/ggen_toml.rs"]
mod ggen_toml;

libfuzzer_sys::fuzz_target!(|data: &[u8]| ggen_toml::check(data));
