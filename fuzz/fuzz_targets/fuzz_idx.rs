//! IDX images and labels, from the bytes as given and from those bytes gzipped.
#![no_main]

#[path = "common.rs"]
mod common;

use std::path::Path;

use depthlab::data::idx::{idx_images_from_bytes, idx_labels_from_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let origin = Path::new("fuzz-idx");
    let zipped = common::gz(data);
    for bytes in [data, &zipped[..]] {
        if let Ok((m, rows, cols)) = idx_images_from_bytes(bytes, origin) {
            assert_eq!(m.cols, rows * cols);
            assert_eq!(m.data.len(), m.rows * m.cols);
        }
        let _ = idx_labels_from_bytes(bytes, origin);
    }
});
