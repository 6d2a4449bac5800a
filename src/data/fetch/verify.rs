//! Is a file the published one? The SHA-256 of its content, gunzipped when it is gzip (detected
//! by the magic bytes, as the reader does), or of a corpus archive's manifest, against the
//! catalog's.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::catalog::Check;
use super::{unpack, FetchError};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// What a file on disk turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Good,
    /// Readable but not the published file; the message gives expected and found.
    Bad(String),
}

/// Hex SHA-256 of the (uncompressed) content, or why the content cannot be read as what it
/// claims to be (a broken gzip stream). `Err` only for trouble reading the file itself.
fn content_sha256(path: &Path) -> Result<Result<String, String>, FetchError> {
    // Read whole: the files are at most tens of MB, and a decoding error can then only mean
    // bad data, never a disk that failed half-way.
    let raw = std::fs::read(path).map_err(|e| FetchError::io("read", path, e))?;
    let mut hasher = Sha256::new();
    if raw.starts_with(&GZIP_MAGIC) {
        let mut gz = flate2::read::MultiGzDecoder::new(&raw[..]);
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match gz.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => hasher.update(&buf[..n]),
                Err(e) => return Ok(Err(format!("not a valid gzip file ({} bytes): {e}", raw.len()))),
            }
        }
    } else {
        hasher.update(&raw);
    }
    Ok(Ok(hex(&hasher.finalize())))
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A corpus archive's manifest: `sha256sum`'s line (`HASH  NAME`) for `cats.txt` and each corpus
/// file, sorted by name, as `sha256sum cats.txt c[a-r][0-9][0-9]` prints it in the extracted folder
/// with `LC_ALL=C`; then the SHA-256 of those lines. `Err` when the bytes are not such an archive.
pub fn corpus_manifest_sha256(raw: &[u8]) -> Result<String, String> {
    let mut members = unpack::corpus_members(raw)?;
    members.sort_by(|a, b| a.name().as_bytes().cmp(b.name().as_bytes()));
    let manifest: String =
        members.iter().map(|m| format!("{}  {}\n", hex(&Sha256::digest(&m.bytes)), m.name())).collect();
    Ok(hex(&Sha256::digest(manifest.as_bytes())))
}

/// Check `path` against the catalog's sum for it.
pub fn verify(path: &Path, check: Check) -> Result<Verdict, FetchError> {
    let (found, what) = match check {
        Check::Content(_) => (content_sha256(path)?, "its uncompressed content"),
        Check::Corpus(_) => {
            let raw = std::fs::read(path).map_err(|e| FetchError::io("read", path, e))?;
            (corpus_manifest_sha256(&raw), "its corpus files' manifest")
        }
    };
    let expected = check.sha256();
    Ok(match found {
        Ok(found) if found == expected => Verdict::Good,
        Ok(found) => Verdict::Bad(format!("the SHA-256 of {what} is {found}, expected {expected}")),
        Err(why) => Verdict::Bad(why),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    // SHA-256 of "abc" (FIPS 180-2, appendix B.1).
    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn plain_and_gzip_give_the_content_hash() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, b"abc").unwrap();
        assert_eq!(verify(&plain, Check::Content(ABC)).unwrap(), Verdict::Good);
        let zipped = dir.path().join("zipped.gz");
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b"abc").unwrap();
        std::fs::write(&zipped, e.finish().unwrap()).unwrap();
        assert_eq!(verify(&zipped, Check::Content(ABC)).unwrap(), Verdict::Good);

        std::fs::write(&plain, b"abd").unwrap();
        let Verdict::Bad(why) = verify(&plain, Check::Content(ABC)).unwrap() else { panic!("abd passed as abc") };
        // SHA-256 of "abd", from sha256sum
        let abd = "a52d159f262b2c6ddb724a61840befc36eb30c88877a4030b65cbe86298449c9";
        assert!(why.contains(&format!("is {abd}, expected {ABC}")), "{why}");
    }

    #[test]
    fn broken_gzip_is_bad_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cut.gz");
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&[7u8; 5000]).unwrap();
        let z = e.finish().unwrap();
        std::fs::write(&p, &z[..z.len() - 6]).unwrap();
        let Verdict::Bad(why) = verify(&p, Check::Content(ABC)).unwrap() else { panic!("a cut gzip passed") };
        assert!(why.contains("not a valid gzip file"), "{why}");
        assert!(matches!(verify(&dir.path().join("absent"), Check::Content(ABC)), Err(FetchError::Io { .. })));
    }

    #[test]
    fn a_corpus_is_checked_by_its_members_whatever_the_container() {
        use std::io::Cursor;
        let files: [(&str, &[u8]); 3] = [("cats.txt", b"abc"), ("ca01", b"abd"), ("README", b"ignored")];
        // `sha256sum cats.txt ca01 | sort -k2 | sha256sum` of the two files written out.
        const EXPECTED: &str = "49116c0174ec98460e987a56751349612c2e750bca46afc72d5f80035751ecbb";

        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (n, b) in files {
            zip.start_file(format!("brown/{n}"), zip::write::SimpleFileOptions::default()).unwrap();
            zip.write_all(b).unwrap();
        }
        let zip = zip.finish().unwrap().into_inner();
        let mut tar = tar::Builder::new(Vec::new());
        for (n, b) in files.iter().rev() {
            let mut h = tar::Header::new_gnu();
            h.set_size(b.len() as u64);
            h.set_cksum();
            tar.append_data(&mut h, format!("package/{n}"), *b).unwrap();
        }
        let tar = tar.into_inner().unwrap();
        assert_eq!(corpus_manifest_sha256(&zip).unwrap(), EXPECTED);
        assert_eq!(corpus_manifest_sha256(&tar).unwrap(), EXPECTED);

        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("brown.zip");
        std::fs::write(&p, &zip).unwrap();
        assert_eq!(verify(&p, Check::Corpus(EXPECTED)).unwrap(), Verdict::Good);
        let Verdict::Bad(why) = verify(&p, Check::Corpus(ABC)).unwrap() else { panic!("a wrong manifest passed") };
        assert!(why.contains("corpus files' manifest") && why.contains(&format!("expected {ABC}")), "{why}");
        std::fs::write(&p, b"not an archive").unwrap();
        let Verdict::Bad(why) = verify(&p, Check::Corpus(ABC)).unwrap() else { panic!() };
        assert!(why.contains("not a zip"), "{why}");
    }
}
