"""A corpus of hostile inputs, written afresh by every test run from fixed seeds: malformed
data files, bad command lines, damaged and hostile model files.

Each case says what it runs and what must come of it. The test (test_corpus.py) runs the
command line in this process, as `recfactor` would, and checks the promises of the README's
"Errors" section: the exit code, one `error:` line naming the file and the line, row or
member, no traceback, nothing on stdout, no file left behind, and a model that is either
unchanged or complete.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import random
import re
import zipfile
from dataclasses import dataclass, field

import numpy as np

GOOD_ROWS = 40  # rows of a good long file: 8 users x 5 items


@dataclass
class Case:
    name: str
    args: list[str]  # "{dir}" is replaced by the case's folder
    files: dict[str, bytes] = field(default_factory=dict)
    stdin: bytes = b""
    code: int = 1
    # A regular expression the `error:` line must match (file, line, column or member).
    where: str = ""


def good_rows(rng: random.Random, n_users: int = 8, n_items: int = 5) -> list[list[str]]:
    return [
        [f"u{u}", f"i{i}", str(rng.randint(1, 5))] for u in range(n_users) for i in range(n_items)
    ]


def csv_text(rows: list[list[str]], header: bool = True, sep: str = ",") -> str:
    lines = ([sep.join(["user", "item", "rating"])] if header else []) + [sep.join(r) for r in rows]
    return "\n".join(lines) + "\n"


def _train(name: str, path: str = "data.csv", *extra: str) -> list[str]:
    return ["train", f"{{dir}}/{path}", "-m", "{dir}/model", "-q", *extra]


def data_cases(seed: int = 0) -> list[Case]:
    """Malformed data files (at least 150), each with the line its fault is on."""
    rng = random.Random(seed)
    cases: list[Case] = []

    def add(kind: str, text: str | bytes, line: int | None, *extra: str, path: str = "data.csv"):
        raw = text.encode() if isinstance(text, str) else text
        where = re.escape(path) + (rf".*line {line}\b" if line is not None else "")
        cases.append(Case(f"data-{kind}-{len(cases)}", _train(kind, path, *extra), {path: raw},
                          where=where))  # fmt: skip

    for _ in range(12):  # a bad rating token at a random line (line 1 is the header)
        rows = good_rows(rng)
        k = rng.randrange(len(rows))
        rows[k][2] = rng.choice(["great", "5 stars", "*", "N/A?", "1..2", "--3", "0x", "five"])
        add("not-a-number", csv_text(rows), k + 2)
    for _ in range(12):  # non-finite and enormous ratings
        rows = good_rows(rng)
        k = rng.randrange(len(rows))
        rows[k][2] = rng.choice(["nan", "inf", "-inf", "1e309", "1e200", "-1e300", "1e19"])
        add("not-finite", csv_text(rows), k + 2, *rng.choice([[], ["--algo", "als"]]))
    for _ in range(12):  # a ragged row: a field too many or too few
        rows = good_rows(rng)
        k = rng.randrange(1, len(rows))
        rows[k] = rows[k] + ["7"] if rng.random() < 0.5 else rows[k][:1]
        add("ragged", csv_text(rows), k + 2)
    for _ in range(12):  # an empty user or item
        rows = good_rows(rng)
        k = rng.randrange(len(rows))
        rows[k][rng.randrange(2)] = ""
        add("missing-id", csv_text(rows), k + 2)
    for _ in range(10):  # a repeated (user, item) pair in explicit data
        rows = good_rows(rng)
        j, k = sorted(rng.sample(range(len(rows)), 2))
        rows[k][:2] = rows[j][:2]
        add("repeat", csv_text(rows), k + 2)
    for _ in range(10):  # blank lines above the fault keep its line number right
        rows = good_rows(rng)
        k = rng.randrange(5, len(rows))
        rows[k][2] = "bad"
        text = csv_text(rows).splitlines()
        blanks = rng.randrange(1, 4)
        at = rng.randrange(1, k + 1)
        text[at:at] = [""] * blanks
        add("blank-lines", "\n".join(text) + "\n", k + 2 + blanks)
    for _ in range(10):  # quoted newlines above the fault
        rows = good_rows(rng)
        k = rng.randrange(5, len(rows))
        rows[k][2] = "bad"
        j = rng.randrange(0, k)
        rows[j][1] = f'"item\n{j}"'
        add("quoted-newline", csv_text(rows), k + 3)
    for names in (
        "user,user,rating",
        "user,item,rating,rating",
        "userId,movieId,Rating,rating",
        "item,user,rating,ITEM",
    ):  # a role's name on two columns
        body = csv_text(good_rows(rng), header=False)
        if names.count(",") == 3:
            body = "".join(line + ",1\n" for line in body.splitlines())
        add("repeated-name", names + "\n" + body, 1)
    for names, body in (
        ("item,rating", "i1,4\ni2,5\n"),
        ("user,rating", "u1,4\nu2,5\n"),
        ("movie_id,stars", "m1,3\nm2,4\n"),
    ):  # a side missing, one named
        add("side-missing", names + "\n" + body, 1)
    for _ in range(6):  # an unbalanced quote
        rows = good_rows(rng)
        k = rng.randrange(len(rows))
        rows[k][0] = '"' + rows[k][0]
        add("open-quote", csv_text(rows), k + 2)
    for _ in range(6):  # NUL bytes and binary junk
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(20, 400))) + b"\x00"
        add("binary", junk, None)
    for _ in range(8):  # damaged compression
        raw = csv_text(good_rows(rng)).encode()
        kind = rng.choice(["gz", "bz2", "xz"])
        packed = {"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}[kind](raw)
        add("compressed", packed[: rng.randrange(8, len(packed) - 4)], None,
            path=f"data.csv.{kind}")  # fmt: skip
    for flag in ("encrypted", "method", "two-members", "truncated"):  # zip files
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as archive:
            archive.writestr("r.csv", csv_text(good_rows(rng)))
            if flag == "two-members":
                archive.writestr("s.csv", "u,i,1\n")
        raw = bytearray(buf.getvalue())
        local, central = raw.find(b"PK\x03\x04"), raw.find(b"PK\x01\x02")
        if flag == "encrypted":
            raw[local + 6] |= 1
            raw[central + 8] |= 1
        if flag == "method":
            raw[local + 8] = raw[central + 10] = 99
        if flag == "truncated":
            raw = raw[: len(raw) // 2]
        add(f"zip-{flag}", bytes(raw), None, path="data.zip")
    for text in ("", "\n\n\n", "user,item,rating\n", "   \n\t\n", "user\n1\n2\n"):
        add("empty", text, None)
    for _ in range(8):  # one Latin-1 byte in a UTF-8 file
        rows = good_rows(rng)
        rows[0][0] = "Jos\u00e9"
        k = rng.randrange(1, len(rows))
        text = csv_text(rows).encode()
        lines = text.split(b"\n")
        lines[k + 1] = lines[k + 1].replace(b"u", b"\xe9", 1)
        add("mixed-encoding", b"\n".join(lines), k + 2)
    for _ in range(6):  # matrices without --layout wide
        width = rng.randrange(3, 7)
        header = ["user" if rng.random() < 0.5 else ""] + [
            f"{rng.choice(['dish', ''])}{j}" for j in range(width)
        ]
        body = [[f"c{r}"] + [str(rng.randint(0, 5)) for _ in range(width)] for r in range(6)]
        text = "\n".join(",".join(r) for r in [header, *body]) + "\n"
        add("matrix", text, 1)
    for _ in range(8):  # wide layout with a bad cell
        body = [[f"c{r}"] + [str(rng.randint(0, 5)) for _ in range(4)] for r in range(6)]
        r, c = rng.randrange(6), rng.randrange(1, 5)
        body[r][c] = rng.choice(["x", "nan", "1e400", "?"])
        text = "\n".join(",".join(r) for r in [["user", "a", "b", "c", "d"], *body]) + "\n"
        add("wide-cell", text, r + 2, "--layout", "wide")
    for _ in range(6):  # negative values for NMF
        rows = good_rows(rng)
        k = rng.randrange(len(rows))
        rows[k][2] = "-2"
        add("negative-nmf", csv_text(rows), k + 2, "--algo", "nmf")
    for _ in range(6):  # a Parquet file, damaged
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = good_rows(rng)
        table = pa.table({c: [r[j] for r in rows] for j, c in enumerate(["u", "i", "r"])})
        buf = io.BytesIO()
        pq.write_table(table.set_column(2, "r", pa.array([float(r[2]) for r in rows])), buf)
        raw = buf.getvalue()
        cut = rng.randrange(8, len(raw) - 8)
        damaged = raw[:cut] + raw[-8:] if rng.random() < 0.5 else raw[:cut]
        add("parquet", damaged, None, path="data.parquet")
    for _ in range(6):  # a Parquet file with missing or text ratings
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = good_rows(rng)
        k = rng.randrange(len(rows))
        ratings: list = [float(r[2]) for r in rows]
        if rng.random() < 0.5:
            ratings[k] = None
            where = k + 1
        else:
            ratings = [str(v) for v in ratings]
            where = None
        table = pa.table({"user": [r[0] for r in rows], "item": [r[1] for r in rows],
                          "rating": ratings})  # fmt: skip
        buf = io.BytesIO()
        pq.write_table(table, buf)
        cases.append(Case(f"data-parquet-values-{len(cases)}",
                          _train("p", "data.parquet"), {"data.parquet": buf.getvalue()},
                          where=r"data\.parquet"
                          + (rf", row {where}\b" if where else "")))  # fmt: skip
    for _ in range(6):  # a NUL at the end of an ID is not a second user
        rows = good_rows(rng)
        k = rng.randrange(len(rows))
        rows[k][0] = rows[k][0] + "\x00"
        text = csv_text(rows).encode()
        add("nul-id", text, None)
    return cases


def command_cases(seed: int = 0) -> list[Case]:
    """Bad command lines (at least 100): flags, values, combinations, paths."""
    rng = random.Random(seed)
    data = csv_text(good_rows(rng)).encode()
    files = {"data.csv": data, "pairs.csv": b"u1,i1\nu2,i2\n"}
    cases: list[Case] = []

    def add(args: list[str], code: int, where: str = "", extra: dict | None = None) -> None:
        cases.append(Case(f"cli-{len(cases)}", args, {**files, **(extra or {})}, code=code,
                          where=where))  # fmt: skip

    numeric = {
        "train": ["-k", "--epochs", "--reg", "--lr", "--init-std", "--seed"],
        "evaluate": ["--folds", "--seeds", "--holdout-per-user", "--test-fraction", "--jobs",
                     "--relevant-threshold", "--split-seed"],
    }  # fmt: skip
    bad_values = ["nan", "inf", "-inf", "-1", "abc", "", "1e400", "10" * 15, "0x10", "1,5"]
    for command, flags in numeric.items():
        for flag in flags:
            for value in rng.sample(bad_values, 4):
                if flag == "--relevant-threshold" and value == "-1":
                    value = "nan"  # ratings may be negative: -1 is a threshold
                args = [command, "{dir}/data.csv", flag, value, "-m", "{dir}/model", "-q"]
                if command == "evaluate":
                    args += ["--algo", "baseline"]
                add(args, 2)
    for flag, value, algo in [
        ("--alpha", "nan", "als"), ("--alpha", "inf", "als"), ("--l1-w", "nan", "nmf"),
        ("--l2-h", "inf", "nmf"), ("--tol", "nan", "nmf"), ("--reg", "nan", "nmf"),
        ("--reg", "-inf", "als"), ("--lr", "0", "svd"), ("--init-std", "1e300", "svd"),
        ("--alpha", "1e300", "als"),
    ]:  # fmt: skip
        implicit_only = flag in ("--alpha", "--l1-w", "--l2-h", "--tol")
        feedback = ["--feedback", "implicit"] if implicit_only else []
        add(["train", "{dir}/data.csv", "--algo", algo, flag, value, *feedback, "-m",
             "{dir}/model", "-q"], 2)  # fmt: skip
    for args in [
        ["train", "{dir}/data.csv", "--alpha", "1", "-m", "{dir}/model"],  # svd, explicit
        ["train", "{dir}/data.csv", "--algo", "baseline", "-k", "3", "-m", "{dir}/model"],
        ["train", "{dir}/data.csv", "--algo", "nmf", "--solver", "cg", "-m", "{dir}/model"],
        ["train", "{dir}/data.csv", "--algo", "svd", "--solver", "magic", "-m", "{dir}/model"],
        ["train", "{dir}/data.csv", "--algo", "wat"],
        ["train", "{dir}/data.csv", "--layout", "diagonal"],
        ["train", "{dir}/data.csv", "--feedback", "maybe"],
        ["train", "{dir}/data.csv", "--duplicates", "keep"],
        ["train", "{dir}/data.csv", "--missing-value", "0", "-m", "{dir}/model"],
        ["train", "{dir}/data.csv", "--rating-scale", "5,1", "-m", "{dir}/model"],
        ["train", "{dir}/data.csv", "--rating-scale", "a,b", "-m", "{dir}/model"],
        ["train", "{dir}/data.csv", "--format", "xml"],
        ["train", "{dir}/data.csv", "--bogus"],
        ["train"],
        ["nosuchcommand"],
        ["predict", "-m", "{dir}/model", "--user", "u1"],
        ["predict", "-m", "{dir}/model"],
        ["predict", "{dir}/pairs.csv", "--user", "u1", "--item", "i1", "-m", "{dir}/model"],
        ["recommend", "-m", "{dir}/model"],
        ["similar", "-m", "{dir}/model"],
        ["evaluate", "{dir}/data.csv", "--algo", "baseline,wat"],
        ["evaluate", "{dir}/data.csv", "--folds", "3", "--test-fraction", "0.2"],
        ["evaluate", "{dir}/data.csv", "--metric", "rmse@10"],
        ["evaluate", "{dir}/data.csv", "--metric", "accuracy"],
        ["evaluate", "{dir}/data.csv", "--seeds", "1,-2"],
        ["evaluate", "{dir}/data.csv", "--seeds", "0"],
        ["evaluate", "{dir}/data.csv", "--seeds", ","],
        ["split", "{dir}/data.csv", "--folds", "1", "-o", "{dir}/out"],
        ["split", "{dir}/data.csv", "--test-fraction", "1.5", "-o", "{dir}/out"],
        ["export", "-m", "{dir}/model", "--what", "nothing"],
        ["describe"],
        ["inspect", "-m", "{dir}/model", "--format", "yaml"],
    ]:  # fmt: skip
        add([*args, "-q"] if args[0] not in ("nosuchcommand",) else args, 2)
    for args, where in [
        (["train", "{dir}/absent.csv", "-m", "{dir}/model"], r"absent\.csv"),
        (["train", "{dir}", "-m", "{dir}/model"], r"directory"),
        (["train", "{dir}/data.csv", "--user-col", "9", "-m", "{dir}/model"], r"data\.csv"),
        (["train", "{dir}/data.csv", "--rating-col", "stars", "-m", "{dir}/model"], r"data\.csv"),
        (["train", "{dir}/data.csv", "--sep", ";", "-m", "{dir}/model"], r"data\.csv"),
        (["train", "{dir}/data.csv", "-m", "{dir}/no/such/dir/model"], r"model"),
        (["train", "{dir}/data.csv", "-m", "{dir}/data.csv"], r"data\.csv"),
        (["predict", "--user", "u1", "--item", "i1", "-m", "{dir}/absent.model"], r"absent"),
        (["predict", "--user", "u1", "--item", "i1", "-m", "{dir}/data.csv"], r"data\.csv"),
        (["predict", "{dir}/absent.csv", "-m", "{dir}/model"], r"absent"),
        (["recommend", "--user", "u1", "-m", "{dir}"], r"directory"),
        (["evaluate", "{dir}/absent.csv"], r"absent\.csv"),
        (["evaluate", "{dir}/data.csv", "--test", "{dir}/absent.csv"], r"absent\.csv"),
        (["describe", "{dir}/absent.csv"], r"absent\.csv"),
        (["split", "{dir}/absent.csv", "-o", "{dir}/out"], r"absent\.csv"),
        (["inspect", "-m", "{dir}/absent.model"], r"absent"),
        (["export", "-m", "{dir}/model", "-o", "{dir}/model", "--format", "csv"],
         r"is a recfactor model"),
        (["export", "-m", "{dir}/absent.model"], r"absent"),
    ]:  # fmt: skip
        add([*args, "-q"], 1, where)
    return cases


# -- model files ---------------------------------------------------------------------------


def model_cases(
    models: dict[str, bytes], seed: int = 0, flips: int = 20, cuts: int = 6
) -> list[Case]:
    """Damaged and hostile model files (at least 100): bit flips and truncations of real
    models, and files crafted to break each check of the loader."""
    rng = random.Random(seed)
    cases: list[Case] = []

    def add(kind: str, raw: bytes, code: int = 1, where: str = r"model") -> None:
        cases.append(Case(f"model-{kind}-{len(cases)}",
                          ["predict", "--user", "u1", "--item", "i1", "-m", "{dir}/model"],
                          {"model": raw}, code=code, where=where))  # fmt: skip

    for algo, raw in models.items():
        for _ in range(flips):
            bit = rng.randrange(len(raw) * 8)
            flipped = bytearray(raw)
            flipped[bit // 8] ^= 1 << (bit % 8)
            add(f"{algo}-flip-{bit}", bytes(flipped), code=-1)  # -1: an error or the same answer
        for _ in range(cuts):
            add(f"{algo}-cut", raw[: rng.randrange(len(raw))])
    base = models["svd"]
    for kind, raw in hostile_models(base).items():
        add(f"hostile-{kind}", raw)
    return cases


def rezip(good: bytes, mutate) -> bytes:
    """``good`` with each member replaced by ``mutate(name, data)`` (None drops it; a list of
    pairs adds members)."""
    src = zipfile.ZipFile(io.BytesIO(good))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            result = mutate(name, src.read(name))
            if result is None:
                continue
            for member in result if isinstance(result, list) else [result]:
                dst.writestr(member[0], member[1])
    return out.getvalue()


def npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


def hostile_models(good: bytes) -> dict[str, bytes]:
    def member(name: str) -> np.ndarray:
        return np.load(io.BytesIO(zipfile.ZipFile(io.BytesIO(good)).read(f"{name}.npy")))

    manifest = json.loads(member("manifest").tobytes())

    def with_manifest(**changes) -> bytes:
        changed = {**manifest, **changes}
        data = npy(np.frombuffer(json.dumps(changed).encode(), dtype=np.uint8))
        return rezip(good, lambda n, r: (n, data if n == "manifest.npy" else r))

    def replace(member: str, array: np.ndarray) -> bytes:
        return rezip(good, lambda n, r: (n, npy(array) if n == f"{member}.npy" else r))

    def header_shape(member: str, shape: tuple) -> bytes:
        def mutate(n, r):
            if n != f"{member}.npy":
                return n, r
            array = np.load(io.BytesIO(r))
            header = npy(np.zeros(shape, dtype=array.dtype))[:128]
            return n, header + r[128:]

        return rezip(good, mutate)

    deep = "[" * 100_000 + "]" * 100_000
    raw_manifest = npy(np.frombuffer(deep.encode(), dtype=np.uint8))
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.npy", zipfile.ZipFile(io.BytesIO(good)).read("manifest.npy"))
        archive.writestr("user_factors.npy", npy(np.zeros((1 << 14, 1 << 12), dtype=np.float32)))
    uf, ids = member("user_factors"), member("user_ids")
    not_json = npy(np.frombuffer(b"{nope", np.uint8))
    huge = {"dtype": "<f4", "shape": [1 << 30, 1 << 10]}
    return {
        "deep-manifest": rezip(good, lambda n, r: (n, raw_manifest if n == "manifest.npy" else r)),
        "manifest-not-json": rezip(good, lambda n, r: (n, not_json if n == "manifest.npy" else r)),
        "manifest-list": with_manifest(params=[1, 2]),
        "params-string": with_manifest(params={**manifest["params"], "factors": "many"}),
        "params-nan": with_manifest(params={**manifest["params"], "lr": float("nan")}),
        "params-unknown": with_manifest(params={**manifest["params"], "exploit": 1}),
        "state-list": with_manifest(state=[]),
        "algorithm-unknown": with_manifest(algorithm="os.system"),
        "version-zero": with_manifest(format_version=0),
        "version-bool": with_manifest(format_version=True),
        "version-newer": with_manifest(format_version=99),
        "scale-reversed": with_manifest(state={**manifest["state"], "rating_scale": [5, 1]}),
        "scale-nan": with_manifest(state={**manifest["state"], "rating_scale": [float("nan"), 5]}),
        "feedback-odd": with_manifest(state={**manifest["state"], "feedback": "psychic"}),
        "shape-lie": with_manifest(arrays={**manifest["arrays"], "user_factors": huge}),
        "object-array": replace("item_factors", np.array([{"evil": 1}], dtype=object)),
        "nan-factors": replace("user_factors", np.full_like(uf, np.nan)),
        "wrong-dtype": replace("user_factors", uf.astype(np.int64)),
        "wrong-shape": replace("user_factors", uf[:-1]),
        "duplicate-ids": replace("user_ids", np.r_[ids[:-1], ids[:1]]),
        "no-factors": rezip(good, lambda n, r: None if n.endswith("_factors.npy") else (n, r)),
        "extra-member": rezip(
            good, lambda n, r: [(n, r), ("x.py", b"import os")] if n == "manifest.npy" else (n, r)
        ),
        "header-longer": header_shape("user_factors", (uf.shape[0] + 3, uf.shape[1])),
        "header-shorter": header_shape("user_factors", (uf.shape[0] - 1, uf.shape[1])),
        "bomb": bomb.getvalue(),
        "npy-not-zip": npy(np.arange(10)) + b"PK\x05\x06" + bytes(18),
        "empty": b"",
        "text": b"user,item,rating\n",
        "zip-empty": _empty_zip(),
    }


def _empty_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w"):
        pass
    return buf.getvalue()
