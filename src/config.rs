//! The run config: one TOML file with `seed` and the sections `[data]`, `[model]`, `[optim]`,
//! `[train]`; `--set key=value` overrides on top. Unknown keys and bad values are errors that
//! name the file, the key and what is allowed.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::seq::SeqSplit;
use crate::data::{self, brown, mnist1d, seqtasks, synthetic, text, Split};
use crate::nn::{LossKind, ModelConfig};
use crate::optim::OptimConfig;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {msg}")]
    Invalid { path: String, msg: String },
    #[error("--set {arg}: {msg}")]
    Set { arg: String, msg: String },
}

/// Where the examples come from. `name` picks the data set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum DataConfig {
    /// MNIST-1D, generated from `seed` (default: the run's seed); no files needed.
    Mnist1d {
        #[serde(default)]
        seed: Option<u64>,
        #[serde(default)]
        num_samples: Option<usize>,
    },
    /// MNIST from IDX files (see DATA.md): `train_subset` / `test_subset` keep the first N.
    Mnist {
        #[serde(default)]
        train_subset: Option<usize>,
        #[serde(default)]
        test_subset: Option<usize>,
    },
    /// Fashion-MNIST, same format (`apt-get install dataset-fashion-mnist`).
    FashionMnist {
        #[serde(default)]
        train_subset: Option<usize>,
        #[serde(default)]
        test_subset: Option<usize>,
    },
    /// Telgarsky's 2^k alternating points on [0, 1] (train and test are the same points).
    Sawtooth { k: u32 },
    /// n-bit parity: `train` and `test` examples drawn independently.
    Parity { bits: usize, train: usize, test: usize },
    /// Sequences. The adding problem: T steps of (value U[0,1], marker); target the sum of
    /// the two marked values.
    Adding {
        t: usize,
        #[serde(default = "d_train")]
        train: usize,
        #[serde(default = "d_test")]
        test: usize,
    },
    /// Copy memory: 10 symbols, T blanks, a delimiter, recall the symbols.
    Copy {
        t: usize,
        #[serde(default = "d_train")]
        train: usize,
        #[serde(default = "d_test")]
        test: usize,
    },
    /// Lag-T recall: `len` (default 2t) symbols drawn uniformly from `alphabet` (default 8);
    /// the target at every step s >= t is the symbol of step s - t.
    Recall {
        #[serde(deserialize_with = "recall_t")]
        t: usize,
        #[serde(default, deserialize_with = "recall_len_key")]
        len: Option<usize>,
        #[serde(default = "d_alphabet", deserialize_with = "recall_alphabet")]
        alphabet: usize,
        #[serde(default = "d_train", deserialize_with = "recall_train")]
        train: usize,
        #[serde(default = "d_test", deserialize_with = "recall_test")]
        test: usize,
    },
    /// MNIST pixel by pixel (784 steps), optionally in a fixed random order.
    SeqMnist {
        #[serde(default)]
        permuted: bool,
        #[serde(default)]
        train_subset: Option<usize>,
        #[serde(default)]
        test_subset: Option<usize>,
    },
    /// MNIST-1D as 40 steps of one feature.
    Mnist1dSeq {
        #[serde(default)]
        seed: Option<u64>,
    },
    /// POS tagging on the Brown corpus: `tags` = "base" (the tags without -tl/-hl/... and
    /// compound suffixes) or "full"; scored on the test files. Both tag sets are targets of
    /// the same tokens: `tags` is the main one, and a per-layer head may learn either by name
    /// (`model.layer_heads[j].target = "base"`). `train_subset` / `test_subset` keep the first
    /// N sentences of the training / test split; `min_count` (default 1) keeps in the
    /// vocabulary the word forms seen at least that often in the whole training split (the
    /// rest read as `<unk>`).
    Brown {
        #[serde(default)]
        tags: BrownTags,
        #[serde(default)]
        train_subset: Option<usize>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        test_subset: Option<usize>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_count: Option<usize>,
    },
    /// Character-level language modelling: `train` random windows of `window` characters
    /// from the first 90% of the text, scored on the last 5% (tiled); loss in nats per
    /// character (bits = nats / ln 2).
    Text {
        #[serde(default)]
        file: Option<PathBuf>,
        #[serde(default = "d_window")]
        window: usize,
        #[serde(default = "d_train")]
        train: usize,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BrownTags {
    #[default]
    Base,
    Full,
}

impl DataConfig {
    /// The config name of the data set (`brown`, `adding`).
    pub fn name(&self) -> String {
        toml::Value::try_from(self)
            .ok()
            .and_then(|v| v.get("name").and_then(|n| n.as_str()).map(String::from))
            .unwrap_or_default()
    }

    /// The targets the data set gives by name beside its main ones (for
    /// `model.layer_heads[j].target`).
    pub fn target_names(&self) -> &'static [&'static str] {
        match self {
            DataConfig::Brown { .. } => &["base", "full"],
            _ => &[],
        }
    }
}

fn d_train() -> usize {
    10_000
}
fn d_test() -> usize {
    1_000
}
fn d_window() -> usize {
    100
}
fn d_alphabet() -> usize {
    seqtasks::RECALL_ALPHABET
}

/// A deserializer that names its key in its errors: inside `[data]` (an internally tagged enum)
/// serde reports a bad value (`t = -6`) against the section, without the key.
macro_rules! keyed {
    ($name:ident, $ty:ty, $key:literal) => {
        fn $name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
            <$ty>::deserialize(d).map_err(|e| serde::de::Error::custom(format!("{}: {e}", $key)))
        }
    };
}
keyed!(recall_t, usize, "data.t");
keyed!(recall_len_key, Option<usize>, "data.len");
keyed!(recall_alphabet, usize, "data.alphabet");
keyed!(recall_train, usize, "data.train");
keyed!(recall_test, usize, "data.test");

/// Loaded data: flat examples for feed-forward models, sequences for sequence models.
pub enum Data {
    Flat(Split),
    Seq(SeqSplit),
}

fn d_batch() -> usize {
    128
}
fn d_one() -> usize {
    1
}

/// The `[train]` section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    #[serde(default = "d_batch")]
    pub batch_size: usize,
    /// Log a train record every N steps (0: once per epoch only).
    #[serde(default)]
    pub log_every: usize,
    /// Evaluate on the held-out set every N epochs.
    #[serde(default = "d_one")]
    pub eval_every: usize,
    /// Also evaluate the whole training set at each evaluation (the loss of the weights at the
    /// end of the epoch, rather than the running mean over its batches).
    #[serde(default)]
    pub eval_train: bool,
    /// Write a checkpoint every N epochs (and always at the end).
    #[serde(default = "d_one")]
    pub checkpoint_every: usize,
    /// Clip every gradient element to [-v, v] before the step (after norm clipping).
    #[serde(default)]
    pub clip_grad_value: Option<f64>,
    /// Recurrent models: truncated backpropagation through time, at most this many steps back.
    #[serde(default)]
    pub bptt_truncate: Option<usize>,
    /// Loss: cross-entropy for classes (default), mse for regression targets.
    #[serde(default)]
    pub loss: Option<LossKind>,
    /// Threads one run may use (default: every core; `--threads` on the command line wins).
    /// The results do not depend on it, bit for bit, so it is not part of a run's identity
    /// (`sweep::run_id` leaves it out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
}

/// The `[probe]` section: what to record while training.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// Every N steps, write ||dL/dh|| of every block output (the gradient of that training step
    /// itself) to gradflow.jsonl, and draw gradflow_heatmap.svg (blocks by steps) at the end.
    /// 0: off.
    #[serde(default)]
    pub gradflow_every: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub seed: u64,
    pub data: DataConfig,
    pub model: ModelConfig,
    pub optim: OptimConfig,
    pub train: TrainConfig,
    #[serde(default)]
    pub probe: ProbeConfig,
}

impl Config {
    /// Read `path`, apply `--set` overrides (`train.epochs=3`, `model.arch="plain"`) and validate.
    pub fn load(path: &Path, sets: &[String]) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.to_owned(), source })?;
        Config::parse(&text, &path.display().to_string(), sets)
    }

    /// As `load`, from text; `origin` names the source in errors. Errors in the file name its
    /// line; errors that a `--set` brought in name that `--set`.
    pub fn parse(text: &str, origin: &str, sets: &[String]) -> Result<Config, ConfigError> {
        parse_with(text, origin, sets, Config::validate)
    }

    pub fn validate(&self) -> Result<(), String> {
        self.model.validate()?;
        self.optim.validate()?;
        let t = &self.train;
        if t.epochs == 0 {
            return Err("train.epochs must be at least 1".into());
        }
        if t.batch_size == 0 {
            return Err("train.batch_size must be at least 1".into());
        }
        if t.eval_every == 0 || t.checkpoint_every == 0 {
            return Err("train.eval_every and train.checkpoint_every must be at least 1".into());
        }
        if let Some(v) = t.clip_grad_value {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("train.clip_grad_value must be a finite number > 0, got {v}"));
            }
        }
        if t.bptt_truncate == Some(0) {
            return Err("train.bptt_truncate must be at least 1 (steps of backpropagation through time)".into());
        }
        let names = self.data.target_names();
        for (j, h) in self.model.layer_heads.iter().enumerate() {
            if let Some(name) = h.target.as_deref().filter(|n| !names.contains(n)) {
                let has = if names.is_empty() {
                    "gives only its main targets: leave the key out for a head on them".to_string()
                } else {
                    format!(
                        "gives the targets {}",
                        names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
                    )
                };
                return Err(format!("model.layer_heads[{j}].target = {name:?}: data set {} {has}", self.data.name()));
            }
        }
        if t.threads == Some(0) {
            return Err("train.threads must be at least 1 (leave it out for every core)".into());
        }
        match &self.data {
            DataConfig::Sawtooth { k } if !(1..=20).contains(k) => Err(format!("data.k must be in 1..=20, got {k}")),
            DataConfig::Parity { bits, train, test } if *bits == 0 || *train == 0 || *test == 0 => {
                Err("data.bits, data.train and data.test must be at least 1".into())
            }
            DataConfig::Adding { t, .. } if *t < 2 => Err(format!(
                "data.t must be at least 2 for the adding problem (one marked value in each half), got {t}"
            )),
            DataConfig::Copy { t, .. } if *t == 0 => {
                Err("data.t must be at least 1 for copy memory (the blanks between the symbols and the delimiter)"
                    .into())
            }
            DataConfig::Brown { min_count: Some(0), .. } => {
                Err("data.min_count must be at least 1 (training occurrences for a word to enter the vocabulary)"
                    .into())
            }
            DataConfig::Recall { t, len, alphabet, train, test } => {
                match seqtasks::recall_problem(*t, recall_len(*t, *len), *alphabet) {
                    Some(p) => Err(p),
                    None if *train == 0 => Err("data.train must be at least 1 for recall (training sequences)".into()),
                    None if *test == 0 => Err("data.test must be at least 1 for recall (test sequences)".into()),
                    None => Ok(()),
                }
            }
            DataConfig::Text { window, .. } if *window == 0 => {
                Err("data.window must be at least 1 (characters per training window)".into())
            }
            _ => Ok(()),
        }
    }

    /// The loss for these targets: `train.loss`, or cross-entropy for class labels.
    pub fn loss(&self) -> LossKind {
        self.train.loss.unwrap_or(LossKind::CrossEntropy)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a config serialises")
    }
}

/// Parse a config text into `T`, apply `--set`s, and `validate` it. Errors in the file name
/// its line; errors that a `--set` brought in name that `--set`.
fn parse_with<T: serde::de::DeserializeOwned>(
    text: &str,
    origin: &str,
    sets: &[String],
    validate: impl Fn(&T) -> Result<(), String>,
) -> Result<T, ConfigError> {
    let in_file = |msg: String| ConfigError::Invalid { path: origin.into(), msg };
    let at_key = |key: &str, msg: String| match line_of(text, key) {
        Some(line) => ConfigError::Invalid { path: format!("{origin}:{line}"), msg },
        None => in_file(msg),
    };
    // First the file alone, so that its errors carry line and column.
    let table: toml::Table = toml::from_str(text).map_err(|e| in_file(e.to_string()))?;
    if let Some((key, msg)) = non_finite(&table, "") {
        return Err(at_key(&key, msg));
    }
    let cfg: T = toml::from_str(text).map_err(|e| in_file(e.to_string()))?;
    if sets.is_empty() {
        return validate(&cfg).map(|()| cfg).map_err(|msg| at_key(&key_of(&msg), msg));
    }
    let mut table = table;
    for arg in sets {
        apply_set(&mut table, arg)?;
    }
    if let Some((key, msg)) = non_finite(&table, "") {
        let arg = sets.iter().rev().find(|a| set_key(a) == key).cloned().unwrap_or_else(|| sets.join(" "));
        return Err(ConfigError::Set { arg, msg });
    }
    let cfg = T::deserialize(toml::Value::Table(table))
        .map_err(|e| ConfigError::Set { arg: sets.join(" "), msg: e.to_string().trim().to_string() })?;
    validate(&cfg).map(|()| cfg).map_err(|msg| {
        // Blame the --set that touched the key (or a table around it), else the file.
        let key = key_of(&msg);
        let key = key.as_str();
        let touched = |a: &&String| {
            let k = set_key(a);
            k == key
                || key.starts_with(&format!("{k}."))
                || key.starts_with(&format!("{k}["))
                || k.starts_with(&format!("{key}."))
        };
        match sets.iter().rev().find(touched) {
            Some(arg) => ConfigError::Set { arg: arg.clone(), msg },
            None => at_key(key, msg),
        }
    })
}

/// What building a model needs of a config, for commands that take no data, optimizer or
/// training loop (`depthlab grads`): `seed`, `[model]`, and of `[train]` only `loss` and
/// `bptt_truncate`. Any other section may be there and is not read.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    pub seed: u64,
    pub model: ModelConfig,
    pub loss: Option<LossKind>,
    pub bptt_truncate: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelSpecFile {
    #[serde(default)]
    seed: u64,
    model: ModelConfig,
    #[serde(default)]
    train: ModelSpecTrain,
    #[serde(default)]
    data: Option<toml::Value>,
    #[serde(default)]
    optim: Option<toml::Value>,
    #[serde(default)]
    probe: Option<toml::Value>,
}

#[derive(Default, Deserialize)]
struct ModelSpecTrain {
    #[serde(default)]
    loss: Option<LossKind>,
    #[serde(default)]
    bptt_truncate: Option<usize>,
}

impl ModelSpec {
    pub fn load(path: &Path, sets: &[String]) -> Result<ModelSpec, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.to_owned(), source })?;
        ModelSpec::parse(&text, &path.display().to_string(), sets)
    }

    pub fn parse(text: &str, origin: &str, sets: &[String]) -> Result<ModelSpec, ConfigError> {
        let f: ModelSpecFile = parse_with(text, origin, sets, |f: &ModelSpecFile| {
            f.model.validate()?;
            if f.train.bptt_truncate == Some(0) {
                return Err("train.bptt_truncate must be at least 1 (steps of backpropagation through time)".into());
            }
            Ok(())
        })?;
        let _ = (f.data, f.optim, f.probe);
        Ok(ModelSpec { seed: f.seed, model: f.model, loss: f.train.loss, bptt_truncate: f.train.bptt_truncate })
    }
}

impl From<&Config> for ModelSpec {
    fn from(c: &Config) -> Self {
        ModelSpec { seed: c.seed, model: c.model.clone(), loss: c.train.loss, bptt_truncate: c.train.bptt_truncate }
    }
}

/// The key a validation message is about: its first word when that is a key path
/// (`model.aux[0].weight must be ...`, `model.heads = 3 must divide ...`).
fn key_of(msg: &str) -> String {
    let word = msg.split([' ', ':']).next().unwrap_or("");
    if word.contains('.') {
        word.to_string()
    } else {
        String::new()
    }
}

/// The key of a `--set KEY=VALUE`.
fn set_key(arg: &str) -> &str {
    arg.split_once('=').map_or(arg, |(k, _)| k).trim()
}

/// The first float in `table` that is NaN or infinite, as (key path, message): no setting
/// takes one, and serde would otherwise report it as a confusing `null`.
fn non_finite(table: &toml::Table, prefix: &str) -> Option<(String, String)> {
    fn walk(v: &toml::Value, key: String) -> Option<(String, String)> {
        match v {
            toml::Value::Float(f) if !f.is_finite() => {
                // As TOML writes them.
                let v = if f.is_nan() {
                    "nan"
                } else if *f > 0.0 {
                    "inf"
                } else {
                    "-inf"
                };
                let msg = format!("{key} must be a finite number, got {v}");
                Some((key, msg))
            }
            toml::Value::Table(t) => non_finite(t, &key),
            toml::Value::Array(a) => a.iter().enumerate().find_map(|(i, v)| walk(v, format!("{key}[{i}]"))),
            _ => None,
        }
    }
    table.iter().find_map(|(k, v)| walk(v, if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") }))
}

/// The line (from 1) of `key` (`model.depth`, `model.aux[0].weight`) in a TOML text, or of the
/// nearest enclosing key or table present there.
pub fn line_of(text: &str, key: &str) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    if key.is_empty() {
        return None;
    }
    let doc = DeTable::parse(text).ok()?;
    let mut table: &DeTable = doc.get_ref();
    let mut best: Option<usize> = None;
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        let (name, index) = match part.split_once('[') {
            Some((n, i)) => (n, i.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        let (k, v) = table.iter().find(|(k, _)| k.get_ref().as_ref() == name)?;
        best = Some(k.span().start);
        let mut value = v.get_ref();
        if let (Some(i), DeValue::Array(a)) = (index, value) {
            let item = a.get(i)?;
            best = Some(item.span().start);
            value = item.get_ref();
        }
        match value {
            DeValue::Table(t) if parts.peek().is_some() => table = t,
            _ => break,
        }
    }
    best.map(|offset| text[..offset.min(text.len())].matches('\n').count() + 1)
}

/// Set `a.b.c = value` in a TOML table; the value is parsed as TOML (`3`, `0.1`, `true`,
/// `"plain"`, `[1, 2]`, `{ kind = "he" }`), or taken as a bare string when it does not parse
/// (but a number TOML cannot hold is an error, not a string).
fn apply_set(table: &mut toml::Table, arg: &str) -> Result<(), ConfigError> {
    let err = |msg: String| ConfigError::Set { arg: arg.into(), msg };
    let (key, raw) = arg.split_once('=').ok_or_else(|| err("expected KEY=VALUE, e.g. train.epochs=3".into()))?;
    let key = key.trim();
    let raw = raw.trim();
    let value: toml::Value = match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut t) => t.remove("v").expect("just parsed"),
        Err(_) if looks_numeric(raw) => {
            return Err(err(format!(
                "`{raw}` is not a number a config can hold (integers are at most {}; floats are written like 1e-3)",
                i64::MAX
            )))
        }
        Err(_) => toml::Value::String(raw.to_string()),
    };
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(err(format!("`{key}` is not a key path like train.epochs")));
    }
    let mut t = table;
    for p in &parts[..parts.len() - 1] {
        t = t
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| err(format!("`{p}` in `{key}` is a value, not a section")))?;
    }
    t.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

/// Digits with an optional sign, fraction and exponent: meant as a number.
fn looks_numeric(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    !s.is_empty()
        && s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_digit() || matches!(c, '_' | '.' | 'e' | 'E' | '+' | '-'))
}

/// `data.len` of a recall task: as given, else twice the lag.
pub fn recall_len(t: usize, len: Option<usize>) -> usize {
    len.unwrap_or(t.saturating_mul(2))
}

/// Where data files are looked for: `--data-dir`, else `$DEPTHLAB_DATA`, else ./data,
/// ../shared/data and the user cache (`data::search`).
pub fn load_data(cfg: &Config, data_dir: Option<&Path>) -> Result<Data, data::DataError> {
    let subset = |mut s: Split, tr: Option<usize>, te: Option<usize>| {
        if let Some(n) = tr {
            s.train = s.train.take(n);
        }
        if let Some(n) = te {
            s.test = s.test.take(n);
        }
        s
    };
    let mnist1d = |seed: &Option<u64>, num_samples: Option<usize>| {
        let mut c = mnist1d::Mnist1dConfig { seed: seed.unwrap_or(cfg.seed), ..Default::default() };
        if let Some(n) = num_samples {
            c.num_samples = n;
        }
        mnist1d::generate(&c)
    };
    Ok(match &cfg.data {
        DataConfig::Mnist1d { seed, num_samples } => Data::Flat(mnist1d(seed, *num_samples)),
        DataConfig::Mnist { train_subset, test_subset } => {
            Data::Flat(data::idx::load_mnist_subset_from(data_dir, *train_subset, *test_subset)?)
        }
        DataConfig::FashionMnist { train_subset, test_subset } => {
            Data::Flat(subset(data::idx::load_fashion_mnist_from(data_dir)?, *train_subset, *test_subset))
        }
        DataConfig::Sawtooth { k } => {
            let d = synthetic::sawtooth(*k);
            Data::Flat(Split { train: d.clone(), test: d })
        }
        DataConfig::Parity { bits, train, test } => Data::Flat(Split {
            train: synthetic::parity(*bits, *train, cfg.seed),
            test: synthetic::parity(*bits, *test, cfg.seed.wrapping_add(1)),
        }),
        DataConfig::Adding { t, train, test } => Data::Seq(seqtasks::adding_split(*t, *train, *test, cfg.seed)),
        DataConfig::Copy { t, train, test } => Data::Seq(seqtasks::copy_split(*t, *train, *test, cfg.seed)),
        DataConfig::Recall { t, len, alphabet, train, test } => {
            Data::Seq(seqtasks::recall_split(*t, recall_len(*t, *len), *alphabet, *train, *test, cfg.seed))
        }
        DataConfig::SeqMnist { permuted, train_subset, test_subset } => {
            let s = data::idx::load_mnist_subset_from(data_dir, *train_subset, *test_subset)?;
            Data::Seq(seqtasks::sequential_mnist(&s, permuted.then_some(cfg.seed)))
        }
        DataConfig::Mnist1dSeq { seed } => {
            Data::Seq(seqtasks::as_sequence_split(&mnist1d(seed, None), 40, "mnist1d (40 steps)"))
        }
        DataConfig::Brown { tags, train_subset, test_subset, min_count } => {
            let opts = brown::BrownOptions { min_count: min_count.unwrap_or(1), ..Default::default() };
            let corpus = brown::load_brown_from(data_dir, &opts)?;
            let tagset = match tags {
                BrownTags::Base => brown::TagSet::Base,
                BrownTags::Full => brown::TagSet::Full,
            };
            // Only the tag sets a head asks for (validation checked the names).
            let also: Vec<brown::TagSet> = cfg
                .model
                .layer_heads
                .iter()
                .filter_map(|h| h.target.as_deref().and_then(brown::TagSet::parse))
                .collect();
            let mut s = corpus.seq_split_with(tagset, brown::BrownSplit::Test, &also);
            if let Some(n) = train_subset {
                s.train = s.train.take(*n);
            }
            if let Some(n) = test_subset {
                s.test = s.test.take(*n);
            }
            Data::Seq(s)
        }
        DataConfig::Text { file, window, train } => {
            let path = match file {
                Some(f) => f.clone(),
                None => text::default_text_path(data_dir)?,
            };
            let corpus = text::CharCorpus::new(&text::load_text(&path)?);
            // windows() panics on sizes its caller should have checked; these come from the config.
            for part in [text::TextSplit::Train, text::TextSplit::Test] {
                corpus
                    .check_window(part, *window)
                    .map_err(|msg| data::DataError::format(&path, format!("{msg} (data.window = {window})")))?;
            }
            Data::Seq(SeqSplit {
                train: corpus.windows(text::TextSplit::Train, *window, text::Windows::Random(*train), cfg.seed),
                test: corpus.windows(text::TextSplit::Test, *window, text::Windows::Stride(*window), cfg.seed),
                name: format!(
                    "characters of {}",
                    file.as_ref().map(|f| f.display().to_string()).unwrap_or("austen.txt.gz".into())
                ),
            })
        }
    })
}
