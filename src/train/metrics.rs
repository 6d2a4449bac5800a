//! metrics.jsonl: one JSON object per line, appended and flushed as the run goes.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use serde_json::Value;

pub struct MetricsLog {
    file: File,
    bytes: u64,
}

impl MetricsLog {
    /// Open for appending, first cutting the file to `keep_bytes` (the length recorded by the
    /// checkpoint we resume from, so records written after it are not duplicated).
    pub fn open(path: &Path, keep_bytes: Option<u64>) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let bytes = match keep_bytes {
            Some(n) => {
                file.set_len(n)?;
                n
            }
            None => {
                file.set_len(0)?;
                0
            }
        };
        Ok(MetricsLog { file, bytes })
    }

    pub fn write(&mut self, record: &Value) -> std::io::Result<()> {
        let mut line = serde_json::to_string(record).expect("json");
        line.push('\n');
        self.file.write_all(line.as_bytes())?;
        self.file.flush()?;
        self.bytes += line.len() as u64;
        Ok(())
    }

    /// Bytes written so far (what a checkpoint records).
    pub fn len(&self) -> u64 {
        self.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }
}
