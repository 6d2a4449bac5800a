//! Sequence data sets through the library API: the synthetic tasks, MNIST and MNIST-1D as
//! sequences, the Brown corpus (real archive when present, small synthetic archives for the
//! error paths) and character-level text.
//!
//! Tests on real data look for it with the usual data-folder rules (`$DEPTHLAB_DATA`, else
//! `./data` and `../shared/data`) and print a note and pass when it is absent.

use std::io::Write;
use std::path::{Path, PathBuf};

use depthlab::config::{load_data, Config};
use depthlab::data::brown::{
    base_tag, brown_path, load_brown, BrownCorpus, BrownOptions, BrownSplit, GenreTarget, TagSet,
};
use depthlab::data::idx::load_mnist_from;
use depthlab::data::mnist1d::{generate, Mnist1dConfig};
use depthlab::data::seq::{SeqDataset, SeqInputs, SeqTargets, IGNORE};
use depthlab::data::seqtasks::{
    adding_mean_baseline_mse, adding_split, as_sequence, as_sequence_split, copy_split, permutation, sequential_mnist,
    ADDING_MEAN_BASELINE_MSE, COPY_CHANCE_ACC,
};
use depthlab::data::text::{bpc, default_text_path, load_text, CharCorpus, TextSplit, Windows};
use depthlab::data::DataError;

fn tokens(ds: &SeqDataset) -> (&Vec<Vec<u32>>, usize) {
    match &ds.inputs {
        SeqInputs::Tokens { seqs, vocab } => (seqs, *vocab),
        other => panic!("expected tokens, got {:?}", std::mem::discriminant(other)),
    }
}

fn each_class(ds: &SeqDataset) -> (&Vec<Vec<u32>>, usize) {
    match &ds.targets {
        SeqTargets::EachClass { labels, n_classes } => (labels, *n_classes),
        other => panic!("expected EachClass targets, got {:?}", std::mem::discriminant(other)),
    }
}

// ---------------------------------------------------------------------------------------------
// synthetic tasks

#[test]
fn adding_split_baseline_mse_is_one_sixth() {
    let s = adding_split(100, 10_000, 10_000, 7);
    assert_eq!(s.name, "adding T=100");
    for ds in [&s.train, &s.test] {
        let mse = adding_mean_baseline_mse(ds);
        assert!((mse - ADDING_MEAN_BASELINE_MSE).abs() < 0.01, "mean-prediction MSE {mse}, expected ~1/6");
    }
    assert_ne!(s.train.targets, s.test.targets);
    assert_eq!(adding_split(100, 10, 10, 7).train, adding_split(100, 10, 3, 7).train);
}

#[test]
fn copy_split_layout_and_chance() {
    let s = copy_split(100, 1000, 200, 1);
    let (seqs, vocab) = tokens(&s.train);
    let (labels, n_classes) = each_class(&s.train);
    assert_eq!((vocab, n_classes, s.train.seq_len(0)), (10, 10, 120));
    // always guessing symbol 1 at the recall steps is right about 1/8 of the time
    let (mut hits, mut scored) = (0, 0);
    for (x, y) in seqs.iter().zip(labels) {
        assert_eq!(x[109], 9);
        assert!(x[110..].iter().all(|&v| v == 0));
        assert_eq!(y.iter().filter(|&&l| l != IGNORE).count(), 10);
        for &l in &y[110..] {
            scored += 1;
            hits += (l == 1) as usize;
        }
    }
    let acc = hits as f64 / scored as f64;
    assert!((acc - COPY_CHANCE_ACC).abs() < 0.015, "chance accuracy {acc}");
}

#[test]
fn mnist1d_as_a_sequence() {
    let split = generate(&Mnist1dConfig { num_samples: 200, ..Mnist1dConfig::default() });
    let s = as_sequence_split(&split, 40, "MNIST-1D");
    match &s.train.inputs {
        SeqInputs::Real { n, time, dim, values } => {
            assert_eq!((*n, *time, *dim), (160, 40, 1));
            assert_eq!(&values[40..80], split.train.x.row(1));
        }
        _ => panic!(),
    }
    assert!(matches!(&s.test.targets, SeqTargets::LastClass { labels, n_classes: 10 } if labels.len() == 40));
    assert_eq!(as_sequence(&split.test, 40), s.test);
}

#[test]
fn sequential_mnist_real() {
    let split = match load_mnist_from(None) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("note: MNIST not found, sequential_mnist_real skipped ({e})");
            return;
        }
    };
    let small = depthlab::data::Split { train: split.train.take(50), test: split.test.take(20) };
    let s = sequential_mnist(&small, None);
    let SeqInputs::Real { n, time, dim, values } = &s.train.inputs else { panic!() };
    assert_eq!((*n, *time, *dim), (50, 784, 1));
    assert_eq!(&values[..784], small.train.x.row(0));
    let SeqTargets::LastClass { labels, n_classes: 10 } = &s.train.targets else { panic!() };
    assert_eq!(&labels[..5], &[5, 0, 4, 1, 9]);
    let p = sequential_mnist(&small, Some(9));
    let perm = permutation(784, 9);
    let SeqInputs::Real { values: tv, .. } = &p.test.inputs else { panic!() };
    for step in 0..784 {
        assert_eq!(tv[784 * 3 + step], small.test.x.at(3, perm[step]));
    }
}

// ---------------------------------------------------------------------------------------------
// Brown corpus: the real archive

fn real_brown(opts: &BrownOptions) -> Option<BrownCorpus> {
    match brown_path(None) {
        Ok(p) => Some(load_brown(&p, opts).unwrap_or_else(|e| panic!("{e}"))),
        Err(e) => {
            eprintln!("note: the Brown corpus was not found, test skipped ({e})");
            None
        }
    }
}

#[test]
fn brown_real_counts_split_and_baseline() {
    let Some(c) = real_brown(&BrownOptions::default()) else { return };
    assert_eq!(c.files.len(), 500);
    assert_eq!(c.sentences.len(), 57_340);
    assert_eq!(c.n_tokens(), 1_161_192);
    assert_eq!(c.full_tags.len(), 472);
    assert_eq!(c.base_tags.len(), 104, "see the brown module docs on DATA.md's 97");
    assert_eq!(c.genres.len(), 15);
    assert_eq!(c.genres[0], "adventure");
    assert_eq!(c.split_sizes(BrownSplit::Train), (396, 45_608, 918_973));
    assert_eq!(c.split_sizes(BrownSplit::Dev), (52, 5_758, 121_055));
    assert_eq!(c.split_sizes(BrownSplit::Test), (52, 5_974, 121_164));
    for split in [BrownSplit::Train, BrownSplit::Dev, BrownSplit::Test] {
        let mut seen = [false; 15];
        for f in c.files.iter().filter(|f| f.split == split) {
            seen[f.genre as usize] = true;
        }
        assert!(seen.iter().all(|&s| s), "{split:?} lacks a genre");
    }
    // the first sentence of ca01
    let s = &c.sentences[0];
    assert_eq!((c.files[s.file as usize].name.as_str(), s.line), ("ca01", 3));
    assert_eq!(c.forms[s.forms[1] as usize], "fulton");
    assert_eq!(c.full_tags[s.tags[1] as usize], "np-tl");
    assert_eq!(c.base_tags[c.tag_ids(s, TagSet::Base)[1] as usize], "np");
    let news = c.genres.iter().position(|g| g == "news").unwrap() as u32;
    assert_eq!(c.genre_of(s), news);
    // the most frequent full tag is nn; base tags fold nn-tl etc. into nn
    let count = |tag: &str, ts: TagSet| {
        let id = c.tags(ts).iter().position(|t| t == tag).unwrap() as u32;
        c.sentences.iter().map(|s| c.tag_ids(s, ts).iter().filter(|&&t| t == id).count()).sum::<usize>()
    };
    assert_eq!(count("nn", TagSet::Full), 152_470);
    assert_eq!(count("nn", TagSet::Base), 168_075);
    assert_eq!(count("at", TagSet::Base), 99_161);
    assert!(c.full_tags.iter().all(|t| c.base_tags.binary_search(&base_tag(t).to_string()).is_ok()));

    // datasets
    let ds = c.to_dataset(BrownSplit::Test, TagSet::Base);
    let (seqs, vocab) = tokens(&ds);
    let (labels, n_classes) = each_class(&ds);
    assert_eq!((seqs.len(), vocab, n_classes), (5_974, c.vocab.len(), 104));
    assert!(seqs.iter().zip(labels).all(|(x, y)| x.len() == y.len() && !x.is_empty()));
    assert!(seqs.iter().flatten().all(|&w| (w as usize) < vocab));
    let g = c.to_genre_dataset(BrownSplit::Dev, GenreTarget::Last);
    assert!(matches!(&g.targets, SeqTargets::LastClass { labels, n_classes: 15 } if labels.len() == 5_758));
    let g = c.to_genre_dataset(BrownSplit::Dev, GenreTarget::Each);
    let (gl, _) = each_class(&g);
    assert!(gl.iter().all(|y| y.iter().all(|&l| l == y[0])));
    let split = c.seq_split(TagSet::Full, BrownSplit::Dev);
    assert_eq!((split.train.len(), split.test.len()), (45_608, 5_758));

    // the most-frequent-tag baseline
    for ts in [TagSet::Full, TagSet::Base] {
        for sp in [BrownSplit::Dev, BrownSplit::Test] {
            let a = c.most_frequent_tag_baseline(sp, ts);
            eprintln!(
                "most-frequent-tag baseline, lowercased, {ts:?} tags, {sp:?}: accuracy {:.4} (known {:.4}, unknown {:.4}, \
                 unknown rate {:.4}); vocab {}",
                a.accuracy(),
                a.known_accuracy(),
                a.unknown_accuracy(),
                a.unknown_rate(),
                c.vocab.len()
            );
            assert!(a.accuracy() > 0.85 && a.accuracy() < 0.95, "{a:?}");
        }
    }
    let a = c.most_frequent_tag_baseline(BrownSplit::Test, TagSet::Base);
    assert_eq!(a.tokens, 121_164);
}

#[test]
fn brown_real_cased_and_min_count() {
    let Some(c) = real_brown(&BrownOptions { lowercase: false, min_count: 2 }) else { return };
    assert_eq!(c.n_tokens(), 1_161_192);
    assert_eq!(c.vocab_id("The"), c.vocab.iter().position(|w| w == "The").unwrap() as u32);
    assert_ne!(c.vocab_id("The"), c.vocab_id("the"));
    assert_eq!(c.vocab_id("qwertyuiop"), BrownCorpus::UNK);
    let a = c.most_frequent_tag_baseline(BrownSplit::Test, TagSet::Full);
    eprintln!("most-frequent-tag baseline, cased, min_count 2, Full tags, Test: accuracy {:.4}", a.accuracy());
}

// ---------------------------------------------------------------------------------------------
// Brown corpus: small synthetic archives

fn tarball(dir: &Path, name: &str, members: &[(&str, &str)], gzip: bool) -> PathBuf {
    let mut b = tar::Builder::new(Vec::new());
    for (path, text) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, path, text.as_bytes()).unwrap();
    }
    let bytes = b.into_inner().unwrap();
    let bytes = if gzip {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&bytes).unwrap();
        e.finish().unwrap()
    } else {
        bytes
    };
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

const CATS: &str = "ca01 news\nca02 news\nca03 news\ncb01 editorial\n";
const CA01: &str = "\n\n\tThe/at Dog/nn-tl ran/vbd ./.\n\n\n\tA/at dog/nn ran/vbd ./.\n";
const CA02: &str = "\tthe/at cat/nn sat/vbd ./.\n";
const CA03: &str = "\tthe/at cow/nn won't/md*+vb ./.\n";
const CB01: &str = "\tdogs/nns ran/vbd 1/2/cd ./.\n";

fn good_members<'a>() -> Vec<(&'a str, &'a str)> {
    vec![
        ("brown/README", "ignored"),
        ("brown/ca02", CA02),
        ("brown/ca01", CA01),
        ("brown/ca03", CA03),
        ("brown/cats.txt", CATS),
        ("brown/cb01", CB01),
    ]
}

#[test]
fn brown_synthetic_archive() {
    let dir = tempfile::tempdir().unwrap();
    let p = tarball(dir.path(), "b.tar.gz", &good_members(), true);
    let c = load_brown(&p, &BrownOptions::default()).unwrap();
    assert_eq!(c.files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["ca01", "ca02", "ca03", "cb01"]);
    assert_eq!(c.genres, ["editorial", "news"]);
    assert_eq!(c.sentences.len(), 5);
    assert_eq!(c.n_tokens(), 20);
    assert_eq!((c.sentences[0].line, c.sentences[1].line), (3, 6));
    // news has 3 files: train, dev, test; editorial's single file is train
    let splits: Vec<BrownSplit> = c.files.iter().map(|f| f.split).collect();
    assert_eq!(splits, [BrownSplit::Train, BrownSplit::Dev, BrownSplit::Test, BrownSplit::Train]);
    assert_eq!(c.full_tags, [".", "at", "cd", "md*+vb", "nn", "nn-tl", "nns", "vbd"]);
    assert_eq!(c.base_tags, [".", "at", "cd", "md*", "nn", "nns", "vbd"]);
    // words split at the last '/'
    assert!(c.forms.iter().any(|w| w == "1/2"));
    // vocabulary: training files ca01 and cb01 only, lowercased, by count
    assert_eq!(c.vocab[0], "<unk>");
    assert_eq!(&c.vocab[1..3], [".", "ran"]);
    assert_eq!(c.vocab_id("DOG"), c.vocab_id("dog"));
    assert_eq!(c.vocab_id("cat"), BrownCorpus::UNK);
    let ds = c.to_dataset(BrownSplit::Dev, TagSet::Full);
    let (seqs, _) = tokens(&ds);
    assert_eq!(seqs[0][1], BrownCorpus::UNK);
    // baseline on dev ("the cat sat ."): the at, cat unknown -> most frequent train tag, sat unknown
    let a = c.most_frequent_tag_baseline(BrownSplit::Dev, TagSet::Full);
    assert_eq!((a.tokens, a.unknown), (4, 2));
    // plain tar works too, and min_count drops rare training words
    let p = tarball(dir.path(), "b.tar", &good_members(), false);
    let c = load_brown(&p, &BrownOptions { lowercase: false, min_count: 2 }).unwrap();
    assert_eq!(c.vocab, ["<unk>", ".", "ran"]);
}

fn load_err(members: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = tarball(dir.path(), "bad.tar.gz", members, true);
    let e = load_brown(&p, &BrownOptions::default()).unwrap_err();
    assert!(matches!(e, DataError::Format { .. }), "{e:?}");
    let s = e.to_string();
    assert!(s.contains("bad.tar.gz"), "{s}");
    s
}

#[test]
fn brown_errors_name_member_and_line() {
    let mut m = good_members();
    m[2] = ("brown/ca01", "\tThe/at dog/nn\n\n\tA/at dogran/vbd oops ./.\n");
    let s = load_err(&m);
    assert!(s.contains("brown/ca01") && s.contains("line 3") && s.contains("token 3") && s.contains("`oops`"), "{s}");

    let mut m = good_members();
    m[1] = ("brown/ca02", "\tthe/at cat/\n");
    let s = load_err(&m);
    assert!(s.contains("brown/ca02") && s.contains("line 1") && s.contains("empty tag"), "{s}");

    let m: Vec<_> = good_members().into_iter().filter(|(p, _)| !p.ends_with("cats.txt")).collect();
    assert!(load_err(&m).contains("no cats.txt"));

    let mut m = good_members();
    m.push(("brown/cc01", "\tx/nn\n"));
    let s = load_err(&m);
    assert!(s.contains("brown/cc01") && s.contains("no genre"), "{s}");

    let mut m = good_members();
    m[4] = ("brown/cats.txt", "ca01 news\nca02 news extra\n");
    let s = load_err(&m);
    assert!(s.contains("brown/cats.txt") && s.contains("line 2"), "{s}");

    let mut m = good_members();
    m[4] = ("brown/cats.txt", "ca01 news\nca02 news\nca03 news\ncb01 editorial\ncb02 editorial\n");
    assert!(load_err(&m).contains("cb02"));

    // a missing file and a corrupt archive
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing.tar.gz");
    let e = load_brown(&missing, &BrownOptions::default()).unwrap_err();
    assert!(matches!(e, DataError::Io { .. }) && e.to_string().contains("nothing.tar.gz"), "{e}");
    let p = tarball(dir.path(), "cut.tar.gz", &good_members(), true);
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let e = load_brown(&p, &BrownOptions::default()).unwrap_err();
    assert!(e.to_string().contains("cut.tar.gz"), "{e}");
    let e = brown_path(Some(dir.path())).unwrap_err().to_string();
    assert!(e.contains("brown.tar.gz"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// character-level text

#[test]
fn austen_loads_and_unigram_bpc() {
    let path = match default_text_path(None) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("note: the default text was not found, test skipped ({e})");
            return;
        }
    };
    let text = load_text(&path).unwrap();
    assert_eq!(text.len(), 4_025_029, "bytes of UTF-8");
    assert!(text.starts_with("EMMA"));
    let c = CharCorpus::new(&text);
    assert_eq!(c.train.len() + c.valid.len() + c.test.len(), 4_025_028);
    assert_eq!(c.train.len(), 3_622_525);
    assert!(c.test.iter().all(|&i| i != CharCorpus::UNK), "Austen's test part has no unseen character");
    let train_bpc = c.unigram_bpc(TextSplit::Train);
    let test_bpc = c.unigram_bpc(TextSplit::Test);
    eprintln!("Austen: vocab {} (with <unk>), unigram bits/char train {train_bpc:.4}, test {test_bpc:.4}", c.vocab());
    assert!((4.2..4.7).contains(&test_bpc), "unigram bpc {test_bpc}");
    let ds = c.windows(TextSplit::Test, 100, Windows::Stride(100), 0);
    let (seqs, _) = tokens(&ds);
    let (labels, n_classes) = each_class(&ds);
    assert_eq!(n_classes, c.vocab());
    assert_eq!(seqs.len(), (c.test.len() - 1) / 100);
    for (x, y) in seqs.iter().zip(labels) {
        assert_eq!(&x[1..], &y[..99]);
    }
    assert_eq!(c.decode(&seqs[0]), c.decode(&c.test[..100]));
    assert!((bpc(std::f64::consts::LN_2 * 4.0) - 4.0).abs() < 1e-12);
}

#[test]
fn windows_random_are_deterministic_and_shifted() {
    let text = "It is a truth universally acknowledged, that a single man in possession of a good fortune, \
                must be in want of a wife. "
        .repeat(50);
    let c = CharCorpus::new(&text);
    let a = c.windows(TextSplit::Train, 32, Windows::Random(64), 5);
    assert_eq!(a, c.windows(TextSplit::Train, 32, Windows::Random(64), 5));
    assert_ne!(a, c.windows(TextSplit::Train, 32, Windows::Random(64), 6));
    let (seqs, _) = tokens(&a);
    let (labels, _) = each_class(&a);
    assert_eq!(seqs.len(), 64);
    for (x, y) in seqs.iter().zip(labels) {
        assert_eq!(&x[1..], &y[..31]);
        // the target sequence is itself a window of the training part
        let t = c.decode(y);
        assert!(c.decode(&c.train).contains(&t));
    }
}

#[test]
fn text_too_short_for_the_window_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("short.txt");
    std::fs::write(&path, "Far too short for windows of a hundred characters.\n").unwrap();
    // window 0 would ask CharCorpus::windows for empty windows, window 100 for more text than there is
    let toml = |window: usize| {
        format!(
            "[data]\nname = \"text\"\nfile = {:?}\nwindow = {window}\ntrain = 10\n\n[model]\narch = \"lstm\"\n\
             depth = 1\nwidth = 8\n\n[optim]\nlr = 0.1\noptimizer = {{ kind = \"sgd\" }}\n\n[train]\nepochs = 1\n",
            path.display().to_string()
        )
    };
    // The config refuses window 0 itself; load_data, given such a config anyway, too.
    let e = Config::parse(&toml(0), "short.toml", &[]).unwrap_err().to_string();
    assert!(e.contains("short.toml:4") && e.contains("data.window"), "{e}");
    for (window, want) in [(100, "too few for a window of 100"), (0, "a window holds at least 1 character")] {
        let mut cfg = Config::parse(&toml(1), "short.toml", &[]).unwrap();
        if let depthlab::config::DataConfig::Text { window: w, .. } = &mut cfg.data {
            *w = window;
        }
        let loaded = std::panic::catch_unwind(|| load_data(&cfg, None).map(drop));
        let msg = match loaded {
            Err(_) => panic!("window {window}: load_data panicked instead of returning an error"),
            Ok(Ok(())) => panic!("window {window}: a 52-character text was accepted"),
            Ok(Err(e)) => e.to_string(),
        };
        assert!(msg.contains("short.txt") && msg.contains(want) && msg.contains("data.window"), "{msg}");
    }
}
