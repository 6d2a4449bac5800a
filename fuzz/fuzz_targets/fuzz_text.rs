//! The text reader (plain, and the same bytes gzipped) and the character corpus built on it.
#![no_main]

#[path = "common.rs"]
mod common;

use std::path::Path;

use depthlab::data::text::{text_from_bytes, CharCorpus, TextSplit, Windows};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let origin = Path::new("fuzz.txt");
    let plain = text_from_bytes(data, origin);
    let zipped = text_from_bytes(&common::gz(data), origin);
    match (&plain, &zipped) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(_), Err(_)) => {}
        _ if common::is_gz(data) => {}
        _ => panic!("gzip changes the verdict: {plain:?} / {zipped:?}"),
    }
    let Ok(text) = plain else { return };
    let c = CharCorpus::new(&text);
    let n = text.chars().count();
    assert_eq!(c.train.len() + c.valid.len() + c.test.len(), n);
    assert_eq!(c.decode(&c.train), text.chars().take(c.train.len()).collect::<String>());
    // Window lengths from the input, 0 and lengths past the text included: check_window must
    // reject exactly the sizes that `windows` would panic on.
    let len = data.first().map_or(0, |&b| b as usize % 64);
    for split in [TextSplit::Train, TextSplit::Valid, TextSplit::Test] {
        match c.check_window(split, len) {
            Ok(()) => {
                c.windows(split, len, Windows::Random(4), 1);
                assert!(!c.windows(split, len, Windows::Stride(len), 0).is_empty());
            }
            Err(_) => assert!(len == 0 || c.part(split).len() <= len),
        }
        let bpc = c.unigram_bpc(split);
        assert!(bpc.is_finite() && bpc >= 0.0, "{bpc}");
    }
});
