//! IDX images and labels, from the bytes as given and from those bytes gzipped.
#![no_main]

#[path = "common.rs"]
mod common;

use std::path::Path;

use depthlab::data::idx::{idx_images_from_bytes, idx_labels_from_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let origin = Path::new("fuzz-idx");
    let images = idx_images_from_bytes(data, origin);
    if let Ok((m, rows, cols)) = &images {
        assert_eq!(m.cols, rows * cols);
        assert_eq!(m.data.len(), m.rows * m.cols);
    }
    let labels = idx_labels_from_bytes(data, origin);
    let zipped = common::gz(data);
    let images_gz = idx_images_from_bytes(&zipped, origin);
    let labels_gz = idx_labels_from_bytes(&zipped, origin);
    if !common::is_gz(data) {
        assert_eq!(images.is_ok(), images_gz.is_ok(), "gzip changes the verdict on images");
        assert_eq!(labels.is_ok(), labels_gz.is_ok(), "gzip changes the verdict on labels");
    }
});
