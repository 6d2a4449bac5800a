//! The Brown corpus, POS-tagged (Francis & Kucera 1964/1979, the NLTK "Form C" files), read
//! straight from its `.tar.gz` for part-of-speech tagging and genre classification.
//!
//! # Format
//! The archive holds 500 corpus files `c<genre letter a-r><2 digits>` (`brown/ca01` …
//! `brown/cr09`), `cats.txt` (`ca01 news`: file, genre, one pair a line) and a README and
//! CONTENTS that are ignored. In a corpus file each non-blank line is one sentence of
//! whitespace-separated `word/tag` tokens (split at the *last* `/`, since words such as `1/2`
//! hold one); blank lines separate sentences. Corpus: 57,340 sentences, 1,161,192 tokens,
//! 472 distinct full tags, 15 genres.
//!
//! # Tags
//! Full tags are used as written (all lowercase). [`base_tag`] strips what is not part of speech:
//! the foreign-word prefix `fw-`, everything from the first `+` (contractions such as `ppss+md`
//! "I'll" keep their first part) and the trailing markers `-tl` (title), `-hl` (headline) and
//! `-nc` (cited word), repeatedly. The negation `*` (`md*`, `doz*`) and the possessive `$`
//! (`nn$`) are kept: they change the word class. That leaves **104** base tags.
//!
//! DATA.md says 97 base tags; no principled rule we tried reproduces 97 (keeping `fw-` gives
//! 144, also stripping `*` or `$` gives 92, dropping punctuation tags 94); 97 is, however,
//! exactly the number of the 104 that occur at least 10 times (the 7 rarer ones are `jj$` 1,
//! `cd$` 5, `dt$` 5, `ap$` 9, `rb$` 9, `rn` 9 and `bem*` 9 tokens), which may be where it came
//! from. The tests pin 104.
//!
//! # Split (fixed, by file)
//! Files are grouped by their `cats.txt` genre and sorted by name within a genre. Of a genre's
//! `k` files, the last `h` are test, the `h` before them dev, the rest train, where
//! `h = max(1, round(k / 10))` (`(k + 5) / 10` in integers) when `k >= 3`, and `h = 0` (all train)
//! for smaller genres. On the real corpus: 396 / 52 / 52 files, 45,608 / 5,758 / 5,974 sentences,
//! 918,973 / 121,055 / 121,164 tokens, every genre in every part.
//!
//! # Vocabulary
//! Word forms are lowercased unless [`BrownOptions::lowercase`] is false. The vocabulary holds
//! id 0, [`BrownCorpus::UNK`] (`<unk>`), then each form seen in the training split at least
//! [`BrownOptions::min_count`] times, by decreasing count then by string. Every other form
//! (dev/test-only or rarer) is coded 0.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::idx::data_dir;
use super::seq::{SeqDataset, SeqInputs, SeqSplit, SeqTargets};
use super::DataError;

/// The archive, relative to a data folder.
pub const BROWN_FILE: &str = "brown/brown.tar.gz";

/// Options of [`load_brown`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrownOptions {
    /// Lowercase word forms (default true). Tags are lowercase in the corpus already.
    pub lowercase: bool,
    /// A training form enters the vocabulary when it occurs at least this often (default 1).
    pub min_count: usize,
}

impl Default for BrownOptions {
    fn default() -> Self {
        BrownOptions { lowercase: true, min_count: 1 }
    }
}

/// One part of the fixed file split (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BrownSplit {
    Train,
    Dev,
    Test,
}

/// Which tags the targets use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TagSet {
    /// The 472 tags as written.
    Full,
    /// The 104 tags of [`base_tag`].
    Base,
}

impl TagSet {
    pub const ALL: [TagSet; 2] = [TagSet::Base, TagSet::Full];

    /// `base` or `full`: how configs name the tag set.
    pub fn name(self) -> &'static str {
        match self {
            TagSet::Full => "full",
            TagSet::Base => "base",
        }
    }

    /// The tag set called `name`.
    pub fn parse(name: &str) -> Option<TagSet> {
        TagSet::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// Where the genre label goes in [`BrownCorpus::to_genre_dataset`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GenreTarget {
    /// One label per sentence, read off its last word.
    Last,
    /// The label at every word.
    Each,
}

/// One corpus file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrownFile {
    /// `ca01` …
    pub name: String,
    /// Index into [`BrownCorpus::genres`].
    pub genre: u32,
    pub split: BrownSplit,
    /// Its sentences, as indices into [`BrownCorpus::sentences`].
    pub sentences: Range<usize>,
}

/// One sentence: word forms (ids into [`BrownCorpus::forms`]) and full tags (ids into
/// [`BrownCorpus::full_tags`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sentence {
    /// Index into [`BrownCorpus::files`].
    pub file: u32,
    /// 1-based line in its file.
    pub line: u32,
    pub forms: Vec<u32>,
    pub tags: Vec<u32>,
}

/// The loaded corpus (see the module docs for the tags, the split and the vocabulary).
#[derive(Clone, Debug)]
pub struct BrownCorpus {
    pub options: BrownOptions,
    /// The 500 files, sorted by name.
    pub files: Vec<BrownFile>,
    /// Genre names, sorted (`adventure` … `science_fiction`): a genre label is an index here.
    pub genres: Vec<String>,
    /// All sentences, by file then line.
    pub sentences: Vec<Sentence>,
    /// Every distinct word form (after lowercasing when asked), in order of first appearance.
    pub forms: Vec<String>,
    /// Full tags, sorted.
    pub full_tags: Vec<String>,
    /// Base tags, sorted.
    pub base_tags: Vec<String>,
    /// The base tag id of each full tag id.
    pub full_to_base: Vec<u32>,
    /// Vocabulary: `vocab[0]` is `<unk>`.
    pub vocab: Vec<String>,
    form_to_vocab: Vec<u32>,
    form_index: HashMap<String, u32>,
}

/// A tagger's accuracy on one split, overall and on known / unknown words.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TagAccuracy {
    pub tokens: usize,
    pub correct: usize,
    /// Tokens whose form is not in the vocabulary.
    pub unknown: usize,
    pub unknown_correct: usize,
}

impl TagAccuracy {
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.tokens.max(1) as f64
    }

    pub fn known_accuracy(&self) -> f64 {
        (self.correct - self.unknown_correct) as f64 / (self.tokens - self.unknown).max(1) as f64
    }

    pub fn unknown_accuracy(&self) -> f64 {
        self.unknown_correct as f64 / self.unknown.max(1) as f64
    }

    pub fn unknown_rate(&self) -> f64 {
        self.unknown as f64 / self.tokens.max(1) as f64
    }
}

/// The base tag of a full tag: drop a leading `fw-`, cut at the first `+`, then strip trailing
/// `-tl`, `-hl`, `-nc` as often as they occur. `nn-tl` → `nn`, `fw-at+nn-tl` → `at`,
/// `ppss+md` → `ppss`, `at-tl-hl` → `at`, `---hl` → `--`, `md*` and `nn$` stay.
pub fn base_tag(full: &str) -> &str {
    let mut t = full.strip_prefix("fw-").unwrap_or(full);
    if let Some(i) = t.find('+') {
        t = &t[..i];
    }
    while let Some(s) = t.strip_suffix("-tl").or_else(|| t.strip_suffix("-hl")).or_else(|| t.strip_suffix("-nc")) {
        t = s;
    }
    t
}

/// Whether a member's file name is a corpus file: `c`, a letter `a`–`r`, two digits.
pub(crate) fn is_corpus_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 4 && b[0] == b'c' && (b'a'..=b'r').contains(&b[1]) && b[2].is_ascii_digit() && b[3].is_ascii_digit()
}

/// Where the archive would be: `<dir>/`[`BROWN_FILE`] for the first data folder of
/// [`data_dir`]`(cli_dir)` that holds it; `NotFound` listing every path tried otherwise.
pub fn brown_path(cli_dir: Option<&Path>) -> Result<PathBuf, DataError> {
    let tried: Vec<PathBuf> = data_dir(cli_dir).into_iter().map(|d| d.join(BROWN_FILE)).collect();
    match tried.iter().find(|p| p.is_file()) {
        Some(p) => Ok(p.clone()),
        None => Err(DataError::NotFound {
            looked_in: tried,
            hint: format!(
                "the Brown corpus ({BROWN_FILE}) was not found; `depthlab data fetch brown` downloads it; or put \
                 a tar.gz of its files at <data dir>/{BROWN_FILE} and pass --data-dir or set DEPTHLAB_DATA"
            ),
        }),
    }
}

/// [`load_brown`] of [`brown_path`]`(cli_dir)`.
pub fn load_brown_from(cli_dir: Option<&Path>, opts: &BrownOptions) -> Result<BrownCorpus, DataError> {
    load_brown(&brown_path(cli_dir)?, opts)
}

/// Read the corpus from a `.tar.gz` (or plain `.tar`) without extracting it. Errors name the
/// archive, the member inside it and, for a bad token, the line and token.
pub fn load_brown(path: &Path, opts: &BrownOptions) -> Result<BrownCorpus, DataError> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    brown_from_bytes(&raw, path, opts)
}

/// [`load_brown`] of the archive's bytes; `origin` names it in errors.
pub fn brown_from_bytes(raw: &[u8], origin: &Path, opts: &BrownOptions) -> Result<BrownCorpus, DataError> {
    let members = read_members(origin, raw)?;
    build(origin, members, opts)
}

/// The text of `cats.txt` and of each corpus file, keyed by file name, with the member path.
struct Members {
    cats: Option<(String, String)>,
    files: BTreeMap<String, (String, String)>,
}

fn read_members(path: &Path, raw: &[u8]) -> Result<Members, DataError> {
    let reader: Box<dyn Read + '_> = if raw.len() >= 2 && raw[..2] == [0x1f, 0x8b] {
        Box::new(flate2::read::MultiGzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    let bad = |what: String| DataError::format(path, what);
    let mut archive = tar::Archive::new(reader);
    let mut members = Members { cats: None, files: BTreeMap::new() };
    let entries = archive.entries().map_err(|e| bad(format!("not a readable tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("corrupt or truncated archive: {e}")))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let member = entry.path().map_err(|e| bad(format!("bad member name: {e}")))?.to_string_lossy().into_owned();
        let name = member.rsplit('/').next().unwrap_or(&member).to_string();
        if name != "cats.txt" && !is_corpus_name(&name) {
            continue;
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(|e| bad(format!("member {member}: cannot read it: {e}")))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            bad(format!("member {member}: not UTF-8 (bad byte at offset {})", e.utf8_error().valid_up_to()))
        })?;
        if name == "cats.txt" {
            if let Some((first, _)) = &members.cats {
                return Err(bad(format!("two cats.txt members: {first} and {member}")));
            }
            members.cats = Some((member, text));
        } else if let Some((first, _)) = members.files.get(&name) {
            return Err(bad(format!("two members for corpus file {name}: {first} and {member}")));
        } else {
            members.files.insert(name, (member, text));
        }
    }
    Ok(members)
}

fn build(path: &Path, members: Members, opts: &BrownOptions) -> Result<BrownCorpus, DataError> {
    let bad = |what: String| DataError::format(path, what);
    let Some((cats_member, cats_text)) = members.cats else {
        return Err(bad("the archive has no cats.txt (file-to-genre map)".into()));
    };
    if members.files.is_empty() {
        return Err(bad("the archive holds no corpus files (named like brown/ca01)".into()));
    }

    // genres
    let mut file_genre: BTreeMap<String, String> = BTreeMap::new();
    for (i, line) in cats_text.lines().enumerate() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts[..] {
            [] => {}
            [file, genre] => {
                if file_genre.insert(file.to_string(), genre.to_string()).is_some() {
                    return Err(bad(format!("member {cats_member}, line {}: file {file} is listed twice", i + 1)));
                }
            }
            _ => {
                return Err(bad(format!(
                    "member {cats_member}, line {}: expected `<file> <genre>`, found `{}`",
                    i + 1,
                    line.trim()
                )))
            }
        }
    }
    for (name, (member, _)) in &members.files {
        if !file_genre.contains_key(name) {
            return Err(bad(format!("member {member}: file {name} has no genre in {cats_member}")));
        }
    }
    if let Some(name) = file_genre.keys().find(|f| !members.files.contains_key(*f)) {
        return Err(bad(format!("{cats_member} lists file {name}, which the archive does not hold")));
    }
    let mut genres: Vec<String> = file_genre.values().cloned().collect();
    genres.sort();
    genres.dedup();

    // split by file within each genre
    let mut by_genre: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (f, g) in &file_genre {
        by_genre.entry(g.as_str()).or_default().push(f.as_str());
    }
    let mut split_of: HashMap<&str, BrownSplit> = HashMap::new();
    for fs in by_genre.values() {
        let k = fs.len(); // sorted already (BTreeMap order)
        let h = if k >= 3 { ((k + 5) / 10).max(1) } else { 0 };
        for (i, f) in fs.iter().enumerate() {
            let s = if i < k - 2 * h {
                BrownSplit::Train
            } else if i < k - h {
                BrownSplit::Dev
            } else {
                BrownSplit::Test
            };
            split_of.insert(f, s);
        }
    }

    // sentences
    let mut files = Vec::with_capacity(members.files.len());
    let mut sentences = Vec::new();
    let mut forms = Vec::new();
    let mut form_index: HashMap<String, u32> = HashMap::new();
    let mut tag_index: HashMap<String, u32> = HashMap::new();
    for (fi, (name, (member, text))) in members.files.iter().enumerate() {
        let start = sentences.len();
        for (li, line) in text.lines().enumerate() {
            let mut s = Sentence { file: fi as u32, line: li as u32 + 1, forms: Vec::new(), tags: Vec::new() };
            for (ti, tok) in line.split_whitespace().enumerate() {
                let Some(slash) = tok.rfind('/') else {
                    return Err(bad(format!(
                        "member {member}, line {}, token {}: `{tok}` is not `word/tag` (no `/`)",
                        li + 1,
                        ti + 1
                    )));
                };
                let (word, tag) = (&tok[..slash], &tok[slash + 1..]);
                if word.is_empty() || tag.is_empty() {
                    return Err(bad(format!(
                        "member {member}, line {}, token {}: `{tok}` has an empty {}",
                        li + 1,
                        ti + 1,
                        if word.is_empty() { "word" } else { "tag" }
                    )));
                }
                let word = if opts.lowercase { word.to_lowercase() } else { word.to_string() };
                let next = forms.len() as u32;
                let id = *form_index.entry(word).or_insert_with_key(|w| {
                    forms.push(w.clone());
                    next
                });
                s.forms.push(id);
                let next = tag_index.len() as u32;
                s.tags.push(*tag_index.entry(tag.to_string()).or_insert(next));
            }
            if !s.forms.is_empty() {
                sentences.push(s);
            }
        }
        let genre = genres.binary_search(&file_genre[name]).expect("genre listed") as u32;
        files.push(BrownFile {
            name: name.clone(),
            genre,
            split: split_of[name.as_str()],
            sentences: start..sentences.len(),
        });
    }

    // tags, sorted; sentences recoded
    let mut full_tags: Vec<String> = tag_index.keys().cloned().collect();
    full_tags.sort();
    let mut recode = vec![0u32; full_tags.len()];
    for (t, &old) in &tag_index {
        recode[old as usize] = full_tags.binary_search(t).expect("tag listed") as u32;
    }
    for s in &mut sentences {
        for t in &mut s.tags {
            *t = recode[*t as usize];
        }
    }
    let mut base_tags: Vec<String> = full_tags.iter().map(|t| base_tag(t).to_string()).collect();
    base_tags.sort();
    base_tags.dedup();
    let full_to_base =
        full_tags.iter().map(|t| base_tags.binary_search(&base_tag(t).to_string()).expect("base") as u32).collect();

    // vocabulary from the training split
    let mut counts = vec![0usize; forms.len()];
    for f in files.iter().filter(|f| f.split == BrownSplit::Train) {
        for s in &sentences[f.sentences.clone()] {
            for &w in &s.forms {
                counts[w as usize] += 1;
            }
        }
    }
    let mut kept: Vec<u32> = (0..forms.len() as u32).filter(|&w| counts[w as usize] >= opts.min_count.max(1)).collect();
    kept.sort_by(|&a, &b| {
        counts[b as usize].cmp(&counts[a as usize]).then_with(|| forms[a as usize].cmp(&forms[b as usize]))
    });
    let mut vocab = vec![BrownCorpus::UNK_WORD.to_string()];
    let mut form_to_vocab = vec![BrownCorpus::UNK; forms.len()];
    for w in kept {
        form_to_vocab[w as usize] = vocab.len() as u32;
        vocab.push(forms[w as usize].clone());
    }

    Ok(BrownCorpus {
        options: opts.clone(),
        files,
        genres,
        sentences,
        forms,
        full_tags,
        base_tags,
        full_to_base,
        vocab,
        form_to_vocab,
        form_index,
    })
}

impl BrownCorpus {
    /// The vocabulary id of unknown words.
    pub const UNK: u32 = 0;
    /// How the unknown id prints.
    pub const UNK_WORD: &'static str = "<unk>";

    /// Total tokens.
    pub fn n_tokens(&self) -> usize {
        self.sentences.iter().map(|s| s.forms.len()).sum()
    }

    /// The sentences of one split, by file then line.
    pub fn sentences_in(&self, split: BrownSplit) -> impl Iterator<Item = &Sentence> + '_ {
        self.files
            .iter()
            .filter(move |f| f.split == split)
            .flat_map(move |f| self.sentences[f.sentences.clone()].iter())
    }

    /// Files, sentences and tokens in one split.
    pub fn split_sizes(&self, split: BrownSplit) -> (usize, usize, usize) {
        let files = self.files.iter().filter(|f| f.split == split).count();
        let (mut n, mut t) = (0, 0);
        for s in self.sentences_in(split) {
            n += 1;
            t += s.forms.len();
        }
        (files, n, t)
    }

    /// The tag names of a tag set.
    pub fn tags(&self, tagset: TagSet) -> &[String] {
        match tagset {
            TagSet::Full => &self.full_tags,
            TagSet::Base => &self.base_tags,
        }
    }

    /// The tag ids of a sentence in a tag set.
    pub fn tag_ids(&self, s: &Sentence, tagset: TagSet) -> Vec<u32> {
        match tagset {
            TagSet::Full => s.tags.clone(),
            TagSet::Base => s.tags.iter().map(|&t| self.full_to_base[t as usize]).collect(),
        }
    }

    /// The vocabulary ids of a sentence.
    pub fn word_ids(&self, s: &Sentence) -> Vec<u32> {
        s.forms.iter().map(|&f| self.form_to_vocab[f as usize]).collect()
    }

    /// The vocabulary id of a word (lowercased first when the corpus was), `UNK` if absent.
    pub fn vocab_id(&self, word: &str) -> u32 {
        let w = if self.options.lowercase { word.to_lowercase() } else { word.to_string() };
        self.form_index.get(&w).map_or(Self::UNK, |&f| self.form_to_vocab[f as usize])
    }

    /// The genre label of a sentence.
    pub fn genre_of(&self, s: &Sentence) -> u32 {
        self.files[s.file as usize].genre
    }

    /// POS tagging: one sentence a sequence, `Tokens` of vocabulary ids (vocab size
    /// `self.vocab.len()`) and `EachClass` tags of `tagset`.
    pub fn to_dataset(&self, split: BrownSplit, tagset: TagSet) -> SeqDataset {
        let (seqs, labels) = self.sentences_in(split).map(|s| (self.word_ids(s), self.tag_ids(s, tagset))).unzip();
        SeqDataset::new(
            SeqInputs::Tokens { seqs, vocab: self.vocab.len() },
            SeqTargets::EachClass { labels, n_classes: self.tags(tagset).len() },
        )
    }

    /// The tags of `tagset` for the sentences of `split`, in [`BrownCorpus::to_dataset`]'s
    /// order: the same tokens tagged another way, for a second task on one data set.
    pub fn tag_targets(&self, split: BrownSplit, tagset: TagSet) -> SeqTargets {
        let labels = self.sentences_in(split).map(|s| self.tag_ids(s, tagset)).collect();
        SeqTargets::EachClass { labels, n_classes: self.tags(tagset).len() }
    }

    /// Genre classification of single sentences: `Tokens` as in [`BrownCorpus::to_dataset`],
    /// the genre (of [`BrownCorpus::genres`], 15 classes) as `LastClass` or at every step.
    pub fn to_genre_dataset(&self, split: BrownSplit, target: GenreTarget) -> SeqDataset {
        let seqs: Vec<Vec<u32>> = self.sentences_in(split).map(|s| self.word_ids(s)).collect();
        let genres: Vec<u32> = self.sentences_in(split).map(|s| self.genre_of(s)).collect();
        let n_classes = self.genres.len();
        let targets = match target {
            GenreTarget::Last => SeqTargets::LastClass { labels: genres, n_classes },
            GenreTarget::Each => SeqTargets::EachClass {
                labels: seqs.iter().zip(&genres).map(|(x, &g)| vec![g; x.len()]).collect(),
                n_classes,
            },
        };
        SeqDataset::new(SeqInputs::Tokens { seqs, vocab: self.vocab.len() }, targets)
    }

    /// POS tagging as a [`SeqSplit`]: the training split against `held_out` (dev while tuning,
    /// test for the final number).
    pub fn seq_split(&self, tagset: TagSet, held_out: BrownSplit) -> SeqSplit {
        self.seq_split_with(tagset, held_out, &[])
    }

    /// [`BrownCorpus::seq_split`] with, beside the main `tagset`, the tags of each of `also`
    /// as named targets of the same tokens (named by [`TagSet::name`]: `base`, `full`).
    pub fn seq_split_with(&self, tagset: TagSet, held_out: BrownSplit, also: &[TagSet]) -> SeqSplit {
        let part = |split| {
            let mut d = self.to_dataset(split, tagset);
            for &t in also {
                if !d.named.iter().any(|(n, _)| n == t.name()) {
                    d.named.push((t.name().to_string(), self.tag_targets(split, t)));
                }
            }
            d
        };
        SeqSplit {
            train: part(BrownSplit::Train),
            test: part(held_out),
            name: format!("Brown POS ({} tags, {held_out:?})", tagset.name()),
        }
    }

    /// The most-frequent-tag baseline scored on `split`: a known word (vocabulary id not `UNK`)
    /// gets the tag it had most often in training (ties: the lower tag id), an unknown word the
    /// most frequent training tag overall.
    pub fn most_frequent_tag_baseline(&self, split: BrownSplit, tagset: TagSet) -> TagAccuracy {
        let n_tags = self.tags(tagset).len();
        let mut per_word: Vec<HashMap<u32, usize>> = vec![HashMap::new(); self.vocab.len()];
        let mut overall = vec![0usize; n_tags];
        for s in self.sentences_in(BrownSplit::Train) {
            for (w, t) in self.word_ids(s).into_iter().zip(self.tag_ids(s, tagset)) {
                *per_word[w as usize].entry(t).or_default() += 1;
                overall[t as usize] += 1;
            }
        }
        let argmax = |it: &mut dyn Iterator<Item = (u32, usize)>| {
            it.fold(None, |best: Option<(u32, usize)>, (t, c)| match best {
                Some((bt, bc)) if bc > c || (bc == c && bt < t) => Some((bt, bc)),
                _ => Some((t, c)),
            })
            .map_or(0, |(t, _)| t)
        };
        let top = argmax(&mut overall.iter().enumerate().map(|(t, &c)| (t as u32, c)));
        let guess: Vec<u32> =
            per_word
                .iter()
                .enumerate()
                .map(|(w, m)| {
                    if w as u32 == Self::UNK || m.is_empty() {
                        top
                    } else {
                        argmax(&mut m.iter().map(|(&t, &c)| (t, c)))
                    }
                })
                .collect();
        let mut acc = TagAccuracy { tokens: 0, correct: 0, unknown: 0, unknown_correct: 0 };
        for s in self.sentences_in(split) {
            for (w, t) in self.word_ids(s).into_iter().zip(self.tag_ids(s, tagset)) {
                let ok = guess[w as usize] == t;
                acc.tokens += 1;
                acc.correct += ok as usize;
                if w == Self::UNK {
                    acc.unknown += 1;
                    acc.unknown_correct += ok as usize;
                }
            }
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_tags() {
        for (full, base) in [
            ("nn", "nn"),
            ("nn-tl", "nn"),
            ("at-tl-hl", "at"),
            ("fw-at+nn-tl", "at"),
            ("fw-in+at-t", "in"),
            ("ppss+md", "ppss"),
            ("---hl", "--"),
            ("*-tl", "*"),
            ("ber*-nc", "ber*"),
            ("nns$-tl-hl", "nns$"),
            ("md*", "md*"),
            ("fw-*", "*"),
        ] {
            assert_eq!(base_tag(full), base, "{full}");
        }
    }

    #[test]
    fn corpus_names() {
        assert!(is_corpus_name("ca01") && is_corpus_name("cr09"));
        assert!(
            !is_corpus_name("cs01")
                && !is_corpus_name("cats.txt")
                && !is_corpus_name("ca1")
                && !is_corpus_name("README")
        );
    }
}
