//! metrics.jsonl (and gradflow.jsonl): one JSON object per line, appended as the run goes and
//! flushed to disk before each checkpoint that records its length.

use std::path::Path;

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::files::AppendLog;

pub struct MetricsLog(AppendLog);

impl MetricsLog {
    /// Open for appending, first cutting the file to `keep_bytes` (the length recorded by the
    /// checkpoint we resume from, so records written after it are not duplicated); None starts
    /// it empty.
    pub fn open(path: &Path, keep_bytes: Option<u64>) -> std::io::Result<Self> {
        AppendLog::open(path, keep_bytes).map(MetricsLog)
    }

    pub fn write(&mut self, record: &Value) -> std::io::Result<()> {
        let mut line = serde_json::to_string(record).expect("json");
        line.push('\n');
        self.0.append(&line)
    }

    /// Bytes written so far (what a checkpoint records).
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn log(&self) -> &AppendLog {
        &self.0
    }
}

/// One line of metrics.jsonl: its kind ("epoch", "step", "diverged"), where it was logged, and
/// its numbers by name (null, a non-finite number, as NaN).
#[derive(Clone, Debug, Deserialize)]
pub struct Record {
    pub kind: String,
    pub epoch: usize,
    pub step: usize,
    #[serde(flatten)]
    values: BTreeMap<String, Value>,
}

impl Record {
    /// The number `key`, if the record has it.
    pub fn get(&self, key: &str) -> Option<f64> {
        match self.values.get(key)? {
            Value::Null => Some(f64::NAN),
            v => v.as_f64(),
        }
    }
}
