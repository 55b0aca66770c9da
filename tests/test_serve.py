"""`recfactor serve`: a real server process on a free port of 127.0.0.1, asked by a real HTTP
client; its answers checked against the command line's on the same model."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.cli import rows, run
from tests.conftest import ROOT

SAMPLE = ROOT / "sample_data" / "ratings.csv"
TITLES = ROOT / "sample_data" / "items.csv"


class Server:
    """`recfactor serve ARGS` started on a free port; stopped by :meth:`stop`."""

    def __init__(self, *args: object) -> None:
        command = [sys.executable, "-m", "recfactor", "serve", "--port", "0", *map(str, args)]
        self.proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)  # fmt: skip
        self.lines: list[str] = []
        first = self.proc.stderr.readline()
        self.lines.append(first)
        if " on http://" not in first:
            self.proc.kill()
            raise AssertionError(f"the server did not start: {first}{self.proc.stderr.read()}")
        self.port = int(re.search(r" on http://[^ ;]+:(\d+)", first).group(1))
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)

    def ask(self, method: str, path: str, body: object = None, raw: bytes | None = None,
            headers: dict | None = None) -> tuple[int, object]:  # fmt: skip
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        data = raw if raw is not None else (None if body is None else json.dumps(body))
        conn.request(method, path, body=data, headers=headers or {})
        reply = conn.getresponse()
        text = reply.read().decode()
        conn.close()
        kind = reply.getheader("Content-Type", "")
        return reply.status, json.loads(text) if kind.startswith("application/json") else text

    def raw(self, data: bytes) -> tuple[int, dict]:
        """Bytes sent as they are on a new connection; the status and JSON body answered."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(data)
            answer = b""
            while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < _length(
                answer
            ):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        head, body = answer.split(b"\r\n\r\n", 1)
        return int(head.split()[1]), json.loads(body)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(30)


def _length(answer: bytes) -> int:
    for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


@pytest.fixture(scope="module")
def sample_model(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("serve")
    data = folder / "ratings.csv"
    shutil.copy(SAMPLE, data)
    model = folder / "sample.model"
    assert run("train", data, "-m", model, "-q").exit_code == 0
    return model


@pytest.fixture(scope="module")
def server(sample_model):
    started = Server("-m", sample_model, "--items", TITLES, "--timeout", "2",
                     "--max-connections", "8")  # fmt: skip
    yield started
    assert started.stop() == 0
    assert not [x for x in started.lines if "internal error" in x or "failed" in x]


def _cli(*args) -> list[dict]:
    result = run(*args)
    assert result.exit_code == 0, result.output
    return rows(result.stdout)


def test_recommend_predict_and_similar_answer_as_the_command_line(server, sample_model):
    status, got = server.ask("GET", "/recommend?user=u1&n=10")
    assert status == 200 and got["cold"] == "false" and got["notes"] == []
    want = _cli("recommend", "-m", sample_model, "--user", "u1", "-n", "10", "--items", TITLES)
    assert [x["item"] for x in got["items"]] == [r["item"] for r in want]
    assert [x["title"] for x in got["items"]] == [r["title"] for r in want]
    assert [x["score"] for x in got["items"]] == pytest.approx([float(r["score"]) for r in want],
                                                               abs=1e-4)  # fmt: skip
    status, got = server.ask("GET", "/predict?user=u1&item=m005")
    want = _cli("predict", "-m", sample_model, "--user", "u1", "--item", "m005")[0]
    assert status == 200 and got["cold"] == want["cold"] == "false"
    assert got["prediction"] == pytest.approx(float(want["prediction"]), abs=1e-4)
    status, got = server.ask("GET", "/similar?item=m005&n=5")
    want = _cli("similar", "-m", sample_model, "--item", "m005", "-n", "5")
    assert status == 200 and [x["item"] for x in got["items"]] == [r["similar_item"] for r in want]


def test_a_posted_history_is_folded_in_as_recommend_history_does(server, sample_model, tmp_path):
    history = [["m005", 5], ["m011", 1], {"item": "m183", "rating": 4}, ["nope", 3]]
    status, got = server.ask("POST", "/recommend", {"ratings": history, "n": 8})
    assert status == 200 and got["cold"] == "history"
    assert got["notes"] == ["note: 1 rating(s) name items the model does not know; left out"]
    path = tmp_path / "history.csv"
    path.write_text("user,item,rating\nnew,m005,5\nnew,m011,1\nnew,m183,4\nnew,nope,3\n")
    want = _cli("recommend", "-m", sample_model, "--history", path, "-n", "8", "-q")
    assert [x["item"] for x in got["items"]] == [r["item"] for r in want]
    assert [x["score"] for x in got["items"]] == pytest.approx([float(r["score"]) for r in want],
                                                               abs=1e-4)  # fmt: skip
    assert not {"m005", "m011", "m183"} & {x["item"] for x in got["items"]}  # seen: left out
    mapped = {"m005": 5, "m011": 1, "m183": 4, "nope": 3}  # the same history as one object
    assert server.ask("POST", "/recommend", {"ratings": mapped, "n": 8}) == (status, got)


def test_unknown_users_and_items_are_answered_as_the_command_line_does(server):
    status, got = server.ask("GET", "/recommend?user=stranger&n=3")
    assert status == 200 and got["cold"] == "popularity" and len(got["items"]) == 3
    assert "most popular" in got["notes"][0]
    status, got = server.ask("GET", "/predict?user=stranger&item=m005")
    assert status == 200 and got["cold"] == "baseline"
    status, got = server.ask("GET", "/similar?item=nothing")
    assert status == 404 and got["error"] == "unknown item 'nothing': not in the training data"


MALFORMED = [
    ("GET", "/recommend", None, 400, "user"),
    ("GET", "/recommend?user=u1&n=0", None, 400, "n"),
    ("GET", "/recommend?user=u1&n=ten", None, 400, "n"),
    ("GET", "/recommend?user=u1&n=99999999", None, 400, "n"),
    ("GET", "/recommend?user=u1&exclude_seen=maybe", None, 400, "exclude_seen"),
    ("GET", "/recommend?user=u1&min_ratings=-1", None, 400, "min_ratings"),
    ("GET", "/recommend?user=u1&user=u2", None, 400, "user"),
    ("GET", "/recommend?user=u1&colour=red", None, 400, "colour"),
    ("GET", "/recommend?user=u1&stability=true", None, 422, "stability"),
    ("GET", "/predict?user=u1", None, 400, "item"),
    ("GET", "/similar?item=", None, 400, "item"),
    ("GET", "/recommend?user=%20", None, 400, "user"),  # blanks alone: no one's ID
    ("GET", "/predict?user=u1&item=%09", None, 400, "item"),
    ("GET", "/healthz?x=1", None, 400, "x"),
    ("GET", "/nowhere", None, 404, None),
    ("DELETE", "/recommend", None, 405, None),
    ("PUT", "/recommend", None, 405, None),
    ("POST", "/predict", b"{}", 405, None),
    ("POST", "/recommend", b"{not json", 400, None),
    ("POST", "/recommend", b"\xff\xfe", 400, None),
    ("POST", "/recommend", b"[1, 2]", 400, None),
    ("POST", "/recommend", b"{}", 400, "ratings"),
    ("POST", "/recommend", b'{"ratings": 5}', 400, "ratings"),
    ("POST", "/recommend", b'{"ratings": [["m005"]]}', 400, "ratings"),
    ("POST", "/recommend", b'{"ratings": [["m005", "five"]]}', 400, "ratings"),
    ("POST", "/recommend", b'{"ratings": [["m005", NaN]]}', 400, "ratings"),
    ("POST", "/recommend", b'{"ratings": [["m005", 1e300]]}', 422, "ratings"),
    ("POST", "/recommend", b'{"ratings": [{"item": "m005", "stars": 4}]}', 400, "ratings"),
    ("POST", "/recommend", b'{"ratings": [["nope", 4]]}', 422, "ratings"),
    ("POST", "/recommend", b'{"ratings": [["m005", 4]], "n": "10"}', 400, "n"),
    ("POST", "/recommend", b'{"ratings": [["m005", 4]], "exclude_seen": 1}', 400, "exclude_seen"),
    ("POST", "/recommend", b'{"ratings": [["m005", 4]], "colour": 1}', 400, "colour"),
    ("POST", "/recommend", b'{"attributes": {"age": 30}}', 422, "attributes"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "parameter"), MALFORMED)
def test_malformed_requests_get_a_4xx_json_answer_naming_the_parameter(
    server, method, path, body, status, parameter
):
    got_status, got = server.ask(method, path, raw=body)
    assert (got_status, got.get("parameter")) == (status, parameter), got
    assert got["error"] and "Traceback" not in got["error"]


RAW = [
    (b"garbage\r\n\r\n", 400),
    (b"GET /recommend?user=u1 HTTP/2.0\r\n\r\n", 400),
    (b"BREW /recommend HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    (b"GET /recommend?user=u1 HTTP/1.1\r\nX: " + b"y" * 70000 + b"\r\n\r\n", 431),
    (b"GET /recommend?user=u1&&n=3 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"POST /recommend HTTP/1.1\r\nHost: x\r\n\r\n", 411),
    (b"POST /recommend HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411),
    (b"POST /recommend HTTP/1.1\r\nHost: x\r\nContent-Length: lots\r\n\r\n", 400),
    (b"POST /recommend HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n", 413),
    (
        b"POST /recommend HTTP/1.1\r\nContent-Length: 200000\r\n\r\n"
        + b"[" * 100000
        + b"]" * 100000,
        400,
    ),
    (b'POST /recommend HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"ratings"', 408),
]


@pytest.mark.parametrize(("data", "status"), RAW)
def test_requests_the_parser_refuses_get_a_4xx_json_answer(server, data, status):
    got_status, got = server.raw(data)
    assert got_status == status and got["error"]


def test_slow_and_surplus_connections_are_bounded_and_the_server_goes_on(server):
    # --timeout 2: a client that sends nothing is let go; --max-connections 8: the ninth
    # open connection gets a 503 at once.
    silent = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(8)]
    time.sleep(0.3)
    status, got = server.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 503 and "too many connections" in got["error"]
    silent[0].settimeout(5)
    started = time.monotonic()
    assert silent[0].recv(100) == b""  # closed by the server, not by us
    assert time.monotonic() - started < 4
    for sock in silent:
        sock.close()
    time.sleep(0.2)
    assert server.ask("GET", "/healthz")[0] == 200


def test_metrics_count_requests_with_latency_quantiles_and_never_a_500(server):
    server.ask("GET", "/recommend?user=u1")
    status, text = server.ask("GET", "/metrics")
    assert status == 200
    lines = text.splitlines()
    assert "# TYPE recfactor_request_seconds summary" in lines
    assert any('endpoint="/recommend",method="GET",status="200"' in x for x in lines)
    assert any('endpoint="/recommend",quantile="0.99"' in x for x in lines)
    assert not any('status="500"' in x for x in lines)


def test_the_page_shows_a_users_titled_list_in_a_browser(server, sample_model, tmp_path):
    status, page = server.ask("GET", "/")
    assert status == 200 and "<title>recfactor</title>" in page
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium here (.ci/run installs Debian's package)")
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--virtual-time-budget=10000", f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    url = f"http://127.0.0.1:{server.port}/?user=u1"
    dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True,
                         timeout=120).stdout  # fmt: skip
    want = _cli("recommend", "-m", sample_model, "--user", "u1", "-n", "10",
                "--items", TITLES)  # fmt: skip
    assert dom.count('<tr class="listed">') == 10
    for row in want[:3]:
        assert row["title"] in dom
    shot = tmp_path / "page.png"
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1000,900", url],
                   capture_output=True, timeout=120)  # fmt: skip
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_a_replaced_model_is_served_without_a_failed_request(sample_model, tmp_path):
    model = tmp_path / "live.model"
    shutil.copy(sample_model, model)
    served = Server("-m", model)
    failures, answers, stop = [], [], threading.Event()

    def load() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
        while not stop.is_set():
            try:
                conn.request("GET", "/recommend?user=u1&n=5")
                reply = conn.getresponse()
                body = json.loads(reply.read())
                if reply.status != 200:
                    failures.append(reply.status)
                answers.append([x["item"] for x in body["items"]])
            except (OSError, ValueError) as exc:
                failures.append(repr(exc))
                conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)

    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        new = tmp_path / "new.csv"
        new.write_text("user,item,rating\nu1,m005,1\nu1,m091,1\nz9,m005,5\nz9,m011,4\n")
        before = served.ask("GET", "/healthz")[1]["model"]["loaded_at"]
        command = [sys.executable, "-m", "recfactor", "update", new, "-m", model, "--base",
                   SAMPLE, "-q"]  # fmt: skip
        update = subprocess.run(command, capture_output=True, text=True)
        assert update.returncode == 0, update.stderr
        deadline = time.monotonic() + 10
        while served.ask("GET", "/healthz")[1]["model"]["loaded_at"] == before:
            assert time.monotonic() < deadline, served.lines
            time.sleep(0.1)
        time.sleep(0.3)
        stop.set()
        for t in threads:
            t.join()
        assert failures == [] and len(answers) > 20
        want = _cli("recommend", "-m", model, "--user", "u1", "-n", "5")
        assert answers[-1] == [r["item"] for r in want]
        assert served.ask("GET", "/recommend?user=z9")[1]["cold"] == "false"  # the new user
        # A file that is no model: logged, and the model loaded keeps serving.
        broken = tmp_path / "broken"
        broken.write_text("not a model")
        os.replace(broken, model)
        deadline = time.monotonic() + 10
        while not any("could not load" in x for x in served.lines):
            assert time.monotonic() < deadline, served.lines
            time.sleep(0.1)
        assert served.ask("GET", "/recommend?user=z9")[0] == 200
    finally:
        stop.set()
        code = served.stop()
    assert code == 0


def test_two_workers_answer_on_one_port_and_sigterm_drains_them(sample_model):
    served = Server("-m", sample_model, "--workers", "2")
    try:
        pids = set()
        deadline = time.monotonic() + 20
        while len(pids) < 2 and time.monotonic() < deadline:  # each has its own /metrics
            text = served.ask("GET", "/metrics")[1]
            pids |= {x.split('worker="')[1].split('"')[0] for x in text.splitlines()
                     if x.startswith("recfactor_model_loads_total")}  # fmt: skip
        assert len(pids) == 2
        assert served.ask("GET", "/recommend?user=u1")[0] == 200
    finally:
        code = served.stop()
    assert code == 0


def test_a_missing_model_or_a_taken_port_is_the_usual_error_line(sample_model, tmp_path):
    result = subprocess.run([sys.executable, "-m", "recfactor", "serve", "-m",
                             tmp_path / "none.model", "--port", "0"],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 1 and result.stderr.startswith("error: ")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "recfactor", "serve", "-m", sample_model,
                                 "--port", str(port)], capture_output=True, text=True,
                                timeout=60)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
    )


@pytest.mark.parametrize(
    ("host", "said", "hint"),
    [
        ("256.1.1.1", "no such address", "give an address of this machine"),
        ("no-such-host.invalid", "no such address", "give an address of this machine"),
        ("192.0.2.1", "Cannot assign requested address", "give an address of this machine"),
    ],
)
def test_an_address_the_server_cannot_take_is_named_with_what_to_give(host, said, hint):
    """A host that does not resolve was "Unknown error -2", and one not on this machine was
    told to choose another port."""
    from recfactor.errors import RecfactorError
    from recfactor.serving.workers import listen

    with pytest.raises(RecfactorError) as raised:
        listen(host, 0)
    assert raised.value.message == f"cannot listen on {host}:0: {said}"
    assert raised.value.hint.startswith(hint)


def test_movielens_lists_come_with_titles_as_recommend_gives_them(ml100k, tmp_path):
    model = tmp_path / "ml.model"
    assert run("train", ml100k / "u1.base", "-m", model, "-q").exit_code == 0
    served = Server("-m", model, "--items", ml100k / "u.item")
    try:
        status, got = served.ask("GET", "/recommend?user=1&n=10")
    finally:
        assert served.stop() == 0
    want = _cli("recommend", "-m", model, "--user", "1", "-n", "10", "--items",
                ml100k / "u.item")  # fmt: skip
    assert status == 200 and len(got["items"]) == 10
    assert [(x["item"], x["title"]) for x in got["items"]] == [
        (r["item"], r["title"]) for r in want
    ]
    assert all(x["title"] for x in got["items"])
    assert [x["score"] for x in got["items"]] == pytest.approx([float(r["score"]) for r in want],
                                                               abs=1e-4)  # fmt: skip
