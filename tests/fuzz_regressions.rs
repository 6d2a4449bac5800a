//! Inputs the fuzz targets (fuzz/, tools/fuzz.sh) found to crash a parser, fed again to the
//! same entry point: each must now be rejected with an error that names the file and says what
//! was expected, not panic. The inputs are in tests/fixtures/fuzz/<target>/, as found (after
//! `cargo fuzz tmin`); fuzz/README.md tells what each one broke.

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use depthlab::config::Config;
use depthlab::data::brown::{brown_from_bytes, BrownOptions};
use depthlab::data::idx::{idx_images_from_bytes, idx_labels_from_bytes};
use depthlab::data::text::text_from_bytes;
use depthlab::grads::weights_from_bytes;
use depthlab::npy::Array;
use depthlab::train::checkpoint::tensors_from_bytes;

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

/// The files in `fuzz/corpus/<target>/`, by name.
fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "{} holds no seeds", dir.display());
    out
}

/// Every seed is a valid input: a fuzzer started from inputs that fail at the first check
/// explores little past that check.
#[test]
fn fuzz_seeds_are_accepted() {
    let ok = |target: &str, name: &str, r: Result<(), String>| {
        if let Err(e) = r {
            panic!("fuzz/corpus/{target}/{name} is rejected: {e}");
        }
    };
    for (name, bytes) in seeds("fuzz_config") {
        // As fuzz/fuzz_targets/fuzz_config.rs reads it: after a NUL, one --set a line.
        let input = String::from_utf8(bytes).unwrap();
        let (text, sets) = match input.split_once('\0') {
            Some((text, rest)) => (text, rest.lines().map(str::to_string).collect()),
            None => (input.as_str(), Vec::new()),
        };
        ok("fuzz_config", &name, Config::parse(text, &name, &sets).map(drop).map_err(|e| e.to_string()));
    }
    for (name, bytes) in seeds("fuzz_idx") {
        let origin = Path::new(&name);
        let r = if name.starts_with("images") {
            idx_images_from_bytes(&bytes, origin).map(drop)
        } else {
            idx_labels_from_bytes(&bytes, origin).map(drop)
        };
        ok("fuzz_idx", &name, r.map_err(|e| e.to_string()));
    }
    for (name, bytes) in seeds("fuzz_safetensors") {
        ok(
            "fuzz_safetensors",
            &name,
            tensors_from_bytes(&bytes, &name).map(drop).or_else(|e| {
                // train refuses integer tensors; grads reads them.
                weights_from_bytes(&bytes, &name).map(drop).map_err(|w| format!("{e} / {w}"))
            }),
        );
    }
    for (name, bytes) in seeds("fuzz_npy") {
        ok("fuzz_npy", &name, Array::from_bytes(&bytes, &name).map(drop));
    }
    for (name, bytes) in seeds("fuzz_brown") {
        let corpus = brown_from_bytes(&bytes, Path::new(&name), &BrownOptions::default());
        let corpus = corpus.unwrap_or_else(|e| panic!("fuzz/corpus/fuzz_brown/{name} is rejected: {e}"));
        assert_eq!((corpus.files.len(), corpus.genres.len()), (5, 3), "{name}");
    }
    for (name, bytes) in seeds("fuzz_text") {
        ok("fuzz_text", &name, text_from_bytes(&bytes, Path::new(&name)).map(drop).map_err(|e| e.to_string()));
    }
}
