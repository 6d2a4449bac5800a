//! A small reader and writer of NumPy `.npy` files (format versions 1, 2 and 3): C order,
//! little-endian `float32` (`<f4`), `float64` (`<f8`) and `int64` (`<i8`) arrays. Anything
//! else (Fortran order, big-endian, other dtypes, a truncated file) is an error that names the
//! file and what was found.

use std::path::Path;

/// The element type of an array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    F32,
    F64,
    I64,
}

impl DType {
    /// NumPy's name: "float32", "float64", "int64".
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::I64 => "int64",
        }
    }

    fn descr(self) -> &'static str {
        match self {
            DType::F32 => "<f4",
            DType::F64 => "<f8",
            DType::I64 => "<i8",
        }
    }

    fn size(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F64 | DType::I64 => 8,
        }
    }
}

/// The values of an array, in C (row-major) order.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I64(Vec<i64>),
}

/// An n-dimensional array read from (or to be written to) a `.npy` file.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Data,
}

impl Array {
    pub fn f32(shape: Vec<usize>, values: Vec<f32>) -> Self {
        assert_eq!(shape.iter().product::<usize>(), values.len(), "npy: shape {shape:?} for {} values", values.len());
        Array { shape, data: Data::F32(values) }
    }

    pub fn i64(shape: Vec<usize>, values: Vec<i64>) -> Self {
        assert_eq!(shape.iter().product::<usize>(), values.len(), "npy: shape {shape:?} for {} values", values.len());
        Array { shape, data: Data::I64(values) }
    }

    pub fn dtype(&self) -> DType {
        match self.data {
            Data::F32(_) => DType::F32,
            Data::F64(_) => DType::F64,
            Data::I64(_) => DType::I64,
        }
    }

    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Real values as f32 (float64 is rounded); None for integer arrays.
    pub fn to_f32(&self) -> Option<Vec<f32>> {
        match &self.data {
            Data::F32(v) => Some(v.clone()),
            Data::F64(v) => Some(v.iter().map(|&x| x as f32).collect()),
            Data::I64(_) => None,
        }
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let dims: Vec<String> = self.shape.iter().map(|d| d.to_string()).collect();
        let shape = match dims.len() {
            1 => format!("({},)", dims[0]),
            _ => format!("({})", dims.join(", ")),
        };
        let mut header = format!("{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}", self.dtype().descr());
        // Magic (6) + version (2) + length (2) + header + '\n', padded to a multiple of 64.
        let unpadded = 10 + header.len() + 1;
        header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
        header.push('\n');
        let mut out = Vec::with_capacity(10 + header.len() + self.len() * self.dtype().size());
        out.extend_from_slice(b"\x93NUMPY\x01\x00");
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        match &self.data {
            Data::F32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Data::F64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Data::I64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        }
        out
    }

    /// Parse a `.npy` file's bytes; `origin` names it in errors.
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Array, String> {
        let bad = |msg: String| format!("{origin}: not a .npy file we can read: {msg}");
        if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
            return Err(bad("it does not start with the .npy magic string".into()));
        }
        let (major, minor) = (bytes[6], bytes[7]);
        let (hlen, start) = match major {
            1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
            2 | 3 => {
                if bytes.len() < 12 {
                    return Err(bad("truncated header".into()));
                }
                (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
            }
            _ => return Err(bad(format!("format version {major}.{minor} is not 1, 2 or 3"))),
        };
        let header =
            bytes.get(start..start + hlen).ok_or_else(|| bad(format!("header of {hlen} bytes runs past the end")))?;
        let header = std::str::from_utf8(header).map_err(|_| bad("header is not text".into()))?;
        let descr = dict_value(header, "descr").ok_or_else(|| bad(format!("no 'descr' in header {header:?}")))?;
        let descr = descr.trim().trim_matches(|c| c == '\'' || c == '"');
        let dtype = match descr {
            "<f4" => DType::F32,
            "<f8" => DType::F64,
            "<i8" => DType::I64,
            other => {
                return Err(format!(
                    "{origin}: dtype {other:?} ({}); expected float32 ('<f4'), float64 ('<f8') or int64 ('<i8'), little-endian",
                    describe_descr(other)
                ))
            }
        };
        let fortran = dict_value(header, "fortran_order").ok_or_else(|| bad("no 'fortran_order' in header".into()))?;
        if fortran.trim() != "False" {
            return Err(format!(
                "{origin}: the array is stored in Fortran order; save it in C order (np.ascontiguousarray)"
            ));
        }
        let shape_txt = dict_value(header, "shape").ok_or_else(|| bad("no 'shape' in header".into()))?;
        let inner = shape_txt.trim().strip_prefix('(').and_then(|s| s.strip_suffix(')'));
        let inner = inner.ok_or_else(|| bad(format!("shape {shape_txt:?} is not a tuple")))?;
        let shape = inner
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<usize>().map_err(|_| bad(format!("shape {shape_txt:?} is not a tuple of sizes"))))
            .collect::<Result<Vec<usize>, String>>()?;
        let body = &bytes[start + hlen..];
        // The shape is the file's own claim: sized with checked arithmetic, as a header can name
        // more bytes than a usize counts.
        let needed = shape.iter().try_fold(dtype.size(), |acc, &d| acc.checked_mul(d));
        let Some(needed) = needed else {
            return Err(format!(
                "{origin}: shape {shape:?} of {} needs more bytes of data than any file can hold, the file holds {}",
                dtype.name(),
                body.len()
            ));
        };
        if body.len() != needed {
            return Err(format!(
                "{origin}: shape {shape:?} of {} needs {needed} bytes of data, the file holds {}",
                dtype.name(),
                body.len()
            ));
        }
        let data = match dtype {
            DType::F32 => Data::F32(body.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()),
            DType::F64 => Data::F64(body.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect()),
            DType::I64 => Data::I64(body.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect()),
        };
        Ok(Array { shape, data })
    }
}

/// NumPy's name for a descr we do not read, for error messages.
fn describe_descr(d: &str) -> String {
    let kind = match d.get(1..2) {
        Some("f") => "float",
        Some("i") => "int",
        Some("u") => "uint",
        Some("b") => "bool",
        Some("c") => "complex",
        _ => return "unsupported".into(),
    };
    let bits = d.get(2..).and_then(|s| s.parse::<usize>().ok()).and_then(|b| b.checked_mul(8));
    let end = if d.starts_with('>') { ", big-endian" } else { "" };
    match bits {
        Some(b) if kind != "bool" => format!("{kind}{b}{end}"),
        _ => format!("{kind}{end}"),
    }
}

/// The text of `'key': value` in a Python dict literal, up to the next top-level comma.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pat = [format!("'{key}'"), format!("\"{key}\"")];
    let pos = pat.iter().find_map(|p| header.find(p.as_str()).map(|i| i + p.len()))?;
    let rest = header[pos..].trim_start().strip_prefix(':')?;
    let mut depth = 0i32;
    for (i, c) in rest.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' | '}' if depth == 0 => return Some(&rest[..i]),
            _ => {}
        }
    }
    None
}

/// Read a `.npy` file.
pub fn read(path: &Path) -> Result<Array, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Array::from_bytes(&bytes, &path.display().to_string())
}

/// Write a `.npy` file (version 1.0) atomically.
pub fn write(path: &Path, array: &Array) -> Result<(), String> {
    crate::train::write_atomic(path, &array.to_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_header_alignment() {
        for a in [
            Array::f32(vec![2, 3], vec![1.0, -2.5, 3.0, 0.0, 1e-30, 7.0]),
            Array::i64(vec![4], vec![0, -100, 5, i64::MAX]),
            Array { shape: vec![1, 2, 1], data: Data::F64(vec![0.1, 0.2]) },
            Array::f32(vec![], vec![3.5]),
        ] {
            let b = a.to_bytes();
            let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
            assert_eq!((10 + hlen) % 64, 0);
            assert_eq!(Array::from_bytes(&b, "t").unwrap(), a);
        }
    }

    #[test]
    fn reads_numpy_headers_and_rejects_the_rest() {
        // As numpy 1.x writes it (version 1.0, shape (3,)).
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        let h = "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }";
        let h = format!("{h}{}\n", " ".repeat(128 - 10 - h.len() - 1));
        b.extend_from_slice(&(h.len() as u16).to_le_bytes());
        b.extend_from_slice(h.as_bytes());
        for v in [1i64, 2, 3] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(Array::from_bytes(&b, "t").unwrap(), Array::i64(vec![3], vec![1, 2, 3]));
        let swap = |from: &[u8], to: &[u8]| {
            let mut c = b.clone();
            let i = c.windows(from.len()).position(|w| w == from).unwrap();
            c[i..i + from.len()].copy_from_slice(to);
            c
        };
        let e = Array::from_bytes(&swap(b"<i8", b"<i4"), "y.npy").unwrap_err();
        assert!(e.contains("y.npy") && e.contains("int32"), "{e}");
        assert!(Array::from_bytes(&swap(b"False", b"True "), "t").unwrap_err().contains("Fortran"));
        let e = Array::from_bytes(&b[..b.len() - 3], "t").unwrap_err();
        assert!(e.contains("needs 24 bytes"), "{e}");
    }
}
