//! `.npy` arrays; one that reads is written again and must read back to the same bytes.
#![no_main]

use depthlab::npy::Array;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(a) = Array::from_bytes(data, "fuzz.npy") else { return };
    let written = a.to_bytes();
    let b = Array::from_bytes(&written, "written.npy").expect("a written array reads back");
    // Compared as bytes: NaN != NaN would fail the comparison of equal arrays.
    assert_eq!(b.to_bytes(), written);
});
