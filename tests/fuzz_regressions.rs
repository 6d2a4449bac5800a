//! Inputs the fuzz targets (fuzz/, tools/fuzz.sh) found to crash a parser, fed again to the
//! same entry point: each must now be rejected with an error that names the file and says what
//! was expected, not panic. The inputs are in tests/fixtures/fuzz/<target>/, as found (after
//! `cargo fuzz tmin`); fuzz/README.md tells what each one broke.

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use depthlab::data::idx::{idx_images_from_bytes, idx_labels_from_bytes};
use depthlab::npy::Array;

fn fixture_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz").join(target)
}

/// Feed every input of `target` to `parse` (bytes, and a name to use in errors). `expect` lists
/// each input with a piece of its error message; an input on disk that is not listed (or listed
/// but missing) fails the test, so none is skipped silently.
fn check(target: &str, expect: &[(&str, &str)], parse: impl Fn(&[u8], &str) -> Result<(), String>) {
    let dir = fixture_dir(target);
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let listed: BTreeSet<String> = expect.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(on_disk, listed, "the inputs in {} and the ones this test lists differ", dir.display());
    for (name, want) in expect {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let origin = format!("{target}/{name}");
        let msg = match catch_unwind(AssertUnwindSafe(|| parse(&bytes, &origin))) {
            Err(_) => panic!("{origin}: the parser panicked instead of returning an error"),
            Ok(Ok(())) => panic!("{origin}: accepted; expected an error mentioning {want:?}"),
            Ok(Err(msg)) => msg,
        };
        assert!(msg.contains(&origin), "{origin}: the error does not name the file: {msg}");
        assert!(msg.contains(want), "{origin}: expected an error mentioning {want:?}, got: {msg}");
    }
}

#[test]
fn idx() {
    check(
        "fuzz_idx",
        &[("images-dims-product-overflows", "the header promises 2273806215 x 2273801472 x 2838645")],
        |bytes, origin| {
            // The file name says which reader the input was found with.
            let origin = Path::new(origin);
            let images = origin.file_name().unwrap().to_string_lossy().starts_with("images");
            if images {
                idx_images_from_bytes(bytes, origin).map(drop)
            } else {
                idx_labels_from_bytes(bytes, origin).map(drop)
            }
            .map_err(|e| e.to_string())
        },
    );
}

#[test]
fn npy() {
    let expect = [
        ("descr-size-overflows.npy", "dtype \"<f"),
        ("shape-product-overflows.npy", "shape [861293337707628303, 3] of float64 needs more"),
    ];
    check("fuzz_npy", &expect, |bytes, origin| Array::from_bytes(bytes, origin).map(drop));
}
