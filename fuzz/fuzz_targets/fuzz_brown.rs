//! The Brown corpus reader: a tar (plain, and the same bytes gzipped) of `word/tag` files and
//! cats.txt. A corpus that loads is turned into every data set the crate makes of it.
#![no_main]

#[path = "common.rs"]
mod common;

use std::path::Path;

use depthlab::data::brown::{brown_from_bytes, BrownOptions, BrownSplit, GenreTarget, TagSet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let origin = Path::new("fuzz-brown.tar");
    let opts = BrownOptions::default();
    let plain = brown_from_bytes(data, origin, &opts);
    let zipped = brown_from_bytes(&common::gz(data), origin, &opts);
    if !common::is_gz(data) {
        assert_eq!(plain.is_ok(), zipped.is_ok(), "gzip changes the verdict: {plain:?} / {zipped:?}");
    }
    let Ok(corpus) = plain else { return };
    for split in [BrownSplit::Train, BrownSplit::Dev, BrownSplit::Test] {
        corpus.split_sizes(split);
        for tags in [TagSet::Full, TagSet::Base] {
            corpus.to_dataset(split, tags);
            let acc = corpus.most_frequent_tag_baseline(split, tags);
            let _ = (acc.accuracy(), acc.known_accuracy(), acc.unknown_accuracy(), acc.unknown_rate());
        }
        corpus.to_genre_dataset(split, GenreTarget::Last);
        corpus.to_genre_dataset(split, GenreTarget::Each);
    }
    corpus.seq_split(TagSet::Base, BrownSplit::Dev);
});
