//! The character vectors of an R package's data, as Debian's R packages install them: a
//! lazy-load database `data/Rdata.rdb`, the objects one after another, each a 4-byte big-endian
//! length and a zlib stream of the object in R's XDR serialisation (format 2 or 3). Enough of
//! that format to read character vectors (STRSXP of CHARSXP), nothing more: the Austen text is
//! six of them, one element per line of a novel.

use std::io::Read;

const STRSXP: u32 = 16;
const CHARSXP: u32 = 9;
/// R's `LATIN1_MASK` among a CHARSXP's general-purpose bits (the flags above bit 12).
const LATIN1: u32 = 1 << 2;
/// An R string of length -1 is `NA`.
const NA_LENGTH: i32 = -1;

/// Every element of every object of the database, in the order stored. Each object must be a
/// character vector without `NA`.
pub fn rdb_lines(raw: &[u8]) -> Result<Vec<String>, String> {
    let mut lines = Vec::new();
    let mut pos = 0;
    let mut object = 0;
    while pos < raw.len() {
        object += 1;
        let start = pos;
        let at = |what: &str| format!("object {object} (byte {start}): {what}");
        let len = raw.get(pos..pos + 4).ok_or_else(|| at("cut short"))?;
        let len = u32::from_be_bytes(len.try_into().expect("4 bytes")) as usize;
        let mut z = flate2::read::ZlibDecoder::new(&raw[pos + 4..]);
        let mut body = Vec::with_capacity(len.min(1 << 26));
        z.by_ref()
            .take(len as u64 + 1)
            .read_to_end(&mut body)
            .map_err(|e| at(&format!("not a zlib stream (R's other compressions are not read): {e}")))?;
        if body.len() != len {
            return Err(at(&format!("{} bytes, where its header says {len}", body.len())));
        }
        pos += 4 + z.total_in() as usize;
        strings(&body, &mut lines).map_err(|e| at(&e))?;
    }
    Ok(lines)
}

/// The elements of one serialised character vector, appended to `out`.
fn strings(b: &[u8], out: &mut Vec<String>) -> Result<(), String> {
    let mut r = Xdr { b, pos: 0 };
    if r.bytes(2)? != b"X\n" {
        return Err("not R's XDR serialisation (no `X\\n` header)".into());
    }
    let version = r.int()?;
    r.int()?; // the R version that wrote it
    r.int()?; // the oldest R version that reads it
    match version {
        2 => {}
        3 => {
            let n = r.len()?;
            r.bytes(n)?; // the native encoding's name
        }
        v => return Err(format!("serialisation format {v}, expected 2 or 3")),
    }
    let flags = r.int()?;
    if flags & 0xff != STRSXP {
        return Err(format!("an R object of type {}, not a character vector", flags & 0xff));
    }
    let n = r.len()?;
    out.reserve(n);
    for i in 0..n {
        let flags = r.int()?;
        if flags & 0xff != CHARSXP {
            return Err(format!("element {i}: an R object of type {}, not a string", flags & 0xff));
        }
        let len = r.int()? as i32;
        if len == NA_LENGTH {
            return Err(format!("element {i} is NA"));
        }
        let bytes = r.bytes(usize::try_from(len).map_err(|_| format!("element {i}: length {len}"))?)?;
        out.push(if (flags >> 12) & LATIN1 != 0 {
            bytes.iter().map(|&c| c as char).collect()
        } else {
            String::from_utf8(bytes.to_vec()).map_err(|e| format!("element {i}: not UTF-8: {e}"))?
        });
    }
    Ok(())
}

/// Big-endian reads over a byte slice.
struct Xdr<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Xdr<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], String> {
        let s = self.b.get(self.pos..self.pos.saturating_add(n)).ok_or("cut short")?;
        self.pos += n;
        Ok(s)
    }

    fn int(&mut self) -> Result<u32, String> {
        Ok(u32::from_be_bytes(self.bytes(4)?.try_into().expect("4 bytes")))
    }

    /// A length: an int, or -1 and then two ints for lengths of 2^31 and more.
    fn len(&mut self) -> Result<usize, String> {
        match self.int()? as i32 {
            -1 => {
                let (hi, lo) = (self.int()? as u64, self.int()? as u64);
                usize::try_from((hi << 32) | lo).map_err(|e| e.to_string())
            }
            n if n >= 0 => Ok(n as usize),
            n => Err(format!("negative length {n}")),
        }
    }
}

/// Test support: a database of character vectors, as R writes one (format 3, UTF-8 strings
/// flagged ASCII or UTF-8 as R does).
#[cfg(test)]
pub(crate) fn write_rdb(objects: &[Vec<String>]) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::new();
    for lines in objects {
        let mut s: Vec<u8> = b"X\n".to_vec();
        let int = |s: &mut Vec<u8>, v: u32| s.extend_from_slice(&v.to_be_bytes());
        for v in [3, 0x0004_0201, 0x0003_0500, 5] {
            int(&mut s, v);
        }
        s.extend_from_slice(b"UTF-8");
        int(&mut s, STRSXP);
        int(&mut s, lines.len() as u32);
        for l in lines {
            let gp = if l.is_ascii() { 1 << 6 } else { 1 << 3 };
            int(&mut s, CHARSXP | (gp << 12));
            int(&mut s, l.len() as u32);
            s.extend_from_slice(l.as_bytes());
        }
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&s).unwrap();
        out.extend_from_slice(&(s.len() as u32).to_be_bytes());
        out.extend_from_slice(&z.finish().unwrap());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn objects_in_order_line_by_line() {
        let rdb = write_rdb(&[v(&["EMMA", "", "By Jane Austen"]), v(&["Persuasion", "café"])]);
        assert_eq!(rdb_lines(&rdb).unwrap(), v(&["EMMA", "", "By Jane Austen", "Persuasion", "café"]));
        assert_eq!(rdb_lines(&[]).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn latin1_strings_are_decoded() {
        let mut rdb = write_rdb(&[v(&["x"])]);
        // The same object by hand: one Latin-1 string "é" (0xe9).
        let mut s: Vec<u8> = b"X\n".to_vec();
        for x in [2u32, 0x0004_0201, 0x0002_0300, STRSXP, 1, CHARSXP | (LATIN1 << 12), 1] {
            s.extend_from_slice(&x.to_be_bytes());
        }
        s.push(0xe9);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut z, &s).unwrap();
        rdb.extend_from_slice(&(s.len() as u32).to_be_bytes());
        rdb.extend_from_slice(&z.finish().unwrap());
        assert_eq!(rdb_lines(&rdb).unwrap(), v(&["x", "é"]));
    }

    #[test]
    fn what_is_not_a_character_vector_says_where() {
        let good = write_rdb(&[v(&["a", "b"])]);
        let e = rdb_lines(&good[..good.len() - 3]).unwrap_err();
        assert!(e.starts_with("object 1 (byte 0): "), "{e}");
        let mut two = good.clone();
        two.extend_from_slice(&[0, 0, 0, 9, 1, 2, 3]);
        let e = rdb_lines(&two).unwrap_err();
        assert!(e.starts_with(&format!("object 2 (byte {}): not a zlib stream", good.len())), "{e}");
        // An integer vector (INTSXP, 13) instead of strings.
        let mut s: Vec<u8> = b"X\n".to_vec();
        for x in [2u32, 0, 0, 13, 0] {
            s.extend_from_slice(&x.to_be_bytes());
        }
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut z, &s).unwrap();
        let mut ints = (s.len() as u32).to_be_bytes().to_vec();
        ints.extend_from_slice(&z.finish().unwrap());
        let e = rdb_lines(&ints).unwrap_err();
        assert!(e.contains("type 13, not a character vector"), "{e}");
    }
}
