//! Is a file the published one? The SHA-256 of its content, gunzipped when it is gzip (detected
//! by the magic bytes, as the reader does), against the catalog's.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::FetchError;

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
    Ok(Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()))
}

/// Check `path` against the expected SHA-256 of its uncompressed content.
pub fn verify(path: &Path, expected: &str) -> Result<Verdict, FetchError> {
    Ok(match content_sha256(path)? {
        Ok(found) if found == expected => Verdict::Good,
        Ok(found) => Verdict::Bad(format!("the SHA-256 of its uncompressed content is {found}, expected {expected}")),
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
        assert_eq!(verify(&plain, ABC).unwrap(), Verdict::Good);
        let zipped = dir.path().join("zipped.gz");
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b"abc").unwrap();
        std::fs::write(&zipped, e.finish().unwrap()).unwrap();
        assert_eq!(verify(&zipped, ABC).unwrap(), Verdict::Good);

        std::fs::write(&plain, b"abd").unwrap();
        let Verdict::Bad(why) = verify(&plain, ABC).unwrap() else { panic!("abd passed as abc") };
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
        let Verdict::Bad(why) = verify(&p, ABC).unwrap() else { panic!("a cut gzip passed") };
        assert!(why.contains("not a valid gzip file"), "{why}");
        assert!(matches!(verify(&dir.path().join("absent"), ABC), Err(FetchError::Io { .. })));
    }
}
