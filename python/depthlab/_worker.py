"""The experiment engine's worker: what `reproduce` and `sweep` start once per run, in place
of the `depthlab` command, with the command's arguments for the two things workers do:

    train --resume RUN_DIR -q --threads 1 [--data-dir D]
    probe INPUT --what A,B --out DIR -q --threads 1 [--data-dir D]

It exits as the command does: 0, 130 (SIGINT) or 143 (SIGTERM) after writing a checkpoint,
1 with the error on stderr.
"""

import signal
import sys
from typing import List, Optional


class _Terminated(KeyboardInterrupt):
    pass


def _on_term(signum, frame):
    # Raised from the engine's signal check: the run stops at a checkpoint, as on Ctrl-C.
    raise _Terminated()


def _parse(argv: List[str]):
    opts = {"positional": []}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-q", "--quiet"):
            i += 1
        elif a in ("--resume", "--threads", "--data-dir", "--what", "--out"):
            if i + 1 >= len(argv):
                raise SystemExit(f"error: {a} needs a value")
            opts[a[2:]] = argv[i + 1]
            i += 2
        elif a.startswith("-"):
            raise SystemExit(f"error: unknown option {a}")
        else:
            opts["positional"].append(a)
            i += 1
    return opts


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGTERM, _on_term)
    from . import _depthlab as native

    if not argv:
        print("error: expected train or probe", file=sys.stderr)
        return 2
    cmd, o = argv[0], _parse(argv[1:])
    threads = int(o["threads"]) if "threads" in o else None
    data_dir = o.get("data-dir")
    try:
        if cmd == "train" and "resume" in o:
            native.train(None, o["resume"], o["resume"], resume=True, threads=threads, data_dir=data_dir)
        elif cmd == "probe" and len(o["positional"]) == 1 and "out" in o:
            native.probe(o["positional"][0], o["out"], [o.get("what", "")], 4, threads, data_dir)
        else:
            print(f"error: the worker runs `train --resume DIR` and `probe INPUT --out DIR`, not {argv}", file=sys.stderr)
            return 2
    except _Terminated:
        return 143
    except KeyboardInterrupt:
        return 130
    except native.Error as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
