#!/usr/bin/env python3
"""Seed corpora of the fuzz targets (fuzz/corpus/<target>/): small real inputs of every parser.

Run from the repository root with the data folder in DEPTHLAB_DATA (default ../shared/data):

    python3 tools/fuzz_seeds.py

Only the standard library is used. The output is deterministic (no time stamps in the tar and
gzip files), so rerunning it changes nothing that is committed. The seeds are kept small:
libFuzzer caps the input length at the largest seed, and short inputs mutate faster.
"""

import glob
import gzip
import io
import json
import os
import shutil
import struct
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("DEPTHLAB_DATA") or os.path.join(ROOT, "..", "shared", "data")
OUT = os.path.join(ROOT, "fuzz", "corpus")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def gz(data):
    return gzip.compress(data, mtime=0)


def idx(magic, dims, body):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + bytes(body)


def idx_seeds():
    put("fuzz_idx", "images-3x2x3", idx(0x803, [3, 2, 3], [i * 37 % 256 for i in range(18)]))
    put("fuzz_idx", "labels-5", idx(0x801, [5], [5, 0, 4, 1, 9]))
    put("fuzz_idx", "labels-5.gz", gz(idx(0x801, [5], [5, 0, 4, 1, 9])))
    put("fuzz_idx", "images-empty", idx(0x803, [0, 28, 28], []))
    # The first real MNIST image, with its header rewritten to say one image.
    with gzip.open(os.path.join(DATA, "mnist", "train-images.idx3-ubyte.gz")) as f:
        f.read(16)
        first = f.read(28 * 28)
    put("fuzz_idx", "images-mnist-first.gz", gz(idx(0x803, [1, 28, 28], first)))


def safetensors(tensors, metadata=None):
    """tensors: (name, dtype, shape, bytes); the header as the safetensors crate writes it."""
    header, body, offset = {}, b"", 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        body += data
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + body


def f32(*v):
    return struct.pack("<%df" % len(v), *v)


def safetensors_seeds():
    for src in ["rnn_relu_mse/weights.safetensors", "rnn_tanh/weights.safetensors"]:
        shutil.copy(os.path.join(ROOT, "tests", "fixtures", "torch", src), os.path.join(OUT, "fuzz_safetensors", src.split("/")[0] + ".safetensors"))
    put("fuzz_safetensors", "f32-f64-meta.safetensors", safetensors(
        [("head.weight", "F32", [2, 2], f32(1, -2, 0.5, 3)), ("head.bias", "F64", [2], struct.pack("<2d", 0.25, -1)),
         ("scalar", "F32", [], f32(7))],
        {"step": "12", "format": "pt"}))
    put("fuzz_safetensors", "i64-and-empty.safetensors", safetensors(
        [("tokens", "I64", [3], struct.pack("<3q", 1, 2, 3)), ("nothing", "F32", [0, 4], b"")]))
    put("fuzz_safetensors", "no-tensors.safetensors", safetensors([]))


def npy_seeds():
    picks = {
        "f32-input.npy": "depthlab_made/dense_gelu_mse/input.npy",
        "f32-target.npy": "depthlab_made/dense_gelu_mse/target.npy",
        "i64-tokens.npy": "depthlab_made/gru_bidirectional_tokens_each/input.npy",
        "i64-labels.npy": "depthlab_made/lstm_last/target.npy",
        "f32-3d.npy": "rnn_tanh/input.npy",
    }
    for name, src in picks.items():
        shutil.copy(os.path.join(ROOT, "tests", "fixtures", "torch", src), os.path.join(OUT, "fuzz_npy", name))

    def npy(major, descr, shape, body):
        dims = "(%s)" % (", ".join(map(str, shape)) + ("," if len(shape) == 1 else ""))
        h = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, dims)
        lenfmt = "<H" if major == 1 else "<I"
        pre = 8 + struct.calcsize(lenfmt)
        h += " " * (-(pre + len(h) + 1) % 64) + "\n"
        return b"\x93NUMPY" + bytes([major, 0]) + struct.pack(lenfmt, len(h)) + h.encode() + body

    put("fuzz_npy", "f64-v2.npy", npy(2, "<f8", [2, 1], struct.pack("<2d", 0.5, -3)))
    put("fuzz_npy", "f32-scalar-v3.npy", npy(3, "<f4", [], f32(1.5)))
    put("fuzz_npy", "f32-empty.npy", npy(1, "<f4", [0, 3], b""))


def brown_seeds():
    """A tiny Brown corpus: the first sentences of a few real files, and their cats.txt lines."""
    src = tarfile.open(os.path.join(DATA, "brown", "brown.tar.gz"))
    files = ["ca01", "ca02", "ca03", "cb01", "cn01"]
    members = {}
    for name in files:
        text = src.extractfile("brown/" + name).read().decode()
        lines = [l for l in text.split("\n") if l.strip()][:2]
        # Keep the real layout: blank lines around tab-indented sentences.
        members[name] = "".join("\n\n\t%s\n" % " ".join(l.split()[:12]) for l in lines).encode()
    cats = src.extractfile("brown/cats.txt").read().decode().split("\n")
    members["cats.txt"] = "".join(l + "\n" for l in cats if l.split()[:1] and l.split()[0] in files).encode()
    members["README"] = b"The Brown corpus (a stand-in README, ignored by the reader).\n"

    buf = io.BytesIO()
    t = tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT)
    d = tarfile.TarInfo("brown")
    d.type, d.mode = tarfile.DIRTYPE, 0o755
    t.addfile(d)
    for name, data in members.items():
        info = tarfile.TarInfo("brown/" + name)
        info.size, info.mode = len(data), 0o644
        t.addfile(info, io.BytesIO(data))
    # Closing would pad the archive to a 10 KiB record; two zero blocks are all a tar needs.
    tar = buf.getvalue()[: t.offset] + b"\0" * 1024
    put("fuzz_brown", "brown-5-files.tar", tar)
    put("fuzz_brown", "brown-5-files.tar.gz", gz(tar))


def text_seeds():
    with gzip.open(os.path.join(DATA, "text", "austen.txt.gz")) as f:
        head = f.read(1500)
    head = head[: head.rindex(b"\n") + 1]
    put("fuzz_text", "austen-head.txt", head)
    put("fuzz_text", "austen-head.txt.gz", gz(head))
    put("fuzz_text", "unicode.txt", "h\u00e9llo \u2013 \u201cquoted\u201d na\u00efve \u65e5\u672c \ufffd\n".encode())


def config_seeds():
    for p in sorted(glob.glob(os.path.join(ROOT, "examples", "*.toml"))):
        shutil.copy(p, os.path.join(OUT, "fuzz_config", os.path.basename(p)))
    # Bytes after a NUL are --set overrides, one a line (see fuzz/fuzz_targets/fuzz_config.rs).
    with open(os.path.join(ROOT, "examples", "mnist1d-residual.toml"), "rb") as f:
        base = f.read()
    put("fuzz_config", "mnist1d-residual-with-sets", base + b"\0train.epochs=2\nmodel.arch=\"plain\"\noptim.lr=0.5\n")


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    for t in ["fuzz_config", "fuzz_idx", "fuzz_safetensors", "fuzz_npy", "fuzz_brown", "fuzz_text"]:
        os.makedirs(os.path.join(OUT, t))
    config_seeds()
    idx_seeds()
    safetensors_seeds()
    npy_seeds()
    brown_seeds()
    text_seeds()
    total = sum(os.path.getsize(p) for p in glob.glob(os.path.join(OUT, "*", "*")))
    print("wrote %s (%d bytes)" % (os.path.relpath(OUT, ROOT), total))


if __name__ == "__main__":
    main()
