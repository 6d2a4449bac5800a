"""What the peer scripts share: the machine's description and depthlab bench's quantile rule."""

import platform


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg():
    """The 1-, 5- and 15-minute load averages."""
    try:
        with open("/proc/loadavg") as f:
            return [float(v) for v in f.read().split()[:3]]
    except (OSError, ValueError, IndexError):
        return None


def quantile(sorted_ms, p):
    """depthlab bench's rule: the element at round((n - 1) p) of the sorted times."""
    return sorted_ms[int(round((len(sorted_ms) - 1) * p))]
