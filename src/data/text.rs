//! Character-level language modelling: a text (plain or gzipped UTF-8) cut by position into
//! training, validation and test parts, a character vocabulary from the training part, and
//! windows of tokens whose targets are the next characters.
//!
//! The default text is Jane Austen's six novels, `<data dir>/text/austen.txt.gz` (about 4.0 MB),
//! found with the same rules as MNIST ([`super::search`]: `--data-dir`, then `$DEPTHLAB_DATA`,
//! then `./data`, `../shared/data` and the user cache).

use std::f64::consts::LN_2;
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::idx::{data_dir, gunzip_if_gz};
use super::seq::{SeqDataset, SeqInputs, SeqTargets};
use super::DataError;

/// The default text, relative to a data folder.
pub const DEFAULT_TEXT: &str = "text/austen.txt.gz";

/// Bits per character from a mean cross-entropy in nats per character: `mean_nats / ln 2`.
pub fn bpc(mean_nats: f64) -> f64 {
    mean_nats / LN_2
}

/// A whole text file as a `String`: gunzipped when it starts with the gzip magic bytes
/// (`1f 8b`, whatever its name), then decoded as UTF-8. A file that is not UTF-8 is an error
/// naming the byte offset of the first bad sequence.
pub fn load_text(path: impl AsRef<Path>) -> Result<String, DataError> {
    let path = path.as_ref();
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    text_from_bytes(&raw, path)
}

/// [`load_text`] of a file's bytes (plain or gzipped); `origin` names it in errors.
pub fn text_from_bytes(raw: &[u8], origin: &Path) -> Result<String, DataError> {
    let bytes = gunzip_if_gz(raw, origin)?;
    match std::str::from_utf8(&bytes) {
        Ok(text) => Ok(text.to_owned()),
        Err(e) => Err(DataError::format(
            origin,
            format!("not UTF-8 text: invalid byte sequence at byte offset {}", e.valid_up_to()),
        )),
    }
}

/// Where the default text would be: `<dir>/`[`DEFAULT_TEXT`] for the first data folder of
/// [`data_dir`]`(cli_dir)` that holds it; `NotFound` listing every path tried otherwise.
pub fn default_text_path(cli_dir: Option<&Path>) -> Result<PathBuf, DataError> {
    let tried: Vec<PathBuf> = data_dir(cli_dir).into_iter().map(|d| d.join(DEFAULT_TEXT)).collect();
    match tried.iter().find(|p| p.is_file()) {
        Some(p) => Ok(p.clone()),
        None => Err(DataError::NotFound {
            looked_in: tried,
            hint: format!(
                "the default text ({DEFAULT_TEXT}, Jane Austen's novels) was not found; `depthlab data fetch \
                 austen` downloads it; or put a UTF-8 text file (optionally gzipped) at <data dir>/{DEFAULT_TEXT} and \
                 pass --data-dir or set DEPTHLAB_DATA"
            ),
        }),
    }
}

/// [`load_text`] of [`default_text_path`]`(cli_dir)`.
pub fn load_default_text(cli_dir: Option<&Path>) -> Result<String, DataError> {
    load_text(default_text_path(cli_dir)?)
}

/// One of the three parts of a [`CharCorpus`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TextSplit {
    Train,
    Valid,
    Test,
}

/// How [`CharCorpus::windows`] places its windows in a part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Windows {
    /// Windows starting at `0, s, 2s, ...` (all that fit), in order; `Stride(len)` tiles the
    /// part without overlap (the usual evaluation). The seed is not used.
    Stride(usize),
    /// `n` windows at start positions drawn uniformly (with replacement) from the seed.
    Random(usize),
}

/// The character corpus: a text cut by position into training (first 90% of its characters),
/// validation (next 5%) and test (last 5%) parts, each a sequence of character ids.
///
/// The vocabulary holds id 0, [`CharCorpus::UNK`], for any character not seen in the training
/// part, then every character of the training part in code-point order. A validation or test
/// character outside it is coded 0 (and is a target of class 0 like any other).
#[derive(Clone, Debug)]
pub struct CharCorpus {
    /// The character of each id; `chars[0]` is [`CharCorpus::UNK_CHAR`] standing for unknowns.
    pub chars: Vec<char>,
    pub train: Vec<u32>,
    pub valid: Vec<u32>,
    pub test: Vec<u32>,
}

impl CharCorpus {
    /// The id of unknown characters.
    pub const UNK: u32 = 0;
    /// How the unknown id prints.
    pub const UNK_CHAR: char = '\u{FFFD}';
    /// Share of characters in the training part.
    pub const TRAIN_FRAC: f64 = 0.90;
    /// Share of characters in the validation part (the test part is the rest, 5%).
    pub const VALID_FRAC: f64 = 0.05;

    /// Cut `text` 90/5/5 by character position (`train = [0, floor(0.9 n))`,
    /// `valid = [floor(0.9 n), floor(0.95 n))`, `test` the rest) and build the vocabulary from
    /// the training part.
    pub fn new(text: &str) -> Self {
        let chars: Vec<char> = text.chars().collect();
        let n = chars.len();
        let a = (n as f64 * Self::TRAIN_FRAC).floor() as usize;
        let b = (n as f64 * (Self::TRAIN_FRAC + Self::VALID_FRAC)).floor() as usize;
        let mut vocab: Vec<char> = chars[..a].to_vec();
        vocab.sort_unstable();
        vocab.dedup();
        let mut all = Vec::with_capacity(vocab.len() + 1);
        all.push(Self::UNK_CHAR);
        all.extend(vocab);
        let mut corpus = CharCorpus { chars: all, train: Vec::new(), valid: Vec::new(), test: Vec::new() };
        corpus.train = corpus.encode_chars(&chars[..a]);
        corpus.valid = corpus.encode_chars(&chars[a..b]);
        corpus.test = corpus.encode_chars(&chars[b..]);
        corpus
    }

    /// Vocabulary size (the unknown id included): the number of input tokens and of classes.
    pub fn vocab(&self) -> usize {
        self.chars.len()
    }

    /// The id of `c` ([`CharCorpus::UNK`] when it is not in the vocabulary).
    pub fn id(&self, c: char) -> u32 {
        // chars[1..] is sorted
        match self.chars[1..].binary_search(&c) {
            Ok(i) => i as u32 + 1,
            Err(_) => Self::UNK,
        }
    }

    fn encode_chars(&self, cs: &[char]) -> Vec<u32> {
        cs.iter().map(|&c| self.id(c)).collect()
    }

    /// `text` as ids.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        text.chars().map(|c| self.id(c)).collect()
    }

    /// Ids back to text (unknowns as [`CharCorpus::UNK_CHAR`]).
    pub fn decode(&self, ids: &[u32]) -> String {
        ids.iter().map(|&i| self.chars[i as usize]).collect()
    }

    /// The ids of one part.
    pub fn part(&self, split: TextSplit) -> &[u32] {
        match split {
            TextSplit::Train => &self.train,
            TextSplit::Valid => &self.valid,
            TextSplit::Test => &self.test,
        }
    }

    /// Whether one part holds a window of `len` characters: `len >= 1` and at least `len + 1`
    /// characters (the last target is the character after the window). [`CharCorpus::windows`]
    /// panics where this is an error, so a caller with sizes from a user checks here first.
    pub fn check_window(&self, split: TextSplit, len: usize) -> Result<(), String> {
        let n = self.part(split).len();
        if len == 0 {
            return Err("a window holds at least 1 character, not 0".into());
        }
        if n <= len {
            return Err(format!(
                "the {split:?} part has {n} characters, too few for a window of {len} (a window needs {})",
                len + 1
            ));
        }
        Ok(())
    }

    /// Windows of `len` characters of one part: the input is `ids[o .. o+len]` and the target
    /// of each step the next character, `ids[o+1 .. o+len+1]` (`Tokens` inputs, `EachClass`
    /// targets, both over [`CharCorpus::vocab`] ids; every step is scored). A window needs
    /// `len + 1` characters, so its start `o` runs over `0 ..= part_len - len - 1`.
    ///
    /// Panics if `len == 0`, or for [`Windows::Random`] if the part is shorter than `len + 1`
    /// or for [`Windows::Stride`] with stride 0. A part too short for any stride window gives
    /// an empty data set.
    pub fn windows(&self, split: TextSplit, len: usize, how: Windows, seed: u64) -> SeqDataset {
        assert!(len > 0, "CharCorpus::windows: len must be at least 1");
        let ids = self.part(split);
        let starts: Vec<usize> = match how {
            Windows::Stride(s) => {
                assert!(s > 0, "CharCorpus::windows: stride must be at least 1");
                if ids.len() < len + 1 {
                    Vec::new()
                } else {
                    (0..=ids.len() - len - 1).step_by(s).collect()
                }
            }
            Windows::Random(n) => {
                assert!(
                    ids.len() > len,
                    "CharCorpus::windows: the {split:?} part has {} characters, too few for a window of {len} (+1)",
                    ids.len()
                );
                let mut rng = StdRng::seed_from_u64(seed);
                (0..n).map(|_| rng.random_range(0..=ids.len() - len - 1)).collect()
            }
        };
        let seqs = starts.iter().map(|&o| ids[o..o + len].to_vec()).collect();
        let labels = starts.iter().map(|&o| ids[o + 1..o + len + 1].to_vec()).collect();
        SeqDataset::new(
            SeqInputs::Tokens { seqs, vocab: self.vocab() },
            SeqTargets::EachClass { labels, n_classes: self.vocab() },
        )
    }

    /// Character frequencies of the training part plus one (Laplace smoothing, so the unknown
    /// id has a small non-zero probability), as probabilities over the vocabulary.
    pub fn unigram(&self) -> Vec<f64> {
        let mut counts = vec![1f64; self.vocab()];
        for &i in &self.train {
            counts[i as usize] += 1.0;
        }
        let total: f64 = counts.iter().sum();
        counts.iter().map(|c| c / total).collect()
    }

    /// Bits per character of the [`CharCorpus::unigram`] model on a part: the baseline any
    /// model with context must beat (about 4.4–4.5 bits for English prose).
    pub fn unigram_bpc(&self, split: TextSplit) -> f64 {
        let p = self.unigram();
        let ids = self.part(split);
        if ids.is_empty() {
            return 0.0;
        }
        let nats: f64 = ids.iter().map(|&i| -p[i as usize].ln()).sum();
        bpc(nats / ids.len() as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn split_by_position_and_vocab_from_train() {
        let text: String = "abcdefghij".repeat(10) + "XYZ";
        let n = text.chars().count(); // 103
        let c = CharCorpus::new(&text);
        assert_eq!(c.train.len(), 92); // floor(0.9 * 103)
        assert_eq!(c.valid.len(), 97 - 92); // floor(0.95 * 103) = 97
        assert_eq!(c.train.len() + c.valid.len() + c.test.len(), n);
        assert_eq!(c.vocab(), 11);
        assert_eq!(c.chars[0], CharCorpus::UNK_CHAR);
        assert_eq!(c.id('a'), 1);
        assert_eq!(c.id('X'), CharCorpus::UNK);
        assert_eq!(c.decode(&c.test), "hij\u{FFFD}\u{FFFD}\u{FFFD}");
        assert_eq!(c.decode(&c.encode("cab")), "cab");
    }

    #[test]
    fn windows_targets_are_inputs_shifted() {
        let text: String = (0..2000).map(|i| char::from(b'a' + (i * 7 % 26) as u8)).collect();
        let c = CharCorpus::new(&text);
        let ds = c.windows(TextSplit::Train, 16, Windows::Random(50), 3);
        assert_eq!(ds, c.windows(TextSplit::Train, 16, Windows::Random(50), 3));
        let SeqInputs::Tokens { seqs, vocab } = &ds.inputs else { panic!() };
        let SeqTargets::EachClass { labels, n_classes } = &ds.targets else { panic!() };
        assert_eq!((seqs.len(), *vocab, *n_classes), (50, c.vocab(), c.vocab()));
        for (x, y) in seqs.iter().zip(labels) {
            assert_eq!((x.len(), y.len()), (16, 16));
            assert_eq!(&x[1..], &y[..15]);
        }
        let tiled = c.windows(TextSplit::Valid, 10, Windows::Stride(10), 0);
        let SeqInputs::Tokens { seqs, .. } = &tiled.inputs else { panic!() };
        assert_eq!(seqs.len(), 9); // 100 chars: starts 0..=89 step 10
        assert_eq!(seqs[1][..], c.valid[10..20]);
        assert!(c.windows(TextSplit::Test, 200, Windows::Stride(1), 0).is_empty());
    }

    #[test]
    fn check_window_is_what_windows_needs() {
        let c = CharCorpus::new(&"abcdefghij".repeat(20)); // test part: 10 characters
        assert_eq!(c.test.len(), 10);
        assert!(c.check_window(TextSplit::Test, 9).is_ok());
        c.windows(TextSplit::Test, 9, Windows::Random(3), 0);
        let e = c.check_window(TextSplit::Test, 10).unwrap_err();
        assert!(e.contains("Test part has 10 characters") && e.contains("needs 11"), "{e}");
        assert!(c.check_window(TextSplit::Train, 0).unwrap_err().contains("at least 1"));
    }

    #[test]
    fn bpc_and_unigram() {
        assert!((bpc(LN_2) - 1.0).abs() < 1e-12);
        // two equally likely characters: 1 bit each (up to the add-one smoothing)
        let text = "ab".repeat(5000);
        let c = CharCorpus::new(&text);
        assert!((c.unigram_bpc(TextSplit::Test) - 1.0).abs() < 0.01);
        assert!((c.unigram().iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn load_plain_gzip_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("a.txt");
        std::fs::write(&plain, "héllo\n").unwrap();
        assert_eq!(load_text(&plain).unwrap(), "héllo\n");
        let gz = dir.path().join("b.txt.gz");
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all("héllo\n".as_bytes()).unwrap();
        std::fs::write(&gz, e.finish().unwrap()).unwrap();
        assert_eq!(load_text(&gz).unwrap(), "héllo\n");
        let bad = dir.path().join("bad.txt");
        std::fs::write(&bad, b"ok\xff\xfe").unwrap();
        let msg = load_text(&bad).unwrap_err().to_string();
        assert!(msg.contains("bad.txt") && msg.contains("offset 2"), "{msg}");
        let msg = load_text(dir.path().join("none.txt")).unwrap_err().to_string();
        assert!(msg.contains("none.txt"), "{msg}");
        let err = default_text_path(Some(dir.path())).unwrap_err().to_string();
        assert!(err.contains(DEFAULT_TEXT), "{err}");
    }
}
