"""`recfactor serve` under load: requests a second and latency quantiles per endpoint.

    python benchmarks/bench_serve.py [--requests 10000] [--workers 1 2] [--connections 1 4]

A model of 100,000 items at k=64 (svd, 5 epochs on 2M ratings of 50,000 users drawn as
benchmarks/scale_data.py draws them, fixed seed; made once in a temporary folder) is served by
`recfactor serve` on 127.0.0.1 (a free port); a load generator of ``--connections`` client
processes (one keep-alive connection each, a request sent as soon as the last was answered)
sends ``--requests`` requests to each endpoint: GET /recommend (a known user, n=10), POST
/recommend (a new user's 20 ratings of random items), GET /predict, GET /similar (n=10).
Latency is timed by the client, from the request's first byte to the answer's last. Any
answer but a 200 counts as failed. Then, with ``--reload``, the swap: while two connections
ask GET /recommend, `recfactor update NEW -m MODEL` (200 new ratings, warm start) replaces the
served model's file; the requests before, during and after the swap are counted, and a list
answered after it is compared with the new model's own. Results go to
benchmarks/results/serve.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

N_USERS, N_ITEMS, N_RATINGS, FACTORS = 50_000, 100_000, 2_000_000, 64
ENDPOINTS = ("GET /recommend", "POST /recommend", "GET /predict", "GET /similar")


def make_model(folder: Path) -> Path:
    from scale_data import Shape, write

    model = folder / "serve.model"
    if model.exists():
        return model
    paths = write(Shape(N_USERS, N_ITEMS, N_RATINGS, 0.0, False, 64), folder / "data")
    subprocess.run([sys.executable, "-m", "recfactor", "train", str(paths["train.csv"]), "-m",
                    str(model), "-k", str(FACTORS), "--epochs", "5", "--reg", "0.05", "-q"],
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    return model


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: Path, workers: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "recfactor", "serve", "-m", str(model),
                             "--port", str(port), "--workers", str(workers), "-q"])  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the server did not start")


def requests_for(endpoint: str, count: int, seed: int, users: list, items: list) -> list:
    """(method, path, body) of each request, drawn before the clock starts, of the model's
    users and items."""
    rng = np.random.default_rng(seed)
    users, items = np.asarray(users), np.asarray(items)
    out = []
    for _ in range(count):
        if endpoint == "GET /recommend":
            out.append(("GET", f"/recommend?user={rng.choice(users)}&n=10", None))
        elif endpoint == "POST /recommend":
            picked = rng.choice(items, 20, replace=False)
            ratings = [[str(i), int(r)] for i, r in zip(picked, rng.integers(1, 6, 20))]
            out.append(("POST", "/recommend", json.dumps({"ratings": ratings, "n": 10})))
        elif endpoint == "GET /predict":
            out.append(("GET", f"/predict?user={rng.choice(users)}&item={rng.choice(items)}",
                        None))  # fmt: skip
        else:
            out.append(("GET", f"/similar?item={rng.choice(items)}&n=10", None))
    return out


def client(port: int, work: list, results: multiprocessing.Queue, stop=None) -> None:
    """Each request of ``work`` on one keep-alive connection (until ``stop`` is set, where
    given): (wall time sent, seconds taken) of each, and how many failed."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    stamps, failed = [], 0
    for method, path, body in work:
        if stop is not None and stop.is_set():
            break
        headers = {"Content-Type": "application/json"} if body else {}
        sent, start = time.time(), time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers)
            reply = conn.getresponse()
            reply.read()
            failed += reply.status != 200
        except OSError:
            failed += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        stamps.append((sent, time.perf_counter() - start))
    results.put((stamps, failed))


def drive(port: int, endpoint: str, count: int, connections: int, ids: tuple) -> dict:
    work = requests_for(endpoint, count, 7, *ids)
    warm = requests_for(endpoint, 200, 8, *ids)
    run_clients(port, warm, 1)  # first calls compile and fill caches
    start = time.perf_counter()
    stamps, failed = run_clients(port, work, connections)
    wall = time.perf_counter() - start
    ms = np.array([seconds for _, seconds in stamps]) * 1000
    return {"endpoint": endpoint, "connections": connections, "requests": count,
            "failed": failed, "per_second": count / wall,
            "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "p999_ms": float(np.percentile(ms, 99.9)), "max_ms": float(ms.max())}  # fmt: skip


def run_clients(port: int, work: list, connections: int) -> tuple[list, int]:
    return collect(*start_clients(port, work, connections))


def start_clients(port: int, work: list, connections: int, stop=None) -> tuple[list, Any]:
    """``connections`` client processes sharing ``work``, started."""
    results: multiprocessing.Queue = multiprocessing.Queue()
    parts = [(port, work[c::connections], results, stop) for c in range(connections)]
    procs = [multiprocessing.Process(target=client, args=part) for part in parts]
    for p in procs:
        p.start()
    return procs, results


def collect(procs: list, results: Any) -> tuple[list, int]:
    """Every client's (sent, seconds) pairs and failures, once they have all ended."""
    stamps, failed = [], 0
    for _ in procs:
        t, f = results.get()
        stamps += t
        failed += f
    for p in procs:
        p.join()
    return stamps, failed


def reload_under_load(model: Path, folder: Path, ids: tuple) -> dict:
    """GET /recommend from two connections while `recfactor update` replaces the file."""
    import shutil

    import recfactor as rf

    live = folder / "live.model"
    shutil.copy(model, live)
    rng = np.random.default_rng(3)
    new = folder / "new.csv"
    users, items = rng.choice(ids[0], 200), rng.choice(ids[1], 200)
    new.write_text("user,item,rating\n" + "".join(
        f"{u},{i},{r}\n" for u, i, r in zip(users, items, rng.integers(1, 6, 200))))  # fmt: skip
    proc, port = start_server(live, 1)
    stop = multiprocessing.Event()
    try:
        clients = start_clients(port, requests_for("GET /recommend", 100_000, 9, *ids), 2, stop)
        time.sleep(2)
        before = ask(port, "/healthz")["model"]["loaded_at"]
        started = time.time()
        subprocess.run([sys.executable, "-m", "recfactor", "update", str(new), "-m", str(live),
                        "--base", str(folder / "data" / "train.csv"), "-q"], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        updated = time.time()
        while ask(port, "/healthz")["model"]["loaded_at"] == before:
            time.sleep(0.05)
        swapped = time.time()
        time.sleep(2)
        user = str(users[0])
        served = [x["item"] for x in ask(port, f"/recommend?user={user}&n=10")["items"]]
        stop.set()
        stamps, failed = collect(*clients)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    fitted, _ = rf.load(live)
    want = [item for item, _ in fitted.recommend(user, 10)]
    at = np.array([t for t, _ in stamps])
    ms = np.array([d for _, d in stamps]) * 1000
    during = (at >= started) & (at <= swapped + 0.5)
    return {"requests": len(stamps), "failed": failed, "update_s": updated - started,
            "swap_after_update_s": swapped - updated,
            "p99_ms_outside": float(np.percentile(ms[~during], 99)),
            "p99_ms_during": float(np.percentile(ms[during], 99)) if during.any() else None,
            "max_ms_during": float(ms[during].max()) if during.any() else None,
            "new_model_answers": served == want}  # fmt: skip


def ask(port: int, path: str) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    return json.loads(conn.getresponse().read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--connections", type=int, nargs="*", default=[1, 4])
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "rf-serve")
    parser.add_argument("--reload", action="store_true", help="measure the swap under load")
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    model = make_model(args.folder)
    import recfactor as rf

    fitted, _ = rf.load(model)
    ids = ([str(u) for u in fitted.user_ids_], [str(i) for i in fitted.item_ids_])
    n_items = len(ids[1])
    rows = []
    print(f"{'workers':>7} {'conns':>5} {'endpoint':<16} {'req/s':>7} {'p50 ms':>7} "
          f"{'p99 ms':>7} {'p99.9 ms':>8} {'failed':>6}")  # fmt: skip
    for workers in args.workers:
        proc, port = start_server(model, workers)
        try:
            for connections in args.connections:
                for endpoint in ENDPOINTS:
                    row = {"workers": workers, **drive(port, endpoint, args.requests,
                                                       connections, ids)}  # fmt: skip
                    rows.append(row)
                    print(f"{workers:>7} {connections:>5} {endpoint:<16} "
                          f"{row['per_second']:>7.0f} {row['p50_ms']:>7.2f} "
                          f"{row['p99_ms']:>7.2f} {row['p999_ms']:>8.2f} {row['failed']:>6}",
                          flush=True)  # fmt: skip
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    swap = None
    if args.reload:
        swap = reload_under_load(model, args.folder, ids)
        print("reload under load:", json.dumps(swap))
    out = ROOT / "benchmarks/results/serve.json"
    out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "cores": os.cpu_count(),
                               "machine": platform.machine(), "items": n_items,
                               "factors": FACTORS, "rows": rows, "reload": swap},
                              indent=1))  # fmt: skip
    print(f"written {out}")


if __name__ == "__main__":
    main()
