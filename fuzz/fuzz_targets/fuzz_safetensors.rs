//! Safetensors files as `train` (checkpoints, optimizer state) and `grads` (PyTorch weights)
//! read them.
#![no_main]

use depthlab::grads::weights_from_bytes;
use depthlab::train::checkpoint::tensors_from_bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let tensors = tensors_from_bytes(data, "fuzz.safetensors");
    let weights = weights_from_bytes(data, "fuzz.safetensors");
    if let Ok(tensors) = tensors {
        // Every file `train` accepts, `grads` accepts too, with the same names and shapes.
        let weights = weights.expect("grads rejects a file that train reads");
        assert_eq!(tensors.len(), weights.len());
        for ((name, shape, values), w) in tensors.iter().zip(&weights) {
            assert_eq!((name, shape), (&w.name, &w.shape));
            assert_eq!(values.len(), shape.iter().product::<usize>());
        }
    }
});
