"""The experiment engine's worker: what `reproduce` and `sweep` start once per job, in place
of the `depthlab` command, with the worker's command line (`worker train RUN_DIR ...` or
`worker probe INPUT --what A,B --out DIR ...`), which the native layer parses and runs exactly
as `depthlab worker` does (depthlab::sweep::worker).

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


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGTERM, _on_term)
    from . import _depthlab as native

    if not argv or argv[0] != "worker":
        print(f"error: expected the worker's command line (worker train|probe ...), not {argv}", file=sys.stderr)
        return 2
    try:
        return native.worker(argv[1:])
    except _Terminated:
        return 143
    except KeyboardInterrupt:
        return 130
    except native.Error as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
