//! Probes: where the gradient vanishes, explodes or is protected. Each probe works on a model
//! as built from a config (at initialisation) or loaded from a run folder (a trained
//! checkpoint), never changes its weights, and returns a serialisable report; `run` (the
//! `depthlab probe` command) writes each report as JSON beside SVG plots.
//!
//! | probe | applies to | library | files |
//! |---|---|---|---|
//! | gradflow | every model | `gradflow::feed_forward`, `gradflow::sequence` | gradflow.json, gradflow.svg, gradflow_params.svg (feed-forward), gradflow_heatmap.svg (sequence) |
//! | meanfield | plain stacks | `meanfield::MeanField::compute`, `meanfield::report`, `meanfield::measure_slope` | meanfield.json, meanfield.svg |
//! | lesion | plain, residual, highway, weighted_skip stacks | `lesion::lesion` | lesion.json, lesion.svg, lesion_random.svg |
//! | gates | highway, lstm, gru | `gates::highway`, `gates::recurrent` | gates.json, gates.svg (+ gates_bias.svg for highway) |
//! | diagnosis | every model | `diagnosis::diagnose` | diagnosis.json (and printed) |
//! | temporal | sequence models (rnn_tanh, rnn_relu, lstm, gru, tcn, attention) | `temporal::temporal`, `temporal::input_gradient` | temporal.json, temporal.svg (mass by lag), temporal_cumulative.svg |
//!
//! The JSON schemas are the `Serialize` structs of each module (`gradflow::Gradflow`,
//! `gradflow::SeqGradflow`, `meanfield::MeanfieldReport`, `lesion::Lesion`,
//! `gates::HighwayGates`, `gates::RecurrentGates`, `diagnosis::Diagnosis`,
//! `temporal::Temporal`), documented field
//! by field there and summarised in docs/probes.md. Non-finite numbers are written as `null`.

pub mod aux_share;
pub mod diagnosis;
pub mod gates;
pub mod gradflow;
pub mod jacobian;
pub mod lesion;
pub mod meanfield;
pub mod paths;
pub mod svd;
pub mod temporal;

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::config::{load_data, Config, Data};
use crate::data::Dataset;
use crate::nn::{Arch, Model};
use crate::plot::{fmt_num, HeatMap, LinePlot, Series};
use crate::seq::batch::SeqBatch;
use crate::seq::build::build_seq_model;
use crate::seq::model::SeqModel;
use crate::train::{load_params, load_tensors, Batches};

pub use diagnosis::Diagnosis;
pub use lesion::LesionOptions;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// Bad input: a missing run folder, an unknown probe, a probe that does not apply.
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    Io(String),
    /// Another process is writing the probe folder.
    #[error("{0}")]
    Busy(String),
}

/// The probes this module runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeKind {
    Gradflow,
    Meanfield,
    Lesion,
    Gates,
    Paths,
    AuxShare,
    Diagnosis,
    Jacobian,
    Temporal,
}

impl ProbeKind {
    pub const ALL: [ProbeKind; 9] = [
        ProbeKind::Gradflow,
        ProbeKind::Meanfield,
        ProbeKind::Lesion,
        ProbeKind::Gates,
        ProbeKind::Paths,
        ProbeKind::AuxShare,
        ProbeKind::Diagnosis,
        ProbeKind::Jacobian,
        ProbeKind::Temporal,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ProbeKind::Gradflow => "gradflow",
            ProbeKind::Meanfield => "meanfield",
            ProbeKind::Lesion => "lesion",
            ProbeKind::Gates => "gates",
            ProbeKind::Paths => "paths",
            ProbeKind::AuxShare => "aux_share",
            ProbeKind::Diagnosis => "diagnosis",
            ProbeKind::Jacobian => "jacobian",
            ProbeKind::Temporal => "temporal",
        }
    }

    /// A probe by name; the error lists the known names.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        ProbeKind::ALL.iter().copied().find(|k| k.name() == s).ok_or_else(|| {
            let names: Vec<&str> = ProbeKind::ALL.iter().map(|k| k.name()).collect();
            format!("unknown probe `{s}`: the probes are {}", names.join(", "))
        })
    }

    /// Whether the probe applies to models of this config; if not, why. What each needs is
    /// asked of the architecture (`Arch::can`), and the message lists the archs that have it.
    pub fn applies(self, cfg: &crate::nn::ModelConfig) -> Result<(), String> {
        use crate::nn::Can;
        let arch = cfg.arch.name();
        if cfg.depth == 0 && matches!(self, ProbeKind::Meanfield | ProbeKind::Lesion | ProbeKind::Jacobian) {
            return Err(format!(
                "probe `{}` needs stack layers, and model.depth = 0 has none (only the stem and the head)",
                self.name()
            ));
        }
        let needs = |has: fn(Can) -> bool, what: &str| -> Result<(), String> {
            if has(cfg.arch.can()) {
                Ok(())
            } else {
                Err(format!("probe `{}` applies to {what} ({}), not {arch}", self.name(), Arch::listed(has)))
            }
        };
        match self {
            ProbeKind::Gradflow | ProbeKind::Diagnosis => Ok(()),
            // Mean-field theory here is that of plain chains: phi(W h + b), no skips.
            ProbeKind::Meanfield if cfg.arch == Arch::Plain => Ok(()),
            ProbeKind::Meanfield => {
                Err(format!("probe `meanfield` applies to plain stacks (model.arch = \"plain\"), not {arch}"))
            }
            ProbeKind::Lesion => needs(|c| c.deletable, "stacks of deletable layers"),
            ProbeKind::Jacobian => needs(|c| c.equal_width, "stacks of equal-width layers"),
            ProbeKind::Gates => needs(|c| c.gates, "models with gates"),
            ProbeKind::Paths => needs(|c| c.skip_paths, "stacks with skip paths"),
            ProbeKind::Temporal => needs(|c| c.sequence, "sequence models"),
            ProbeKind::AuxShare if !cfg.aux.is_empty() || !cfg.layer_heads.is_empty() => Ok(()),
            ProbeKind::AuxShare => {
                Err("probe `aux_share` applies to models with auxiliary heads (model.aux or model.layer_heads)".into())
            }
        }
    }
}

/// `["gradflow,lesion", "gates"]` -> the probes, in the order given, without repeats.
pub fn parse_what(items: &[String]) -> Result<Vec<ProbeKind>, String> {
    let mut out = Vec::new();
    for part in items.iter().flat_map(|s| s.split(',')).filter(|s| !s.trim().is_empty()) {
        let k = ProbeKind::parse(part)?;
        if !out.contains(&k) {
            out.push(k);
        }
    }
    Ok(out)
}

/// A probe's report as its JSON file holds it, for reading back typed (`lab` reads the
/// reports its verdicts rest on this way; `read::from_slice` names a field that does not fit).
pub trait Report: serde::de::DeserializeOwned {
    const KIND: ProbeKind;
}

macro_rules! reports {
    ($($t:ty => $k:ident),* $(,)?) => { $(impl Report for $t { const KIND: ProbeKind = ProbeKind::$k; })* };
}

reports! {
    gradflow::Gradflow => Gradflow,
    gradflow::SeqGradflow => Gradflow,
    meanfield::MeanfieldReport => Meanfield,
    lesion::Lesion => Lesion,
    gates::HighwayGates => Gates,
    gates::RecurrentGates => Gates,
    paths::Paths => Paths,
    aux_share::AuxShare => AuxShare,
    diagnosis::Diagnosis => Diagnosis,
    jacobian::Jacobian => Jacobian,
    temporal::Temporal => Temporal,
}

/// Whether `bytes` is a whole report of probe `kind` for a model of `cfg`: it parses into the
/// report type that probe writes for that model.
pub fn check_report(kind: ProbeKind, cfg: &crate::nn::ModelConfig, bytes: &[u8]) -> Result<(), crate::read::ReadError> {
    use crate::read::from_slice;
    let seq = cfg.arch.is_sequence();
    match kind {
        ProbeKind::Gradflow if seq => from_slice::<gradflow::SeqGradflow>(bytes).map(drop),
        ProbeKind::Gradflow => from_slice::<gradflow::Gradflow>(bytes).map(drop),
        ProbeKind::Gates if seq => from_slice::<gates::RecurrentGates>(bytes).map(drop),
        ProbeKind::Gates => from_slice::<gates::HighwayGates>(bytes).map(drop),
        ProbeKind::Meanfield => from_slice::<meanfield::MeanfieldReport>(bytes).map(drop),
        ProbeKind::Lesion => from_slice::<lesion::Lesion>(bytes).map(drop),
        ProbeKind::Paths => from_slice::<paths::Paths>(bytes).map(drop),
        ProbeKind::AuxShare => from_slice::<aux_share::AuxShare>(bytes).map(drop),
        ProbeKind::Diagnosis => from_slice::<diagnosis::Diagnosis>(bytes).map(drop),
        ProbeKind::Jacobian => from_slice::<jacobian::Jacobian>(bytes).map(drop),
        ProbeKind::Temporal => from_slice::<temporal::Temporal>(bytes).map(drop),
    }
}

/// The probes that apply to a model config.
pub fn applicable(cfg: &crate::nn::ModelConfig) -> Vec<ProbeKind> {
    ProbeKind::ALL.iter().copied().filter(|k| k.applies(cfg).is_ok()).collect()
}

/// What `run` does.
#[derive(Clone, Debug)]
pub struct ProbeOptions {
    /// The probes to run; empty: every one that applies.
    pub what: Vec<ProbeKind>,
    /// Where to write (default: RUN_DIR/probes, or probes/<config name>).
    pub out: Option<PathBuf>,
    /// Training batches (of the config's batch size, epoch 0's order) for gradflow and gates.
    pub batches: usize,
    pub data_dir: Option<PathBuf>,
    pub lesion: LesionOptions,
    /// Threads the model uses; wins over the config's `train.threads` (default: every core).
    /// No probe's numbers depend on it.
    pub threads: Option<usize>,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            what: Vec::new(),
            out: None,
            batches: 4,
            data_dir: None,
            lesion: LesionOptions::default(),
            threads: None,
        }
    }
}

/// What `run` did.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeRun {
    pub out: PathBuf,
    /// Whether the weights came from a checkpoint (else: at initialisation).
    pub trained: bool,
    /// Each probe run and its seconds (not counting loading the data and the model).
    pub ran: Vec<(ProbeKind, f64)>,
    pub files: Vec<PathBuf>,
    pub diagnosis: Option<Diagnosis>,
}

/// A config file or a run folder, resolved: the config, the weights (run folders) and the
/// default output folder.
pub fn resolve_input(input: &Path) -> Result<(Config, Option<PathBuf>, PathBuf), ProbeError> {
    if input.is_dir() {
        let cfg_path = input.join("config.toml");
        if !cfg_path.is_file() {
            return Err(ProbeError::Input(format!(
                "{} is not a run folder: it has no config.toml (give a run folder written by `depthlab train`, or a config file)",
                input.display()
            )));
        }
        let weights = crate::train::folder::checkpoint_file(input, crate::train::folder::MODEL);
        if !weights.is_file() {
            let link = input.join("checkpoint");
            return Err(ProbeError::Input(if std::fs::symlink_metadata(&link).is_ok() {
                format!(
                    "{}: its checkpoint ({}) has no model.safetensors: the run folder is damaged; run it again",
                    input.display(),
                    std::fs::read_link(&link).map_or_else(|_| link.display().to_string(), |t| t.display().to_string())
                )
            } else {
                format!("{} has no model.safetensors: the run has not written a checkpoint yet", input.display())
            }));
        }
        Ok((Config::load(&cfg_path, &[])?, Some(weights), input.join("probes")))
    } else if input.is_file() {
        let stem = input.file_stem().and_then(|s| s.to_str()).unwrap_or("config");
        Ok((Config::load(input, &[])?, None, Path::new("probes").join(stem)))
    } else {
        Err(ProbeError::Input(format!("{}: no such config file or run folder", input.display())))
    }
}

/// Writes a probe's files so that its report marks it done: the figures first, then beside
/// the report its digest (`<probe>.sha256`: the report's SHA-256 and that of the config it was
/// computed for), then the report itself, each atomically. A kill before the report leaves the
/// probe not done; a report moved from another run's folder does not match its digest.
struct Writer {
    dir: PathBuf,
    files: Vec<PathBuf>,
    /// The report of the probe being written, held until its figures are.
    pending: Option<(String, String)>,
    /// SHA-256 of the config file the model comes from.
    config_sha256: String,
}

impl Writer {
    fn write(&mut self, name: &str, text: &str) -> Result<(), ProbeError> {
        let p = self.dir.join(name);
        crate::files::write_atomic(&p, text.as_bytes())
            .map_err(|e| ProbeError::Io(format!("cannot write {}: {e}", p.display())))?;
        self.files.push(p);
        Ok(())
    }

    /// A probe's report: written after its figures (by the next report, or `finish`).
    fn json(&mut self, name: &str, v: &impl Serialize) -> Result<(), ProbeError> {
        self.finish()?;
        let text = serde_json::to_string_pretty(v).map_err(|e| ProbeError::Io(format!("{name}: {e}")))?;
        self.pending = Some((name.to_string(), text + "\n"));
        Ok(())
    }

    /// Write the report held back, after its digest.
    fn finish(&mut self) -> Result<(), ProbeError> {
        if let Some((name, text)) = self.pending.take() {
            let digest =
                format!("{} {name}\n{} config.toml\n", crate::files::sha256(text.as_bytes()), self.config_sha256);
            let p = self.dir.join(digest_file(&name));
            crate::files::write_atomic(&p, digest.as_bytes())
                .map_err(|e| ProbeError::Io(format!("cannot write {}: {e}", p.display())))?;
            self.write(&name, &text)?;
        }
        Ok(())
    }
}

/// The digest file beside a probe's report: `gates.json` -> `gates.sha256`.
pub fn digest_file(report: &str) -> String {
    format!("{}.sha256", report.trim_end_matches(".json"))
}

/// Whether the report `bytes` in `probes_dir` is the one its digest file names, computed for
/// the config whose bytes are `config` (no digest file: a report of an older build, taken as
/// it is).
pub fn check_digest(probes_dir: &Path, report: &str, bytes: &[u8], config: &[u8]) -> Result<(), String> {
    let Ok(text) = std::fs::read_to_string(probes_dir.join(digest_file(report))) else { return Ok(()) };
    let mut lines = text.lines().map(|l| l.split_once(' ').map(|(h, _)| h));
    let (want, cfg) = (lines.next().flatten(), lines.next().flatten());
    if want != Some(crate::files::sha256(bytes).as_str()) {
        return Err(format!("{report} is not the report its digest ({}) names", digest_file(report)));
    }
    if cfg != Some(crate::files::sha256(config).as_str()) {
        return Err(format!("{report} was computed for another config than this run's config.toml"));
    }
    Ok(())
}

/// Run the probes on the model of `input` (a config: at initialisation, with the config's data;
/// a run folder: its config.toml and model.safetensors) and write their files.
pub fn run(input: &Path, opts: &ProbeOptions) -> Result<ProbeRun, ProbeError> {
    if opts.batches == 0 {
        return Err(ProbeError::Input("--batches must be at least 1".into()));
    }
    let (cfg, weights, default_out) = resolve_input(input)?;
    crate::train::budget::check(&cfg, None).map_err(|e| ProbeError::Input(e.to_string()))?;
    let what = if opts.what.is_empty() {
        applicable(&cfg.model)
    } else {
        for k in &opts.what {
            k.applies(&cfg.model).map_err(ProbeError::Input)?;
        }
        opts.what.clone()
    };
    let tensors = match &weights {
        Some(w) => Some(load_tensors(w).map_err(ProbeError::Input)?),
        None => None,
    };
    let data = load_data(&cfg, opts.data_dir.as_deref())?;
    let dir = opts.out.clone().unwrap_or(default_out);
    // One writer per probe folder, as per run folder.
    let _lock = crate::files::FolderLock::acquire(&dir).map_err(|e| {
        if e.busy {
            ProbeError::Busy(e.message)
        } else {
            ProbeError::Io(e.message)
        }
    })?;
    // Held: whatever temporaries are here, an interrupted writer left.
    crate::files::remove_temporaries(&dir)
        .map_err(|e| ProbeError::Io(format!("cannot clean {}: {e}", dir.display())))?;
    let cfg_file = if input.is_dir() { input.join("config.toml") } else { input.to_path_buf() };
    let config = std::fs::read(&cfg_file).map_err(|e| ProbeError::Io(format!("{}: {e}", cfg_file.display())))?;
    let mut w =
        Writer { dir: dir.clone(), files: Vec::new(), pending: None, config_sha256: crate::files::sha256(&config) };
    let origin = weights.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    let mut ran = Vec::new();
    let diagnosis = match data {
        Data::Flat(split) => {
            if cfg.model.arch.is_sequence() {
                return Err(ProbeError::Input(format!(
                    "model.arch = \"{}\" is a sequence model, but data set {:?} gives flat examples",
                    cfg.model.arch.name(),
                    cfg.data
                )));
            }
            let mut model =
                Model::<f32>::build(&cfg.model, split.train.in_dim(), split.train.y.out_dim(), cfg.loss(), cfg.seed)
                    .map_err(ProbeError::Input)?;
            if let Some(t) = &tensors {
                load_params(&mut model.params(), t, &origin).map_err(ProbeError::Input)?;
            }
            let batches: Vec<Dataset> = split
                .train_order(cfg.train.batch_size, cfg.seed, 0)
                .iter()
                .take(opts.batches)
                .map(|idx| split.train_batch(idx))
                .collect();
            let test = if split.test.is_empty() { &split.train } else { &split.test };
            feed_forward(&cfg, &mut model, &batches, test, &what, opts, &mut w, &mut ran)?
        }
        Data::Seq(split) => {
            if !cfg.model.arch.is_sequence() {
                return Err(ProbeError::Input(format!(
                    "model.arch = \"{}\" is a feed-forward model, but data set {} gives sequences",
                    cfg.model.arch.name(),
                    split.name
                )));
            }
            let mut model: SeqModel<f32> =
                build_seq_model(&cfg.model, &split, cfg.train.bptt_truncate, cfg.seed).map_err(ProbeError::Input)?;
            model.set_threads(opts.threads.or(cfg.train.threads).unwrap_or_else(crate::tensor::par::all_cores));
            if let Some(t) = &tensors {
                load_params(&mut model.params(), t, &origin).map_err(ProbeError::Input)?;
            }
            let batches: Vec<SeqBatch<f32>> = split
                .train_order(cfg.train.batch_size, cfg.seed, 0)
                .iter()
                .take(opts.batches)
                .map(|idx| split.train_batch(idx))
                .collect();
            sequence(&cfg, &mut model, &batches, &what, &mut w, &mut ran)?
        }
    };
    w.finish()?;
    Ok(ProbeRun { out: dir, trained: weights.is_some(), ran, files: w.files, diagnosis })
}

#[allow(clippy::too_many_arguments)]
fn feed_forward(
    cfg: &Config,
    model: &mut Model<f32>,
    batches: &[Dataset],
    test: &Dataset,
    what: &[ProbeKind],
    opts: &ProbeOptions,
    w: &mut Writer,
    ran: &mut Vec<(ProbeKind, f64)>,
) -> Result<Option<Diagnosis>, ProbeError> {
    let has = |k| what.contains(&k);
    let mut gf = None;
    if has(ProbeKind::Gradflow) || has(ProbeKind::Meanfield) || has(ProbeKind::Diagnosis) {
        let g = gradflow::feed_forward(model, batches);
        if has(ProbeKind::Gradflow) {
            ran.push((ProbeKind::Gradflow, g.elapsed_s));
            w.json("gradflow.json", &g)?;
            w.write("gradflow.svg", &plot_gradflow(&g))?;
            w.write("gradflow_params.svg", &plot_param_grads(&g))?;
        }
        gf = Some(g);
    }
    if has(ProbeKind::Meanfield) {
        let g = gf.as_ref().expect("computed above");
        let t = Instant::now();
        let m = meanfield::report(&cfg.model, g).map_err(ProbeError::Input)?;
        ran.push((ProbeKind::Meanfield, t.elapsed().as_secs_f64() + g.elapsed_s));
        w.json("meanfield.json", &m)?;
        w.write("meanfield.svg", &plot_meanfield(&m))?;
    }
    if has(ProbeKind::Lesion) {
        let mut lo = opts.lesion.clone();
        lo.seed ^= cfg.seed;
        let l = lesion::lesion(model, test, &lo).map_err(ProbeError::Input)?;
        ran.push((ProbeKind::Lesion, l.elapsed_s));
        w.json("lesion.json", &l)?;
        let (single, random) = plot_lesion(&l);
        w.write("lesion.svg", &single)?;
        w.write("lesion_random.svg", &random)?;
    }
    let mut hg = None;
    let want_gates =
        has(ProbeKind::Gates) || (has(ProbeKind::Diagnosis) && ProbeKind::Gates.applies(&cfg.model).is_ok());
    if want_gates {
        let g = gates::highway(model, batches).map_err(ProbeError::Input)?;
        if has(ProbeKind::Gates) {
            ran.push((ProbeKind::Gates, g.elapsed_s));
            w.json("gates.json", &g)?;
            let (a, b) = plot_highway_gates(&g);
            w.write("gates.svg", &a)?;
            w.write("gates_bias.svg", &b)?;
        }
        hg = Some(g);
    }
    if has(ProbeKind::Jacobian) {
        let x = test.take(jacobian::JacobianOptions::default().inputs).x;
        let j = jacobian::feed_forward(model, &x, &jacobian::JacobianOptions::default()).map_err(ProbeError::Input)?;
        ran.push((ProbeKind::Jacobian, j.elapsed_s));
        w.json("jacobian.json", &j)?;
        let (lines, hist) = jacobian::plot(&j);
        w.write("jacobian.svg", &lines)?;
        w.write("jacobian_hist.svg", &hist)?;
    }
    if has(ProbeKind::Paths) {
        let po = paths::PathOptions { seed: cfg.seed, ..Default::default() };
        let p = paths::paths(model, batches, &po).map_err(ProbeError::Input)?;
        ran.push((ProbeKind::Paths, p.elapsed_s));
        w.json("paths.json", &p)?;
        let (per, mass) = paths::plot(&p);
        w.write("paths.svg", &per)?;
        w.write("paths_mass.svg", &mass)?;
    }
    if has(ProbeKind::AuxShare) {
        let a = aux_share::aux_share(model, batches).map_err(ProbeError::Input)?;
        ran.push((ProbeKind::AuxShare, a.elapsed_s));
        w.json("aux_share.json", &a)?;
        w.write("aux_share.svg", &aux_share::plot(&a))?;
    }
    if has(ProbeKind::Diagnosis) {
        let t = Instant::now();
        let d = diagnosis::diagnose(gf.as_ref(), None, hg.as_ref(), None);
        let extra = gf.as_ref().map(|g| g.elapsed_s).unwrap_or(0.0) + hg.as_ref().map(|g| g.elapsed_s).unwrap_or(0.0);
        ran.push((ProbeKind::Diagnosis, t.elapsed().as_secs_f64() + extra));
        w.json("diagnosis.json", &d)?;
        return Ok(Some(d));
    }
    Ok(None)
}

fn sequence(
    cfg: &Config,
    model: &mut SeqModel<f32>,
    batches: &[SeqBatch<f32>],
    what: &[ProbeKind],
    w: &mut Writer,
    ran: &mut Vec<(ProbeKind, f64)>,
) -> Result<Option<Diagnosis>, ProbeError> {
    let has = |k| what.contains(&k);
    let mut gf = None;
    if has(ProbeKind::Gradflow) || has(ProbeKind::Diagnosis) {
        let g = gradflow::sequence(model, batches);
        if has(ProbeKind::Gradflow) {
            ran.push((ProbeKind::Gradflow, g.elapsed_s));
            w.json("gradflow.json", &g)?;
            let (lines, heat) = plot_seq_gradflow(&g);
            w.write("gradflow.svg", &lines)?;
            w.write("gradflow_heatmap.svg", &heat)?;
        }
        gf = Some(g);
    }
    let mut rg = None;
    let want_gates =
        has(ProbeKind::Gates) || (has(ProbeKind::Diagnosis) && ProbeKind::Gates.applies(&cfg.model).is_ok());
    if want_gates {
        let g = gates::recurrent(model, &cfg.model, batches).map_err(ProbeError::Input)?;
        if has(ProbeKind::Gates) {
            ran.push((ProbeKind::Gates, g.elapsed_s));
            w.json("gates.json", &g)?;
            w.write("gates.svg", &plot_recurrent_gates(&g))?;
        }
        rg = Some(g);
    }
    if has(ProbeKind::AuxShare) {
        let a = aux_share::sequence(model, batches).map_err(ProbeError::Input)?;
        ran.push((ProbeKind::AuxShare, a.elapsed_s));
        w.json("aux_share.json", &a)?;
        w.write("aux_share.svg", &aux_share::plot(&a))?;
    }
    if has(ProbeKind::Temporal) {
        let t = temporal::temporal(model, batches, &temporal::TemporalOptions::default()).map_err(ProbeError::Input)?;
        ran.push((ProbeKind::Temporal, t.elapsed_s));
        w.json("temporal.json", &t)?;
        let (mass, cum) = temporal::plot(&t);
        w.write("temporal.svg", &mass)?;
        w.write("temporal_cumulative.svg", &cum)?;
    }
    if has(ProbeKind::Diagnosis) {
        let t = Instant::now();
        let d = diagnosis::diagnose(None, gf.as_ref(), None, rg.as_ref());
        let extra = gf.as_ref().map(|g| g.elapsed_s).unwrap_or(0.0) + rg.as_ref().map(|g| g.elapsed_s).unwrap_or(0.0);
        ran.push((ProbeKind::Diagnosis, t.elapsed().as_secs_f64() + extra));
        w.json("diagnosis.json", &d)?;
        return Ok(Some(d));
    }
    Ok(None)
}

/// ||dL/dh_l|| against the stack layer (log scale).
pub fn plot_gradflow(g: &gradflow::Gradflow) -> String {
    let pts = g.layers.iter().map(|l| (l.layer as f64, l.norm)).collect();
    LinePlot::new("gradient norm at each layer's output", "layer", "||dL/dh_l||")
        .log_y(true)
        .series(Series::new("||dL/dh_l||", pts).markers())
        .to_svg()
}

/// ||dL/dtheta|| of each stack layer's parameter tensors, one line per kind of tensor.
pub fn plot_param_grads(g: &gradflow::Gradflow) -> String {
    let mut kinds: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for p in &g.params {
        let Some(rest) = p.name.strip_prefix("layers.") else { continue };
        let Some((i, kind)) = rest.split_once('.') else { continue };
        let Ok(i) = i.parse::<usize>() else { continue };
        match kinds.iter_mut().find(|k| k.0 == kind) {
            Some(k) => k.1.push((i as f64, p.grad_norm)),
            None => kinds.push((kind.to_string(), vec![(i as f64, p.grad_norm)])),
        }
    }
    let mut plot = LinePlot::new("parameter gradient norms", "layer", "||dL/dtheta||").log_y(true);
    for (k, pts) in kinds {
        plot = plot.series(Series::new(k, pts));
    }
    plot.to_svg()
}

/// Measured and predicted ||dL/dh_l|| (log scale).
pub fn plot_meanfield(m: &meanfield::MeanfieldReport) -> String {
    let meas = m.layers.iter().map(|l| (l.layer as f64, l.measured_log_norm.exp())).collect();
    let pred = m.layers.iter().map(|l| (l.layer as f64, l.predicted_log_norm.exp())).collect();
    LinePlot::new(
        format!(
            "mean field: sigma_w^2 = {}, sigma_b^2 = {}, chi_1 = {:.3}",
            fmt_num(m.theory.sigma_w2),
            fmt_num(m.theory.sigma_b2),
            m.theory.chi_1
        ),
        "layer",
        "||dL/dh_l||",
    )
    .log_y(true)
    .series(Series::new("measured", meas).markers())
    .series(Series::new("predicted chi_1^((L-l)/2)", pred).dashed())
    .to_svg()
}

/// The lesion plots: one block deleted (by layer), k random blocks deleted (by k).
pub fn plot_lesion(l: &lesion::Lesion) -> (String, String) {
    let acc = l.baseline.accuracy.is_some();
    let (what, base) =
        if acc { ("test accuracy", l.baseline.accuracy.unwrap()) } else { ("test loss", l.baseline.loss) };
    let val = |loss: f64, a: Option<f64>| if acc { a.unwrap_or(f64::NAN) } else { loss };
    let single: Vec<(f64, f64)> = l.single.iter().map(|s| (s.layer as f64, val(s.loss, s.accuracy))).collect();
    let xs = (
        l.single.first().map(|s| s.layer as f64).unwrap_or(0.0),
        l.single.last().map(|s| s.layer as f64).unwrap_or(1.0),
    );
    let mut p1 = LinePlot::new(format!("{what} with one layer deleted ({})", l.arch), "deleted layer", what)
        .series(Series::new("one layer deleted", single).markers())
        .series(Series::new("no deletion", vec![(xs.0, base), (xs.1, base)]).dashed());
    let ks = (1.0, l.random.len().max(1) as f64);
    let spread =
        l.random.iter().map(|r| (r.k as f64, val(r.loss_min, r.accuracy_min), val(r.loss_max, r.accuracy_max)));
    let mut p2 = LinePlot::new(format!("{what} with k random layers deleted ({})", l.arch), "layers deleted k", what)
        .series(
            Series::new(
                "mean over draws (band: min..max)",
                l.random.iter().map(|r| (r.k as f64, val(r.loss_mean, r.accuracy_mean))).collect(),
            )
            .markers()
            .band(spread.collect()),
        )
        .series(Series::new("no deletion", vec![(ks.0, base), (ks.1, base)]).dashed());
    if let (true, Some(c)) = (acc, l.chance_accuracy) {
        p1 = p1.series(Series::new("chance", vec![(xs.0, c), (xs.1, c)]).dashed());
        p2 = p2.series(Series::new("chance", vec![(ks.0, c), (ks.1, c)]).dashed());
    }
    (p1.to_svg(), p2.to_svg())
}

/// Highway gates per layer: mean T and saturation; and the gate biases.
pub fn plot_highway_gates(g: &gates::HighwayGates) -> (String, String) {
    let by = |f: &dyn Fn(&gates::HighwayLayer) -> f64| g.layers.iter().map(|l| (l.layer as f64, f(l))).collect();
    let mut p = LinePlot::new("highway transform gates", "layer", "T")
        .series(Series::new("mean T", by(&|l| l.transform.mean)).markers())
        .series(Series::new("fraction T < 0.1", by(&|l| l.transform.frac_below)).dashed())
        .series(Series::new("fraction T > 0.9", by(&|l| l.transform.frac_above)).dashed());
    if g.layers.iter().any(|l| l.carry.is_some()) {
        p = p.series(Series::new("mean C", by(&|l| l.carry.as_ref().map(|c| c.mean).unwrap_or(f64::NAN))));
    }
    let b = LinePlot::new("transform gate bias (mean over units)", "layer", "b_T")
        .series(Series::new("gate bias", by(&|l| l.gate_bias)).markers());
    (p.to_svg(), b.to_svg())
}

/// Mean gate values per step (at most 10 lines: the first layers' gates).
pub fn plot_recurrent_gates(g: &gates::RecurrentGates) -> String {
    let mut p = LinePlot::new(format!("{} gates per step", g.kind), "step t", "mean gate value");
    let multi = g.layers.len() > 1;
    for l in &g.layers {
        for gate in &l.gates {
            if p.series.len() >= 10 {
                break;
            }
            let name = if multi {
                format!("l{}{} {} ({})", l.layer, if l.direction == 1 { "r" } else { "" }, gate.gate, gate.role)
            } else {
                format!("{} ({})", gate.gate, gate.role)
            };
            let pts = gate.mean_per_step.iter().enumerate().map(|(t, v)| (t as f64, *v)).collect();
            p = p.series(Series::new(name, pts));
        }
    }
    p.to_svg()
}

/// ||dL/dh_t|| against the distance from the last step: lines, and a states-by-distance heat
/// map.
pub fn plot_seq_gradflow(g: &gradflow::SeqGradflow) -> (String, String) {
    let mut p =
        LinePlot::new("gradient norm against distance from the last step", "steps before the last", "||dL/dh_t||")
            .log_y(true);
    for s in g.series.iter().take(10) {
        let pts = s.by_distance.iter().enumerate().map(|(d, v)| (d as f64, *v)).collect();
        p = p.series(Series::new(s.name.trim_start_matches("act."), pts));
    }
    let heat = HeatMap {
        title: "||dL/dh_t|| by state and distance from the last step".into(),
        x_label: "steps before the last".into(),
        y_label: "state".into(),
        row_labels: g.series.iter().map(|s| s.name.trim_start_matches("act.").to_string()).collect(),
        x_start: 0.0,
        x_step: 1.0,
        values: g.series.iter().map(|s| s.by_distance.clone()).collect(),
        log: true,
        value_label: "||dL/dh_t||".into(),
        ..Default::default()
    };
    (p.to_svg(), heat.to_svg())
}
