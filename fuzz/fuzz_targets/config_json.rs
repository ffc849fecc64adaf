#![no_main]

#[path = "../checks/config_json.rs"]
mod config_json;

libfuzzer_sys::fuzz_target!(|data: &[u8]| config_json::check(data));
