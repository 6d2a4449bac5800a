//! `Config::parse`: the TOML file, then `--set` overrides. Bytes after the first NUL are the
//! overrides, one a line. A config that parses is written back as a run folder keeps it
//! (`to_toml`) and must read back to the same text.
#![no_main]

use depthlab::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else { return };
    let (text, sets) = match input.split_once('\0') {
        Some((text, rest)) => (text, rest.lines().map(str::to_string).collect()),
        None => (input, Vec::new()),
    };
    let Ok(cfg) = Config::parse(text, "fuzz.toml", &sets) else { return };
    let written = cfg.to_toml();
    let again = match Config::parse(&written, "config.toml", &[]) {
        Ok(c) => c,
        Err(e) => panic!("the written config does not read back: {e}\n{written}"),
    };
    // Compared as text: NaN != NaN would fail a field-by-field comparison of equal configs.
    assert_eq!(again.to_toml(), written, "the written config reads back different");
});
