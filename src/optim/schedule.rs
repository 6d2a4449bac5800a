//! Learning-rate schedules, counted in optimizer steps from 0, with an optional linear warm-up.
//!
//! In TOML, inside a config table:
//!
//! ```toml
//! schedule = { kind = "cosine", total = 1000, min_lr = 0.0 }
//! warmup = 100
//! ```
//!
//! `kind` is one of `constant`, `step` (`every`, `gamma`), `exponential` (`gamma`) and `cosine`
//! (`total`, `min_lr`). Values are checked when parsed.

use serde::{Deserialize, Serialize};

/// The decay part of a schedule, as a function of the step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", try_from = "ScheduleTable")]
pub enum Schedule {
    /// `base_lr` throughout.
    #[default]
    Constant,
    /// `base_lr * gamma^(step / every)` (integer division): multiplied by `gamma` at steps
    /// `every`, `2 * every`, ...
    Step { every: usize, gamma: f64 },
    /// `base_lr * gamma^step`.
    Exponential { gamma: f64 },
    /// Half a cosine from `base_lr` at step 0 to `min_lr` at step `total`, then `min_lr`:
    /// `min_lr + (base_lr - min_lr) * (1 + cos(pi * step / total)) / 2`.
    Cosine { total: usize, min_lr: f64 },
}

const KINDS: &str = "`constant`, `step` (every, gamma), `exponential` (gamma) or `cosine` (total, min_lr)";

/// A schedule table as parsed, before its `kind` is looked at: serde's own message for a missing
/// tag would not say which kinds exist.
#[derive(Deserialize)]
#[serde(transparent)]
struct ScheduleTable(serde_json::Map<String, serde_json::Value>);

/// The same shape as [`Schedule`], parsed from a [`ScheduleTable`] and then checked.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum ScheduleSpec {
    // A struct variant, so that `deny_unknown_fields` rejects `{ kind = "constant", gamma = .. }`.
    Constant {},
    Step { every: usize, gamma: f64 },
    Exponential { gamma: f64 },
    Cosine { total: usize, min_lr: f64 },
}

impl TryFrom<ScheduleTable> for Schedule {
    type Error = String;
    fn try_from(ScheduleTable(table): ScheduleTable) -> Result<Self, String> {
        if !table.contains_key("kind") {
            return Err(format!("schedule: missing `kind`; expected {KINDS}"));
        }
        let spec: ScheduleSpec =
            serde_json::from_value(serde_json::Value::Object(table)).map_err(|e| format!("schedule: {e}"))?;
        let s = match spec {
            ScheduleSpec::Constant {} => Schedule::Constant,
            ScheduleSpec::Step { every, gamma } => Schedule::Step { every, gamma },
            ScheduleSpec::Exponential { gamma } => Schedule::Exponential { gamma },
            ScheduleSpec::Cosine { total, min_lr } => Schedule::Cosine { total, min_lr },
        };
        s.validate()?;
        Ok(s)
    }
}

impl Schedule {
    pub fn validate(&self) -> Result<(), String> {
        let gamma_ok = |kind: &str, gamma: f64| {
            if gamma > 0.0 && gamma <= 1.0 {
                Ok(())
            } else {
                Err(format!("schedule `{kind}`: gamma must be in (0, 1], got {gamma}"))
            }
        };
        match *self {
            Schedule::Constant => Ok(()),
            Schedule::Step { every, gamma } => {
                if every == 0 {
                    return Err("schedule `step`: every must be >= 1".to_string());
                }
                gamma_ok("step", gamma)
            }
            Schedule::Exponential { gamma } => gamma_ok("exponential", gamma),
            Schedule::Cosine { total, min_lr } => {
                if total == 0 {
                    return Err("schedule `cosine`: total must be >= 1".to_string());
                }
                if !(min_lr.is_finite() && min_lr >= 0.0) {
                    return Err(format!("schedule `cosine`: min_lr must be a finite number >= 0, got {min_lr}"));
                }
                Ok(())
            }
        }
    }

    /// The learning rate at `step` (from 0) without warm-up.
    pub fn lr_at(&self, base_lr: f64, step: usize) -> f64 {
        match *self {
            Schedule::Constant => base_lr,
            // `every.max(1)`: an unvalidated `every = 0` decays nothing rather than dividing by 0.
            Schedule::Step { every, gamma } => base_lr * gamma.powf((step / every.max(1)) as f64),
            Schedule::Exponential { gamma } => base_lr * gamma.powf(step as f64),
            Schedule::Cosine { total, min_lr } => {
                if step >= total {
                    min_lr
                } else {
                    let phase = std::f64::consts::PI * step as f64 / total as f64;
                    min_lr + (base_lr - min_lr) * 0.5 * (1.0 + phase.cos())
                }
            }
        }
    }
}

/// A schedule wrapped in a linear warm-up. The warm-up multiplies the schedule by
/// `(step + 1) / warmup` for `step < warmup` (so the first step already moves, and step
/// `warmup - 1` runs at the full rate); the schedule itself runs on the absolute step, so a cosine
/// `total` is the run's total step count.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LrSchedule {
    #[serde(default)]
    pub schedule: Schedule,
    /// Warm-up steps; 0 = none.
    #[serde(default)]
    pub warmup: usize,
}

impl LrSchedule {
    pub fn validate(&self) -> Result<(), String> {
        self.schedule.validate()
    }

    /// The learning rate of optimizer step `step` (counted from 0).
    pub fn lr_at(&self, base_lr: f64, step: usize) -> f64 {
        let lr = self.schedule.lr_at(base_lr, step);
        if step < self.warmup {
            lr * (step + 1) as f64 / self.warmup as f64
        } else {
            lr
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1.0)
    }

    #[test]
    fn warmup_ramp() {
        let s = LrSchedule { schedule: Schedule::Constant, warmup: 4 };
        let lrs: Vec<f64> = (0..6).map(|t| s.lr_at(0.8, t)).collect();
        assert_eq!(lrs, vec![0.2, 0.4, 0.6000000000000001, 0.8, 0.8, 0.8]);
        let none = LrSchedule::default();
        assert_eq!(none.lr_at(0.8, 0), 0.8);
        // Warm-up multiplies the wrapped schedule.
        let s = LrSchedule { schedule: Schedule::Exponential { gamma: 0.5 }, warmup: 2 };
        assert!(close(s.lr_at(1.0, 0), 0.5) && close(s.lr_at(1.0, 1), 0.5) && close(s.lr_at(1.0, 2), 0.25));
    }

    #[test]
    fn step_decay_boundaries() {
        let s = Schedule::Step { every: 10, gamma: 0.1 };
        assert_eq!(s.lr_at(1.0, 0), 1.0);
        assert_eq!(s.lr_at(1.0, 9), 1.0);
        assert!(close(s.lr_at(1.0, 10), 0.1));
        assert!(close(s.lr_at(1.0, 19), 0.1));
        assert!(close(s.lr_at(1.0, 20), 0.01));
    }

    #[test]
    fn exponential() {
        let s = Schedule::Exponential { gamma: 0.9 };
        assert_eq!(s.lr_at(2.0, 0), 2.0);
        assert!(close(s.lr_at(2.0, 3), 2.0 * 0.729));
    }

    #[test]
    fn cosine_key_points() {
        let s = Schedule::Cosine { total: 100, min_lr: 0.01 };
        assert_eq!(s.lr_at(1.0, 0), 1.0);
        assert!(close(s.lr_at(1.0, 50), 0.505));
        assert!(s.lr_at(1.0, 99) > 0.01 && s.lr_at(1.0, 99) < 0.011);
        assert_eq!(s.lr_at(1.0, 100), 0.01);
        assert_eq!(s.lr_at(1.0, 1000), 0.01);
        // Monotone non-increasing.
        assert!((1..=100).all(|t| s.lr_at(1.0, t) <= s.lr_at(1.0, t - 1)));
        let w = LrSchedule { schedule: s, warmup: 10 };
        assert_eq!(w.lr_at(1.0, 100), 0.01);
        assert!(close(w.lr_at(1.0, 0), 0.1 * Schedule::Cosine { total: 100, min_lr: 0.01 }.lr_at(1.0, 0)));
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Wrapper {
        lr: LrSchedule,
    }

    #[test]
    fn toml_parsing() {
        let s: LrSchedule =
            toml::from_str("schedule = { kind = \"cosine\", total = 1000, min_lr = 0.0 }\nwarmup = 100").unwrap();
        assert_eq!(s, LrSchedule { schedule: Schedule::Cosine { total: 1000, min_lr: 0.0 }, warmup: 100 });
        let s: LrSchedule = toml::from_str("schedule = { kind = \"step\", every = 30, gamma = 0.1 }").unwrap();
        assert_eq!(s.schedule, Schedule::Step { every: 30, gamma: 0.1 });
        assert_eq!(s.warmup, 0);
        let s: LrSchedule = toml::from_str("schedule = { kind = \"constant\" }").unwrap();
        assert_eq!(s.schedule, Schedule::Constant);
        let s: LrSchedule = toml::from_str("").unwrap();
        assert_eq!(s, LrSchedule::default());
        // Integer literals for float fields.
        let s: LrSchedule = toml::from_str("schedule = { kind = \"exponential\", gamma = 1 }").unwrap();
        assert_eq!(s.schedule, Schedule::Exponential { gamma: 1.0 });
        let w: Wrapper =
            toml::from_str("[lr]\nwarmup = 5\nschedule = { kind = \"cosine\", total = 10, min_lr = 0 }").unwrap();
        assert_eq!(w.lr.warmup, 5);
        // Round trip.
        let s = LrSchedule { schedule: Schedule::Cosine { total: 10, min_lr: 0.5 }, warmup: 3 };
        assert_eq!(toml::from_str::<LrSchedule>(&toml::to_string(&s).unwrap()).unwrap(), s);
    }

    #[test]
    fn toml_errors_name_what_is_allowed() {
        let err = |src: &str| toml::from_str::<LrSchedule>(src).unwrap_err().to_string();
        let e = err("schedule = { kind = \"cosin\", total = 10, min_lr = 0.0 }");
        assert!(
            e.contains("cosin") && e.contains("constant") && e.contains("exponential") && e.contains("cosine"),
            "{e}"
        );
        let e = err("schedule = { kind = \"cosine\", total = 10, min = 0.0 }");
        assert!(e.contains("min") && e.contains("min_lr"), "{e}");
        let e = err("schedule = { kind = \"cosine\", total = 10 }");
        assert!(e.contains("min_lr"), "{e}");
        let e = err("schedule = { total = 10, min_lr = 0.0 }");
        assert!(e.contains("kind") && e.contains("cosine") && e.contains("constant"), "{e}");
        let e = err("schedule = \"cosine\"");
        assert!(e.contains("cosine"), "{e}");
        let e = err("schedule = { kind = \"constant\", gamma = 0.5 }");
        assert!(e.contains("gamma"), "{e}");
        let e = err("warmpu = 10");
        assert!(e.contains("warmpu") && e.contains("warmup") && e.contains("schedule"), "{e}");
        let e = err("schedule = { kind = \"step\", every = 0, gamma = 0.5 }");
        assert!(e.contains("every must be >= 1"), "{e}");
        let e = err("schedule = { kind = \"exponential\", gamma = 1.5 }");
        assert!(e.contains("(0, 1]"), "{e}");
        let e = err("schedule = { kind = \"cosine\", total = 0, min_lr = 0.0 }");
        assert!(e.contains("total must be >= 1"), "{e}");
    }
}
