//! IDX files (MNIST, Fashion-MNIST): `u8` images `[n, rows, cols]` and `u8` labels `[n]`, plain or
//! gzipped (detected by the gzip magic bytes `1f 8b`, whatever the file is called).
//!
//! The files are looked for in the data folders of [`super::search`] (`--data-dir`, else
//! `$DEPTHLAB_DATA`, else `./data`, `../shared/data` and the user cache).
//!
//! Each of those folders may hold the four MNIST files directly or in a `mnist/` subfolder.

use std::borrow::Cow;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::{DataError, Dataset, Split, Targets};
use crate::tensor::Mat;

/// The IDX magic number of a file of `u8` images `[n, rows, cols]`.
pub const MAGIC_IMAGES_U8: u32 = 0x0000_0803;
/// The IDX magic number of a file of `u8` labels `[n]`.
pub const MAGIC_LABELS_U8: u32 = 0x0000_0801;
pub use super::search::{data_dir, DATA_ENV};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// `raw` itself, or what it decompresses to when it starts with the gzip magic bytes. The
/// output grows only as the stream yields bytes (a gzip trailer's size field is never trusted),
/// so a small file cannot make this reserve more than a few times its own size up front.
pub(crate) fn gunzip_if_gz<'a>(raw: &'a [u8], origin: &Path) -> Result<Cow<'a, [u8]>, DataError> {
    if raw.len() < 2 || raw[..2] != GZIP_MAGIC {
        return Ok(Cow::Borrowed(raw));
    }
    let mut out = Vec::with_capacity(raw.len().saturating_mul(4));
    flate2::read::MultiGzDecoder::new(raw).read_to_end(&mut out).map_err(|e| {
        DataError::format(origin, format!("gzip stream is corrupt or truncated ({} bytes compressed): {e}", raw.len()))
    })?;
    Ok(Cow::Owned(out))
}

fn describe_magic(m: u32) -> String {
    match m {
        MAGIC_IMAGES_U8 => "0x00000803 (u8 images [n, rows, cols])".to_string(),
        MAGIC_LABELS_U8 => "0x00000801 (u8 labels [n])".to_string(),
        _ if m >> 16 == 0 => {
            format!("{m:#010x} (an IDX file of element type {:#04x} with {} dimensions)", (m >> 8) & 0xff, m & 0xff)
        }
        _ => format!("{m:#010x} (not an IDX file)"),
    }
}

/// Check the magic and the header; returns the dimensions and the body, or only its first
/// `items` items (all when None or more than the file has; `bytes` may then stop after them).
fn parse_idx<'a>(
    path: &Path,
    bytes: &'a [u8],
    magic: u32,
    items: Option<usize>,
) -> Result<(Vec<usize>, &'a [u8]), DataError> {
    if bytes.len() < 4 {
        return Err(DataError::format(
            path,
            format!("file is truncated: expected at least 4 bytes (the IDX magic number), found {}", bytes.len()),
        ));
    }
    let found = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if found != magic {
        return Err(DataError::format(
            path,
            format!("wrong magic number: expected {}, found {}", describe_magic(magic), describe_magic(found)),
        ));
    }
    let ndims = (magic & 0xff) as usize;
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(DataError::format(
            path,
            format!(
                "file is truncated: expected a {header}-byte header ({ndims} dimensions), found {} bytes",
                bytes.len()
            ),
        ));
    }
    let dims: Vec<usize> = (0..ndims)
        .map(|d| {
            let o = 4 + 4 * d;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    let body = &bytes[header..];
    // Three u32 sizes can multiply past u64, so the claim is sized in u128 and only trusted
    // (as a usize) once the bytes present are shown to hold it.
    let whole = dims.iter().map(|&d| d as u128).product::<u128>();
    let keep = items.filter(|&k| (k as u128) < dims[0] as u128);
    let expected = match keep {
        Some(k) => dims[1..].iter().map(|&d| d as u128).product::<u128>() * k as u128,
        None => whole,
    };
    let shape = dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(" x ");
    if (body.len() as u128) < expected {
        return Err(DataError::format(
            path,
            format!(
                "file is truncated: the header promises {shape} = {expected} data bytes, found {} ({} bytes in all, expected {})",
                body.len(),
                bytes.len(),
                header as u128 + expected
            ),
        ));
    }
    let expected = expected as usize;
    if let Some(k) = keep {
        let mut dims = dims;
        dims[0] = k;
        return Ok((dims, &body[..expected]));
    }
    if body.len() > expected {
        return Err(DataError::format(
            path,
            format!(
                "file is longer than its header says: {shape} = {expected} data bytes expected, found {} ({} extra)",
                body.len(),
                body.len() - expected
            ),
        ));
    }
    Ok((dims, body))
}

/// Read an IDX file of `u8` images: an `n x (rows*cols)` matrix with pixels scaled to `[0, 1]`,
/// and `rows`, `cols`.
pub fn read_idx_images(path: impl AsRef<Path>) -> Result<(Mat<f32>, usize, usize), DataError> {
    let path = path.as_ref();
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    idx_images_from_bytes(&raw, path)
}

/// [`read_idx_images`] of a file's bytes (plain or gzipped); `origin` names it in errors.
pub fn idx_images_from_bytes(raw: &[u8], origin: &Path) -> Result<(Mat<f32>, usize, usize), DataError> {
    idx_images_prefix(raw, origin, None).map(|(m, r, c, _)| (m, r, c))
}

/// The first `limit` images (all when None) and the number the file holds. A gzipped file is
/// decompressed only as far as they go: a subset of MNIST need not inflate all of it.
fn idx_images_prefix(
    raw: &[u8],
    origin: &Path,
    limit: Option<usize>,
) -> Result<(Mat<f32>, usize, usize, usize), DataError> {
    let bytes = gunzip_prefix(raw, origin, MAGIC_IMAGES_U8, limit)?;
    let (all, _) = header_count(&bytes);
    let (dims, body) = parse_idx(origin, &bytes, MAGIC_IMAGES_U8, limit)?;
    let (n, rows, cols) = (dims[0], dims[1], dims[2]);
    let data = body.iter().map(|&b| b as f32 / 255.0).collect();
    Ok((Mat::from_vec(n, rows * cols, data), rows, cols, all))
}

/// The item count an IDX header claims (its first dimension) and the header's length.
fn header_count(bytes: &[u8]) -> (usize, usize) {
    match bytes.get(4..8) {
        Some(b) => (u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize, 8),
        None => (0, 0),
    }
}

/// `raw`, or its decompression: whole, or (with `limit`) the header and the first `limit`
/// items only. What comes after is then neither inflated nor checked.
fn gunzip_prefix<'a>(
    raw: &'a [u8],
    origin: &Path,
    magic: u32,
    limit: Option<usize>,
) -> Result<Cow<'a, [u8]>, DataError> {
    let Some(limit) = limit.filter(|_| raw.len() >= 2 && raw[..2] == GZIP_MAGIC) else {
        return gunzip_if_gz(raw, origin);
    };
    let corrupt = |e: std::io::Error| {
        DataError::format(origin, format!("gzip stream is corrupt or truncated ({} bytes compressed): {e}", raw.len()))
    };
    let mut gz = flate2::read::MultiGzDecoder::new(raw);
    let header = 4 + 4 * (magic & 0xff) as usize;
    let mut out = Vec::new();
    (&mut gz).take(header as u64).read_to_end(&mut out).map_err(corrupt)?;
    if out.len() < header {
        return Ok(Cow::Owned(out));
    }
    let item: u128 = (1..(magic & 0xff) as usize)
        .map(|d| u32::from_be_bytes([out[4 + 4 * d], out[5 + 4 * d], out[6 + 4 * d], out[7 + 4 * d]]) as u128)
        .product();
    let n = header_count(&out).0;
    if limit >= n {
        // The whole file is wanted, and checked whole (nothing may follow the items).
        gz.read_to_end(&mut out).map_err(corrupt)?;
        return Ok(Cow::Owned(out));
    }
    let want = (item * limit as u128).min(u64::MAX as u128) as u64;
    (&mut gz).take(want).read_to_end(&mut out).map_err(corrupt)?;
    Ok(Cow::Owned(out))
}

/// Read an IDX file of `u8` labels.
pub fn read_idx_labels(path: impl AsRef<Path>) -> Result<Vec<u32>, DataError> {
    let path = path.as_ref();
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    idx_labels_from_bytes(&raw, path)
}

/// [`read_idx_labels`] of a file's bytes (plain or gzipped); `origin` names it in errors.
pub fn idx_labels_from_bytes(raw: &[u8], origin: &Path) -> Result<Vec<u32>, DataError> {
    idx_labels_prefix(raw, origin, None).map(|(l, _)| l)
}

/// The first `limit` labels (all when None) and the number the file holds.
fn idx_labels_prefix(raw: &[u8], origin: &Path, limit: Option<usize>) -> Result<(Vec<u32>, usize), DataError> {
    let bytes = gunzip_prefix(raw, origin, MAGIC_LABELS_U8, limit)?;
    let (all, _) = header_count(&bytes);
    let (_, body) = parse_idx(origin, &bytes, MAGIC_LABELS_U8, limit)?;
    Ok((body.iter().map(|&b| b as u32).collect(), all))
}

/// The names one IDX file goes by: `train-images-idx3-ubyte`, `train-images.idx3-ubyte`, each
/// plain or `.gz`.
pub(crate) fn spellings(stem: &str, kind: &str) -> [String; 4] {
    [format!("{stem}-{kind}"), format!("{stem}-{kind}.gz"), format!("{stem}.{kind}"), format!("{stem}.{kind}.gz")]
}

/// The first existing spelling of `stem`/`kind` in `dir` or `dir/mnist`; else every path tried.
pub(crate) fn find_file(dir: &Path, stem: &str, kind: &str) -> Result<PathBuf, Vec<PathBuf>> {
    let mut tried = Vec::new();
    for d in [dir.to_path_buf(), dir.join("mnist")] {
        for name in spellings(stem, kind) {
            let p = d.join(name);
            if p.is_file() {
                return Ok(p);
            }
            tried.push(p);
        }
    }
    Err(tried)
}

fn how_to_provide() -> String {
    format!(
        "`depthlab data fetch mnist` downloads it; or set --data-dir or {DATA_ENV} to a folder holding the four \
         MNIST IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, \
         t10k-labels-idx1-ubyte; the spellings with a dot before idx, and gzipped .gz files, are accepted), or to a \
         folder with them in mnist/"
    )
}

/// Read one images + labels pair (the first `limit` of each) and check they agree.
fn load_pair(
    dir: &Path,
    images: &str,
    labels: &str,
    limit: Option<usize>,
) -> Result<(Dataset, usize, usize), DataError> {
    let find = |stem: &str, kind: &str| {
        find_file(dir, stem, kind).map_err(|tried| DataError::NotFound {
            looked_in: tried,
            hint: format!("MNIST file {stem}-{kind} not found in {}; {}", dir.display(), how_to_provide()),
        })
    };
    let img_path = find(images, "idx3-ubyte")?;
    let lab_path = find(labels, "idx1-ubyte")?;
    let read = |p: &Path| std::fs::read(p).map_err(|e| DataError::io(p, e));
    let (x, rows, cols, n_images) = idx_images_prefix(&read(&img_path)?, &img_path, limit)?;
    let (y, n_labels) = idx_labels_prefix(&read(&lab_path)?, &lab_path, limit)?;
    if n_images != n_labels {
        return Err(DataError::format(
            &lab_path,
            format!("holds {n_labels} labels but {} holds {n_images} images", img_path.display()),
        ));
    }
    if let Some((i, &l)) = y.iter().enumerate().find(|(_, &l)| l >= 10) {
        return Err(DataError::format(&lab_path, format!("label {l} at index {i} is not a digit 0..9")));
    }
    Ok((Dataset::new(x, Targets::Classes { labels: y, n_classes: 10 }), rows, cols))
}

/// Load MNIST (or Fashion-MNIST, same names) from `dir` or `dir/mnist`: inputs `n x 784` in
/// `[0, 1]`, 10 classes.
pub fn load_mnist(dir: &Path) -> Result<Split, DataError> {
    load_mnist_subset(dir, None, None)
}

/// As `load_mnist`, keeping only the first `train` training and `test` test examples (and
/// reading no further into the files).
pub fn load_mnist_subset(dir: &Path, train: Option<usize>, test: Option<usize>) -> Result<Split, DataError> {
    let (train, r, c) = load_pair(dir, "train-images", "train-labels", train)?;
    let (test, tr, tc) = load_pair(dir, "t10k-images", "t10k-labels", test)?;
    if (r, c) != (tr, tc) {
        let p = find_file(dir, "t10k-images", "idx3-ubyte").unwrap_or_else(|_| dir.join("t10k-images-idx3-ubyte"));
        return Err(DataError::format(p, format!("test images are {tr}x{tc} but training images are {r}x{c}")));
    }
    Ok(Split { train, test })
}

/// Load MNIST from the first of [`data_dir`]`(cli_dir)` that holds it. A file that is found but
/// broken is reported at once; if none is found, the error lists every path tried and says how
/// to provide the data.
pub fn load_mnist_from(cli_dir: Option<&Path>) -> Result<Split, DataError> {
    load_mnist_subset_from(cli_dir, None, None)
}

/// `load_mnist_from` with `load_mnist_subset`'s limits.
pub fn load_mnist_subset_from(
    cli_dir: Option<&Path>,
    train: Option<usize>,
    test: Option<usize>,
) -> Result<Split, DataError> {
    load_mnist_in(&data_dir(cli_dir), train, test)
}

fn load_mnist_in(dirs: &[PathBuf], train: Option<usize>, test: Option<usize>) -> Result<Split, DataError> {
    let mut looked_in = Vec::new();
    for d in dirs {
        match load_mnist_subset(d, train, test) {
            Ok(s) => return Ok(s),
            Err(DataError::NotFound { looked_in: tried, .. }) => looked_in.extend(tried),
            Err(e) => return Err(e),
        }
    }
    let places = dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ");
    Err(DataError::NotFound { looked_in, hint: format!("MNIST not found in {places}; {}", how_to_provide()) })
}

/// Where Fashion-MNIST is looked for, given the data folders: their `fashion-mnist/` and
/// `fashion_mnist/` subfolders, then Debian's package's folder.
pub(crate) fn fashion_mnist_dirs(data_dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        data_dirs.iter().flat_map(|d| [d.join("fashion-mnist"), d.join("fashion_mnist")]).collect();
    dirs.push(PathBuf::from(DEBIAN_FASHION_MNIST));
    dirs
}

/// Where Debian's package dataset-fashion-mnist puts the files.
pub const DEBIAN_FASHION_MNIST: &str = "/usr/share/datasets/fashion-mnist";

/// Load Fashion-MNIST (same IDX format): from `<dir>/fashion-mnist` or `<dir>/fashion_mnist` of
/// each data folder, then from Debian's `dataset-fashion-mnist` package
/// (/usr/share/datasets/fashion-mnist).
pub fn load_fashion_mnist_from(cli_dir: Option<&Path>) -> Result<Split, DataError> {
    let mut looked_in = Vec::new();
    for d in &fashion_mnist_dirs(&data_dir(cli_dir)) {
        match load_mnist(d) {
            Ok(s) => return Ok(s),
            Err(DataError::NotFound { looked_in: tried, .. }) => looked_in.extend(tried),
            Err(e) => return Err(e),
        }
    }
    Err(DataError::NotFound {
        looked_in,
        hint: "Fashion-MNIST not found; `depthlab data fetch fashion-mnist` downloads it (or `apt-get install \
               dataset-fashion-mnist`); or put its four IDX files (optionally gzipped) in <data dir>/fashion-mnist and \
               pass --data-dir or set DEPTHLAB_DATA"
            .into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn idx_bytes(magic: u32, dims: &[u32], body: &[u8]) -> Vec<u8> {
        let mut v = magic.to_be_bytes().to_vec();
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(body);
        v
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn images(n: u32) -> Vec<u8> {
        let body: Vec<u8> = (0..n * 6).map(|i| (i * 37 % 256) as u8).collect();
        idx_bytes(MAGIC_IMAGES_U8, &[n, 2, 3], &body)
    }

    fn labels(n: u32) -> Vec<u8> {
        let body: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        idx_bytes(MAGIC_LABELS_U8, &[n], &body)
    }

    fn err_string<T: std::fmt::Debug>(r: Result<T, DataError>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn a_subset_reads_no_further_than_it_needs() {
        let p = Path::new("img.gz");
        let whole = gz(&images(10));
        let (all, ..) = idx_images_from_bytes(&whole, p).unwrap();
        for raw in [whole.clone(), images(10)] {
            let (first, rows, cols, n) = idx_images_prefix(&raw, p, Some(3)).unwrap();
            assert_eq!((first.rows, rows, cols, n), (3, 2, 3, 10));
            assert_eq!(first.data, all.data[..3 * 6]);
            let (l, n) = idx_labels_prefix(&labels(10), p, Some(4)).unwrap();
            assert_eq!((l, n), (vec![0, 1, 2, 3], 10));
        }
        // A stream cut after 5 images serves the first 3, and fails a whole read, as it must.
        let mut cut = images(10);
        cut.truncate(16 + 5 * 6);
        let cut = gz(&cut);
        assert_eq!(idx_images_prefix(&cut, p, Some(3)).unwrap().0.rows, 3);
        assert!(err_string(idx_images_prefix(&cut, p, Some(8))).contains("truncated"));
        assert!(err_string(idx_images_from_bytes(&cut, p)).contains("truncated"));
        // A limit past the end reads (and checks) the whole file.
        assert_eq!(idx_images_prefix(&whole, p, Some(99)).unwrap().0.rows, 10);
    }

    #[test]
    fn reads_plain_and_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("img");
        std::fs::write(&plain, images(4)).unwrap();
        // gzip is detected by its magic bytes, not by the name
        let zipped = dir.path().join("img-no-gz-suffix");
        std::fs::write(&zipped, gz(&images(4))).unwrap();
        for p in [&plain, &zipped] {
            let (m, r, c) = read_idx_images(p).unwrap();
            assert_eq!((m.rows, m.cols, r, c), (4, 6, 2, 3));
            assert_eq!(m.at(0, 1), 37.0 / 255.0);
            assert!(m.data.iter().all(|&v| (0.0..=1.0).contains(&v)));
        }
        let lp = dir.path().join("lab.gz");
        std::fs::write(&lp, gz(&labels(4))).unwrap();
        assert_eq!(read_idx_labels(&lp).unwrap(), vec![0, 1, 2, 3]);
    }

    #[test]
    fn wrong_magic_names_both_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("swapped-labels");
        std::fs::write(&p, labels(3)).unwrap();
        let s = err_string(read_idx_images(&p));
        assert!(s.contains("swapped-labels"), "{s}");
        assert!(s.contains("expected 0x00000803") && s.contains("found 0x00000801"), "{s}");
        std::fs::write(&p, b"<html>").unwrap();
        let s = err_string(read_idx_labels(&p));
        assert!(s.contains("not an IDX file") && s.contains("swapped-labels"), "{s}");
    }

    #[test]
    fn truncated_says_expected_and_found() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("short-images");
        let mut b = images(4);
        b.truncate(b.len() - 5);
        std::fs::write(&p, &b).unwrap();
        let s = err_string(read_idx_images(&p));
        assert!(s.contains("short-images") && s.contains("truncated"), "{s}");
        assert!(s.contains("24 data bytes") && s.contains("found 19"), "{s}");
        // header cut
        std::fs::write(&p, &images(4)[..9]).unwrap();
        let s = err_string(read_idx_images(&p));
        assert!(s.contains("16-byte header") && s.contains("found 9"), "{s}");
        // a truncated gzip stream
        let z = gz(&images(4));
        std::fs::write(&p, &z[..z.len() / 2]).unwrap();
        let s = err_string(read_idx_images(&p));
        assert!(s.contains("short-images") && s.contains("gzip"), "{s}");
    }

    fn write_mnist(dir: &Path, dash: bool, zipped: bool, n_train: u32, n_train_labels: u32) {
        std::fs::create_dir_all(dir).unwrap();
        let put = |stem: &str, kind: &str, bytes: Vec<u8>| {
            let mut name = if dash { format!("{stem}-{kind}") } else { format!("{stem}.{kind}") };
            let bytes = if zipped {
                name.push_str(".gz");
                gz(&bytes)
            } else {
                bytes
            };
            std::fs::write(dir.join(name), bytes).unwrap();
        };
        put("train-images", "idx3-ubyte", images(n_train));
        put("train-labels", "idx1-ubyte", labels(n_train_labels));
        put("t10k-images", "idx3-ubyte", images(3));
        put("t10k-labels", "idx1-ubyte", labels(3));
    }

    #[test]
    fn load_mnist_all_spellings() {
        for (dash, zipped) in [(true, false), (true, true), (false, false), (false, true)] {
            let dir = tempfile::tempdir().unwrap();
            write_mnist(dir.path(), dash, zipped, 5, 5);
            let s = load_mnist(dir.path()).unwrap();
            assert_eq!((s.train.len(), s.test.len(), s.train.in_dim()), (5, 3, 6));
            assert_eq!(s.train.y, Targets::Classes { labels: vec![0, 1, 2, 3, 4], n_classes: 10 });
        }
        // in a mnist/ subfolder, found from the parent and through the search list
        let dir = tempfile::tempdir().unwrap();
        write_mnist(&dir.path().join("mnist"), false, true, 5, 5);
        assert_eq!(load_mnist(dir.path()).unwrap().train.len(), 5);
        let missing = dir.path().join("nothing-here");
        let s = load_mnist_in(&[missing, dir.path().to_path_buf()], None, None).unwrap();
        assert_eq!(s.test.len(), 3);
    }

    #[test]
    fn count_mismatch_names_both_files() {
        let dir = tempfile::tempdir().unwrap();
        write_mnist(dir.path(), true, false, 5, 4);
        let s = err_string(load_mnist(dir.path()));
        assert!(s.contains("train-labels-idx1-ubyte") && s.contains("train-images-idx3-ubyte"), "{s}");
        assert!(s.contains("4 labels") && s.contains("5 images"), "{s}");
    }

    #[test]
    fn missing_file_lists_every_path_tried() {
        let dir = tempfile::tempdir().unwrap();
        write_mnist(dir.path(), true, false, 5, 5);
        std::fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte")).unwrap();
        let e = load_mnist(dir.path()).unwrap_err();
        let DataError::NotFound { looked_in, .. } = &e else { panic!("{e}") };
        assert_eq!(looked_in.len(), 8);
        let s = e.to_string();
        for name in ["t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz"] {
            assert!(s.contains(name), "{name} not in {s}");
        }
        assert!(s.contains(DATA_ENV) && s.contains("--data-dir"), "{s}");

        let a = dir.path().join("a");
        let b = dir.path().join("b");
        let e = load_mnist_in(&[a.clone(), b.clone()], None, None).unwrap_err();
        let s = e.to_string();
        assert!(s.contains(&*a.to_string_lossy()) && s.contains(&*b.to_string_lossy()), "{s}");
        let DataError::NotFound { looked_in, .. } = &e else { panic!("{e}") };
        assert_eq!(looked_in.len(), 16);
    }

    #[test]
    fn broken_file_is_not_masked_by_later_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad");
        write_mnist(&bad, true, false, 5, 5);
        std::fs::write(bad.join("train-images-idx3-ubyte"), labels(5)).unwrap();
        let good = dir.path().join("good");
        write_mnist(&good, true, false, 5, 5);
        let s = err_string(load_mnist_in(&[bad, good], None, None));
        assert!(s.contains("wrong magic") && s.contains("train-images-idx3-ubyte"), "{s}");
    }

    #[test]
    fn real_mnist() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist");
        if !dir.is_dir() {
            println!("skipping real_mnist: {} does not exist", dir.display());
            return;
        }
        let s = load_mnist(&dir).unwrap();
        assert_eq!((s.train.len(), s.test.len(), s.train.in_dim()), (60000, 10000, 784));
        let Targets::Classes { labels, n_classes: 10 } = &s.train.y else { panic!() };
        assert_eq!(&labels[..5], &[5, 0, 4, 1, 9]);
        let mut counts = [0usize; 10];
        for &l in labels {
            counts[l as usize] += 1;
        }
        assert_eq!(counts, [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
        let max = s.train.x.data.iter().cloned().fold(0.0f32, f32::max);
        assert_eq!(max, 1.0);
    }
}
