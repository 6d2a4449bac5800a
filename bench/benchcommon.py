"""What the peer scripts share: the machine's description, depthlab bench's quantile rule and the
timing fields of their JSON lines."""

import platform
import statistics


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


def timing_fields(times_ms):
    """The per-step timing fields of a result line: median, quartiles, extremes, mean, count."""
    srt = sorted(times_ms)
    return {
        "median_ms": round(statistics.median(times_ms), 4),
        "p25_ms": round(quantile(srt, 0.25), 4),
        "p75_ms": round(quantile(srt, 0.75), 4),
        "min_ms": round(srt[0], 4),
        "max_ms": round(srt[-1], 4),
        "mean_ms": round(statistics.fmean(times_ms), 4),
        "count": len(times_ms),
    }
