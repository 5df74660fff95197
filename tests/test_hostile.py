"""Hostile inputs: a seeded fuzz of the real .pth files and a corpus of hand-made malicious files.

Every case runs a CLI command in one worker process limited to 2 GB of address space, each case
under a 30 s alarm, and must end as exactly one of: the same weights (exit 0, the hash of a parent
file), a one-line error (exit 2), or a clean run or budgeted stop (exit 0). A traceback, other
weights accepted, a timeout or a memory error fails the test. The files are made here, never
committed; the real weights come from ``$ALGZOO_DIR`` (the fuzz part skips without them).
"""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from test_loading import KEYS, save_pth, state_dict_pickle, tensor_ops, write_zip
from conftest import M1610_FILE, M22_FILE, algzoo_dir

REPO = Path(__file__).resolve().parent.parent
CASE_SECONDS = 30
MEMORY_BYTES = 2 * 2**30

# Runs the cases in-process (cli.main is what the console script calls), one alarm per case.
WORKER = r"""
import contextlib, io, json, signal, sys, time, traceback
from verifier import cli
def alarm(*_):
    raise TimeoutError("case over its time limit")
signal.signal(signal.SIGALRM, alarm)
for line in sys.stdin:
    case = json.loads(line)
    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    signal.alarm(case["seconds"])
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(case["argv"])
    except BaseException as e:  # anything escaping main is a failure of the promise
        code = "escaped " + type(e).__name__ + ": " + " ".join(str(e).split())[:200]
        err.write(traceback.format_exc())
    finally:
        signal.alarm(0)
    print(json.dumps({"id": case["id"], "code": code, "stdout": out.getvalue()[-4000:],
                      "stdout_chars": len(out.getvalue()), "stderr": err.getvalue()[-4000:],
                      "seconds": time.perf_counter() - start}), flush=True)
"""


def _limits():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))


def run_cases(cases: list[dict]) -> tuple[dict, int]:
    """Run the cases in one limited worker: id -> result, and the worker's peak resident kB."""
    feed = "".join(json.dumps(c) + "\n" for c in cases)
    env = dict(os.environ, PYTHONPATH=str(REPO), MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, "-c", WORKER + "\nimport resource\n"
                           "print(json.dumps({'peak_kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))"],
                          input=feed, capture_output=True, text=True, env=env, cwd=REPO, preexec_fn=_limits,
                          timeout=CASE_SECONDS * 4 + 2 * len(cases))
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 0 and lines and "peak_kb" in lines[-1], proc.stderr[-3000:]
    return {r["id"]: r for r in lines[:-1]}, lines[-1]["peak_kb"]


def outcome(case: dict, result: dict) -> str:
    """same-weights | error | ran (clean run or budgeted stop) | FAIL: why."""
    code, err = result["code"], result["stderr"]
    if result["seconds"] > CASE_SECONDS:
        return "FAIL: over 30 s"
    if code == 2:
        if err.count("\n") == 1 and err.startswith("verifier: error: "):
            return "error"
        return "FAIL: error not on one line: " + err[-300:]
    if code == 1 and case.get("invalid_ok") and err == "" and "INVALID" in result["stdout"]:
        return "error"  # `verifier check` says INVALID with exit 1
    if code != 0:
        return f"FAIL: exit {code}: {err[-600:]}"
    if case.get("max_stdout") and result["stdout_chars"] > case["max_stdout"]:
        return f"FAIL: printed {result['stdout_chars']} characters"
    if case.get("parents"):
        sha = json.loads(result["stdout"])["sha256_exact"]
        return "same-weights" if sha in case["parents"] else f"FAIL: accepted other weights ({sha})"
    return "ran"


def check_all(cases: list[dict]) -> Counter:
    results, peak_kb = run_cases(cases)
    assert peak_kb * 1024 < MEMORY_BYTES
    counts, failures = Counter(), []
    for case in cases:
        got = outcome(case, results[case["id"]])
        if got.startswith("FAIL"):
            failures.append(f"{case['id']} {case['argv']}: {got}")
        else:
            for allowed in [case.get("expect")] if case.get("expect") else []:
                if got != allowed:
                    failures.append(f"{case['id']} {case['argv']}: expected {allowed}, got {got}: "
                                    f"{results[case['id']]['stderr'][-300:]}")
        counts[(case["kind"], got.split(":")[0])] += 1
    assert not failures, "\n".join(failures[:20])
    return counts


# -- the fuzz of the real files ------------------------------------------------------------------

def _mutants(raw: bytes, other: bytes, rng: np.random.Generator):
    """(kind, bytes): byte flips (all of the zip's trailing records, then random ones), truncations, splices."""
    tail = len(raw) - 120  # end-of-central-directory and zip64 records live here
    for pos in range(max(tail, 0), len(raw)):
        for mask in (0xFF, 0x01):
            yield "flip (zip records)", raw[:pos] + bytes([raw[pos] ^ mask]) + raw[pos + 1:]
    for _ in range(300):
        pos = int(rng.integers(len(raw)))
        yield "flip (random)", raw[:pos] + bytes([raw[pos] ^ int(rng.integers(1, 256))]) + raw[pos + 1:]
    for _ in range(60):
        yield "truncation", raw[: int(rng.integers(len(raw)))]
    for _ in range(60):
        yield "splice", raw[: int(rng.integers(len(raw)))] + other[int(rng.integers(len(other))):]


def test_fuzz_real_pth_files(tmp_path):
    files = [algzoo_dir() / M22_FILE, algzoo_dir() / M1610_FILE]
    if not all(f.is_file() for f in files):
        pytest.skip(f"real AlgZoo weights not found in {algzoo_dir()} (set ALGZOO_DIR)")
    raws = [f.read_bytes() for f in files]
    parents = [_sha(f) for f in files]
    rng = np.random.default_rng(20261130)
    cases = []
    for i, raw in enumerate(raws):
        for kind, data in _mutants(raw, raws[1 - i], rng):
            path = tmp_path / f"{len(cases)}.pth"
            path.write_bytes(data)
            cases.append({"id": len(cases), "kind": kind, "argv": ["--json", "info", str(path)],
                          "parents": parents, "seconds": CASE_SECONDS})
    counts = check_all(cases)
    _report(counts, "fuzz")
    assert counts[("flip (zip records)", "error")] > 0 and counts[("flip (random)", "error")] > 0


def _sha(path: Path) -> str:
    from verifier.models.loading import load_model
    return load_model(path).content_hash


# -- the hand-made corpus ------------------------------------------------------------------------

RAW_MODEL = '{"W_hi": [[1], [-1]], "W_hh": [[-1, 1], [1, -1]], "W_oh": [[1, -1], [-1, 1]]}'


def _json_model(**fields) -> str:
    doc = {"format": "verifier-rnn", "version": 1, "task": "2nd_argmax", "precision": "exact",
           "W_hi": [["1"], ["-1"]], "W_hh": [["-1", "1"], ["1", "-1"]], "W_oh": [["1", "-1"], ["-1", "1"]]}
    doc.update(fields)
    return json.dumps(doc)


def _npz_declaring(shape) -> bytes:
    """A valid .npz whose W_hh header is rewritten to declare ``shape`` (the data stays 2 x 2)."""
    buf = io.BytesIO()
    np.savez(buf, W_hi=np.ones((2, 1)), W_hh=np.ones((2, 2)), W_oh=np.ones((2, 2)))
    out = io.BytesIO()
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "W_hh.npy":
                data = data.replace(b"(2, 2)", repr(tuple(shape)).encode()).replace(b"    \n", b"\n", 1)
            dst.writestr(info.filename, data)
    return out.getvalue()


def _corpus(tmp: Path) -> list[tuple[str, list[str], str]]:
    """(kind, argv, expected outcome) for every hand-made hostile input."""
    def put(name, data):
        path = tmp / name
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return str(path)

    rng = np.random.default_rng(4)
    cases = [
        ("json: huge exponent", ["info", put("exp.json", RAW_MODEL.replace("[[1], [-1]]", "[[1e999999999], [-1]]"))],
         "error"),
        ("json: huge exponent", ["check", put("exp_cert.json", '{"format": "verifier-certificate", "x": 1e999999999}')],
         "error"),
        ("json: deep nesting", ["info", put("deep.json", "[" * 100_000)], "error"),
        ("json: 200,000 digits", ["info", put("digits.json", _json_model(W_hi=[["1." + "3" * 200_000], ["1"]]))],
         "error"),
        ("json: 200,000-digit integer", ["info", put("bigint.json", RAW_MODEL.replace("[[1], [-1]]",
                                                                                     f"[[{'7' * 200_000}], [-1]]"))],
         "error"),
        ("json: beyond float range", ["info", put("big.json", _json_model(W_hi=[["1e400"], ["1"]]))], "error"),
        ("json: beyond float range", ["sample", put("big2.json", _json_model(W_hi=[["1e400"], ["1"]])), "-n", "100"],
         "error"),
        ("json: large but in range", ["sample", put("large.json", _json_model(
            W_hh=[["1e150", "1"], ["1", "-1e150"]])), "-n", "2000"], "ran"),
        ("json: stale sha256_exact", ["info", put("stale.json", _json_model(sha256_exact="0" * 64))], "error"),
        ("json: version 99", ["info", put("v99.json", _json_model(version=99))], "error"),
        ("json: duplicate keys", ["info", put("dup.json", _json_model()[:-1] + ', "W_hi": [["2"], ["2"]]}')], "error"),
        ("json: 1_000", ["info", put("under.json", _json_model(W_hi=[["1_000"], ["1"]]))], "error"),
        ("json: non-ASCII digits", ["info", put("arabic.json", _json_model(W_hi=[["١٢٣"], ["1"]]))], "error"),
        ("json: unknown key", ["info", put("extra.json", _json_model(W_ho=[[1]]))], "error"),
        ("json: newline and ANSI in name", ["info", put("name.json", _json_model(
            name="evil\nVALID certificate\x1b[2J"))], "ran"),
        (".npz: header declares 100000 x 100000", ["info", put("huge.npz", _npz_declaring((100_000, 100_000)))],
         "error"),
        (".npz: long double, exact", ["info", put("ld.npz", _npz_bytes(np.longdouble))], "ran"),
        (".npz: float16, exact", ["info", put("f16.npz", _npz_bytes(np.float16))], "ran"),
        (".npz: complex", ["info", put("complex.npz", _npz_bytes(np.complex128))], "error"),
        ("/dev/zero", ["info", _link(tmp / "zero.json", "/dev/zero")], "error"),
        ("/dev/zero", ["info", _link(tmp / "zero.pth", "/dev/zero")], "error"),
        ("/dev/zero", ["check", "/dev/zero"], "error"),
        ("/dev/zero", ["claims", "/dev/zero"], "error"),
        (".pth: zero-stride 5000 x 5000", ["info", str(_zero_stride(tmp / "stride.pth"))], "error"),
        (".pth: d=2, n=100000", ["certify", str(_long(tmp / "long.pth", 100_000)), "--max-seconds", "10"], "error"),
        (".pth: d=2, n=1000 (exact limit)", ["certify", str(_long(tmp / "long1000.pth", 1000))], "error"),
        (".pth: d=2, n=1000 sampled", ["sample", str(tmp / "long1000.pth"), "-n", "500"], "ran"),
        ("CLI arguments", ["sample", "handcrafted:2", "--seed", "-1"], "error"),
        ("CLI arguments", ["sample", "handcrafted:2", "-n", str(10**13)], "error"),
        ("CLI arguments", ["certify", "handcrafted:2", "--max-seconds", "-1"], "error"),
        ("CLI arguments", ["info", "handcrafted:2", "--task", "argmax"], "ran"),
        ("certificate: n = 3000", ["check", put("n3000.json", json.dumps(_big_certificate(3000)))], "error"),
        ("budgeted stop", ["certify", "handcrafted:10", "--max-seconds", "1"], "ran"),
    ]
    for k in range(20):  # random garbage under every suffix
        suffix = (".pth", ".json", ".npz", ".pt")[k % 4]
        cases.append(("random bytes", ["info", put(f"garbage{k}{suffix}", rng.bytes(int(rng.integers(0, 4000))))],
                      "error"))
    return cases


def _npz_bytes(dtype) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, W_hi=np.array([[1], [-1]], dtype), W_hh=np.array([[-1, 1], [1, -1]], dtype),
             W_oh=np.array([[1, -1], [-1, 1]], dtype))
    return buf.getvalue()


def _link(path: Path, target: str) -> str:
    path.symlink_to(target)
    return str(path)


def _zero_stride(path: Path) -> Path:
    """A 5000 x 5000 rnn.weight_hh_l0 viewed with stride (0, 0) from a one-element storage."""
    entries = {"rnn.weight_ih_l0": tensor_ops("0", (5000, 1), numel=1, stride=(0, 0)),
               "rnn.weight_hh_l0": tensor_ops("0", (5000, 5000), numel=1, stride=(0, 0)),
               "linear.weight": tensor_ops("0", (2, 5000), numel=1, stride=(0, 0))}
    return write_zip(path, state_dict_pickle(entries), {"0": np.ones(1, np.float32).tobytes()})


def _long(path: Path, n: int) -> Path:
    rng = np.random.default_rng(n)
    arrays = dict(zip(KEYS, (rng.normal(size=s).astype(np.float32) for s in ((2, 1), (2, 2), (n, 2)))))
    return save_pth(path, arrays)


def _big_certificate(n: int) -> dict:
    """A real certificate whose model section is rewritten to n outputs (beyond every size limit)."""
    from verifier.certify import certify
    from verifier.proof.certificate import certificate_document
    doc = certificate_document(certify("handcrafted:2"))
    doc["model"]["W_oh"] = [["1", "-1"]] * n
    return doc


def test_hostile_corpus(tmp_path):
    cases = [{"id": i, "kind": kind, "argv": argv, "expect": expect, "seconds": CASE_SECONDS,
              "invalid_ok": argv[0] == "check", "max_stdout": 100_000}
             for i, (kind, argv, expect) in enumerate(_corpus(tmp_path))]
    counts = check_all(cases)
    _report(counts, "corpus")


def test_names_are_printed_escaped(tmp_path):
    path = tmp_path / "name.json"
    path.write_text(_json_model(name="evil\nVALID certificate\x1b[2J"))
    results, _ = run_cases([{"id": 0, "argv": ["info", str(path)], "seconds": CASE_SECONDS}])
    out = results[0]["stdout"]
    assert out.count("\n") == 2 and "\x1b" not in out and "evil\\nVALID certificate\\x1b[2J" in out


def _report(counts: Counter, what: str) -> None:
    """Print the outcome table (pytest -s shows it; the closing note quotes it)."""
    print(f"\n{what}: kind | outcome | cases")
    for (kind, got), count in sorted(counts.items()):
        print(f"{kind} | {got} | {count}")
