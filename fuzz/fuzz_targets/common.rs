//! What more than one target needs.

use std::io::Write;

/// `bytes` gzipped. Mutating a compressed file rarely yields a valid deflate stream, so the
/// targets for readers that accept gzip also feed them the fuzzed bytes compressed: that drives
/// the parser behind the decompressor, not just the decompressor.
pub fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).expect("writing to a Vec");
    e.finish().expect("writing to a Vec")
}

/// Whether `bytes` start as a gzip stream does. Such bytes gzipped once more would be unpacked
/// only once by the readers, so their verdict rightly differs from that of the bytes as given.
pub fn is_gz(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}
