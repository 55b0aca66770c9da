"""Request counts and latency quantiles, written in Prometheus' text format for `GET /metrics`.

Quantiles are read from each endpoint's last :data:`WINDOW` requests (a summary, as a
Prometheus client library computes them over a sliding window), counts and sums since start.
Each worker process keeps its own; its ``worker`` label is its process ID.
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict, deque

WINDOW = 10_000
QUANTILES = (0.5, 0.9, 0.99, 0.999)


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, int], int] = defaultdict(int)
        self._recent: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=WINDOW))
        self._sums: dict[str, float] = defaultdict(float)
        self._totals: dict[str, int] = defaultdict(int)
        self.loads = 0
        self.load_failures = 0
        self.loaded_at = 0.0

    def observe(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        with self._lock:
            self._counts[(endpoint, method, status)] += 1
            self._recent[endpoint].append(seconds)
            self._sums[endpoint] += seconds
            self._totals[endpoint] += 1

    def render(self) -> str:
        with self._lock:
            counts = dict(self._counts)
            recent = {k: sorted(v) for k, v in self._recent.items()}
            sums, totals = dict(self._sums), dict(self._totals)
        worker = f'worker="{os.getpid()}"'
        lines = [
            "# HELP recfactor_requests_total Requests answered, by endpoint, method and status.",
            "# TYPE recfactor_requests_total counter",
        ]
        for (endpoint, method, status), count in sorted(counts.items()):
            lines.append(f'recfactor_requests_total{{{worker},endpoint="{endpoint}",'
                         f'method="{method}",status="{status}"}} {count}')  # fmt: skip
        lines += [
            "# HELP recfactor_request_seconds Time from a request's first line read to its "
            f"answer written; quantiles over the last {WINDOW} requests of the endpoint.",
            "# TYPE recfactor_request_seconds summary",
        ]
        for endpoint, values in sorted(recent.items()):
            label = f'{worker},endpoint="{endpoint}"'
            for q in QUANTILES:
                at = values[min(len(values) - 1, int(q * len(values)))]
                lines.append(f'recfactor_request_seconds{{{label},quantile="{q}"}} {at:.6g}')
            lines.append(f"recfactor_request_seconds_sum{{{label}}} {sums[endpoint]:.6g}")
            lines.append(f"recfactor_request_seconds_count{{{label}}} {totals[endpoint]}")
        lines += [
            "# HELP recfactor_model_loads_total Model files loaded, the first included.",
            "# TYPE recfactor_model_loads_total counter",
            f"recfactor_model_loads_total{{{worker}}} {self.loads}",
            "# HELP recfactor_model_load_failures_total Changed model files that failed to "
            "load (the previous model kept serving).",
            "# TYPE recfactor_model_load_failures_total counter",
            f"recfactor_model_load_failures_total{{{worker}}} {self.load_failures}",
            "# HELP recfactor_model_loaded_timestamp_seconds When the model serving now was "
            "loaded.",
            "# TYPE recfactor_model_loaded_timestamp_seconds gauge",
            f"recfactor_model_loaded_timestamp_seconds{{{worker}}} {self.loaded_at:.3f}",
        ]
        return "\n".join(lines) + "\n"
