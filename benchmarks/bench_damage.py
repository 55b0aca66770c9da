"""Single-bit flips and truncations of model files: each must load as the same model or fail
with a ModelFileError (never another exception, never a model that answers differently).

    python benchmarks/bench_damage.py [--flips 5000] [--cuts 200] [--seed 0]

trains one model of each kind on a small synthetic set, damages it, and prints per kind how
many damaged files were refused, loaded unchanged, loaded changed (a defect) or raised
something else (a defect); results go to benchmarks/results/damage.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from recfactor import persist
from recfactor.errors import ModelFileError

ARRAYS = ("user_ids", "item_ids", "global_mean", "user_bias", "item_bias", "user_factors",
          "item_factors", "seen_indptr", "seen_items")  # fmt: skip


def _fingerprint(model: Any) -> list:
    """Everything a model answers from."""
    out = []
    for name in ARRAYS:
        value = getattr(model, name + "_", None)
        value = None if value is None else np.asarray(value)
        out.append(None if value is None else (value.dtype.str, value.tobytes()))
    return [out, model.params, model.rating_scale_, model.feedback_, model.uses_bias_]


def _load(raw: bytes, folder: str) -> Any:
    path = os.path.join(folder, "m.model")
    with open(path, "wb") as fh:
        fh.write(raw)
    return persist.load(path)[0]


def sweep(raw: bytes, flips: int, cuts: int, rng: random.Random) -> dict[str, Any]:
    """Damage ``raw`` ``flips`` times by one random bit and ``cuts`` times by truncation."""
    with tempfile.TemporaryDirectory() as folder:
        reference = _fingerprint(_load(raw, folder))
        result: dict[str, Any] = {"refused": 0, "unchanged": 0, "changed": [], "escaped": []}
        damaged = []
        for _ in range(flips):
            bit = rng.randrange(len(raw) * 8)
            flipped = bytearray(raw)
            flipped[bit // 8] ^= 1 << (bit % 8)
            damaged.append((f"flip bit {bit}", bytes(flipped)))
        for _ in range(cuts):
            size = rng.randrange(len(raw))
            damaged.append((f"cut at {size}", raw[:size]))
        for label, data in damaged:
            try:
                model = _load(data, folder)
            except ModelFileError:
                result["refused"] += 1
                continue
            except Exception as exc:  # a defect: anything but a clean refusal
                result["escaped"].append(f"{label}: {type(exc).__name__}: {exc}")
                continue
            if _fingerprint(model) == reference:
                result["unchanged"] += 1
            else:
                result["changed"].append(label)
    return result


def _models() -> dict[str, bytes]:
    from recfactor.dataset import Dataset
    from recfactor.models import model_class

    rng = np.random.default_rng(0)
    users = np.repeat([f"u{u}" for u in range(200)], 20)
    items = np.array([f"i{(u * 7 + j) % 150}" for u in range(200) for j in range(20)])
    ratings = rng.integers(1, 6, len(users)).astype(float)
    explicit = Dataset.from_arrays(users, items, ratings)
    implicit = Dataset.from_arrays(users, items, ratings, feedback="implicit")
    out = {}
    with tempfile.TemporaryDirectory() as folder:
        for label, algo, data, params in [
            ("svd", "svd", explicit, {"factors": 8}),
            ("svd-lanczos", "svd", explicit, {"factors": 8, "solver": "lanczos"}),
            ("als", "als", explicit, {"factors": 8}),
            ("als-implicit", "als", implicit, {"factors": 8}),
            ("nmf", "nmf", explicit, {"factors": 8}),
            ("nmf-implicit", "nmf", implicit, {"factors": 8}),
            ("baseline", "baseline", explicit, {}),
        ]:
            path = Path(folder) / f"{label}.model"
            persist.save(model_class(algo)(**params).fit(data), path)
            out[label] = path.read_bytes()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flips", type=int, default=5000)
    parser.add_argument("--cuts", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = []
    print(
        f"{'model':<14}{'bytes':>8}{'refused':>9}{'unchanged':>11}{'changed':>9}{'escaped':>9}{'s':>7}"
    )
    for label, raw in _models().items():
        started = time.perf_counter()
        result = sweep(raw, args.flips, args.cuts, random.Random(f"{args.seed}-{label}"))
        seconds = time.perf_counter() - started
        print(f"{label:<14}{len(raw):>8}{result['refused']:>9}{result['unchanged']:>11}"
              f"{len(result['changed']):>9}{len(result['escaped']):>9}{seconds:>7.1f}")  # fmt: skip
        for line in (result["changed"] + result["escaped"])[:5]:
            print("    ", line)
        rows.append({"model": label, "bytes": len(raw), **result, "seconds": seconds})
    out = Path(__file__).parent / "results" / "damage.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"flips": args.flips, "cuts": args.cuts, "seed": args.seed,
                               "models": rows}, indent=1))  # fmt: skip
    if any(r["changed"] or r["escaped"] for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
