//! Safetensors files of named f32 tensors, written atomically (temporary file, then rename),
//! with PyTorch state-dict names so that weights move to and from PyTorch.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;

use crate::nn::ParamList;

/// One tensor: name, shape, values.
pub type NamedTensor = (String, Vec<usize>, Vec<f32>);

pub use crate::files::write_atomic;

/// `tensors` as the bytes of a safetensors file.
pub fn tensors_to_bytes(tensors: &[NamedTensor], metadata: Option<HashMap<String, String>>) -> Result<Vec<u8>, String> {
    let bytes: Vec<Vec<u8>> =
        tensors.iter().map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), b)| {
            (name.clone(), TensorView::new(Dtype::F32, shape.clone(), b).expect("shape matches data"))
        })
        .collect();
    safetensors::serialize(views, metadata).map_err(|e| e.to_string())
}

/// Write `tensors` to a safetensors file, atomically.
pub fn save_tensors(
    path: &Path,
    tensors: &[NamedTensor],
    metadata: Option<HashMap<String, String>>,
) -> Result<(), String> {
    let data = tensors_to_bytes(tensors, metadata).map_err(|e| format!("{}: {e}", path.display()))?;
    write_atomic(path, &data).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Every tensor of a safetensors file as f32 (F64 is converted), in file order.
pub fn load_tensors(path: &Path) -> Result<Vec<NamedTensor>, String> {
    let data = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    tensors_from_bytes(&data, &path.display().to_string())
}

/// [`load_tensors`] of a file's bytes; `origin` names it in errors.
pub fn tensors_from_bytes(data: &[u8], origin: &str) -> Result<Vec<NamedTensor>, String> {
    let st = SafeTensors::deserialize(data).map_err(|e| format!("{origin}: not a safetensors file: {e}"))?;
    let mut out = Vec::new();
    for (name, view) in st.tensors() {
        let raw = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect(),
            Dtype::F64 => raw.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32).collect(),
            other => return Err(format!("{origin}: tensor `{name}` has dtype {other:?}; expected F32 or F64")),
        };
        out.push((name, view.shape().to_vec(), values));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The parameters as named tensors, in their PyTorch shapes.
pub fn params_to_tensors(params: &ParamList<f32>) -> Vec<NamedTensor> {
    params.iter().map(|(n, p)| (n.clone(), p.shape.clone(), p.value.data.clone())).collect()
}

/// Copy `tensors` into `params`, by name. Every parameter must be present with its shape and no
/// tensor may be left over; the error names the tensor and the expected and found shapes, and
/// nothing is changed unless everything fits.
pub fn load_params(params: &mut ParamList<f32>, tensors: &[NamedTensor], origin: &str) -> Result<(), String> {
    let by_name: HashMap<&str, &NamedTensor> = tensors.iter().map(|t| (t.0.as_str(), t)).collect();
    for (name, p) in params.iter() {
        let t = by_name
            .get(name.as_str())
            .ok_or_else(|| format!("{origin}: missing tensor `{name}` (expected shape {:?})", p.shape))?;
        if t.1 != p.shape {
            return Err(format!("{origin}: tensor `{name}` has shape {:?}; the model expects {:?}", t.1, p.shape));
        }
        if t.2.len() != p.len() {
            return Err(format!(
                "{origin}: tensor `{name}` of shape {:?} holds {} values, not {}",
                t.1,
                t.2.len(),
                p.len()
            ));
        }
    }
    let known: std::collections::HashSet<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
    if let Some(extra) = tensors.iter().find(|t| !known.contains(t.0.as_str())) {
        return Err(format!(
            "{origin}: unexpected tensor `{}` (shape {:?}): the model has no such parameter",
            extra.0, extra.1
        ));
    }
    for (name, p) in params.iter_mut() {
        p.value.data.copy_from_slice(&by_name[name.as_str()].2);
    }
    Ok(())
}
