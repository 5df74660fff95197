"""Loading models from spec strings, files and objects; malicious and malformed files are refused.

The ``.pth`` files used here are written at test time, opcode by opcode, so each test controls
exactly what the pickle asks for (no torch needed); the real AlgZoo files come from ALGZOO_DIR.
"""

from __future__ import annotations

import json
import pickle
import struct
import zipfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from verifier import cli
from verifier.errors import LoadError, VerifierError
from verifier.models.handcrafted import handcrafted
from verifier.models.loading import best_seed, load_model, model_from_state_dict, trained_models
from verifier.models.model import Model
from verifier.models.pth import LEGACY_MAGIC, read_state_dict
from verifier.models.weightfile import save_json, save_npz

KEYS = ("rnn.weight_ih_l0", "rnn.weight_hh_l0", "linear.weight")
SHARED_DOCS = Path(__file__).resolve().parent.parent.parent / "shared" / "docs"


# -- a tiny torch.save writer (pickle opcodes by hand) ---------------------------------------

def _str(s: str) -> bytes:
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def _int(i: int) -> bytes:
    return b"J" + struct.pack("<i", i)


def _global(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()


def _tuple(items) -> bytes:
    return b"(" + b"".join(items) + b"t"


def _empty_ordered_dict() -> bytes:
    return _global("collections", "OrderedDict") + b")R"


def tensor_ops(key: str, shape, *, storage_type="FloatStorage", location="cpu", numel=None, offset=0,
               stride=None) -> bytes:
    """Opcodes rebuilding a tensor of ``shape`` from storage ``key`` like torch.save writes them."""
    if stride is None:
        stride = tuple(int(np.prod(shape[i + 1:])) for i in range(len(shape)))
    numel = int(np.prod(shape)) if numel is None else numel
    storage = _tuple([_str("storage"), _global("torch", storage_type), _str(key), _str(location), _int(numel)]) + b"Q"
    args = _tuple([storage, _int(offset), _tuple(map(_int, shape)), _tuple(map(_int, stride)), b"\x89",
                   _empty_ordered_dict()])
    return _global("torch._utils", "_rebuild_tensor_v2") + args + b"R"


def state_dict_pickle(entries: dict[str, bytes]) -> bytes:
    body = b"".join(_str(k) + v for k, v in entries.items())
    return b"\x80\x02" + _empty_ordered_dict() + b"(" + body + b"u."


def write_zip(path: Path, pkl: bytes, storages: dict[str, bytes], top: str = "archive") -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{top}/data.pkl", pkl)
        z.writestr(f"{top}/byteorder", "little")
        for key, raw in storages.items():
            z.writestr(f"{top}/data/{key}", raw)
    return path


def save_pth(path: Path, arrays: dict[str, np.ndarray], *, top="archive", location="cpu") -> Path:
    """A state_dict file with one little-endian storage per array."""
    entries, storages = {}, {}
    for i, (name, arr) in enumerate(arrays.items()):
        arr = np.asarray(arr)
        kind = {np.dtype("float32"): "FloatStorage", np.dtype("float64"): "DoubleStorage"}[arr.dtype]
        entries[name] = tensor_ops(str(i), arr.shape, storage_type=kind, location=location)
        storages[str(i)] = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
    return write_zip(path, state_dict_pickle(entries), storages, top)


def m22_like() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    return {"rnn.weight_ih_l0": rng.standard_normal((2, 1)).astype(np.float32),
            "rnn.weight_hh_l0": rng.standard_normal((2, 2)).astype(np.float32),
            "linear.weight": rng.standard_normal((2, 2)).astype(np.float32)}


def exact(arr) -> list:
    return [[Fraction(float(v)) for v in np.atleast_1d(row)] for row in np.asarray(arr)]


def one_line_error(excinfo) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg and msg
    return msg


# -- the real AlgZoo files -----------------------------------------------------------------

def raw_floats(path: Path, member: str) -> np.ndarray:
    with zipfile.ZipFile(path) as z:
        return np.frombuffer(z.read(member), dtype="<f4")


def test_real_m22_values_from_raw_storages(m22_path):
    m = load_model(m22_path)
    assert (m.d, m.n, m.n_params, m.precision, m.task.name) == (2, 2, 10, "float32", "2nd_argmax")
    # independent reading: storage 0 holds W_ih (offset 0, 2x1) then W_hh (offset 2, 2x2 row-major)
    s0, s1 = raw_floats(m22_path, "archive/data/0"), raw_floats(m22_path, "archive/data/1")
    assert len(s0) == 10 and len(s1) == 4
    assert m.w_hi == tuple((Fraction(float(v)),) for v in s0[:2])
    assert m.w_hh == tuple(map(tuple, exact(s0[2:6].reshape(2, 2))))
    assert m.w_oh == tuple(map(tuple, exact(s1.reshape(2, 2))))
    assert float(m.w_hi[0][0]) == float.fromhex("0x1.0b237p+2")  # 4.174038, as AlgZoo stored it


def test_real_files_layouts(m22_path, m1610_path):
    """The facts the reader must cope with: M2,2 says cuda:0 in archive/, M16,10 uses its own top folder."""
    with zipfile.ZipFile(m22_path) as z:
        assert b"cuda:0" in z.read("archive/data.pkl")
    with zipfile.ZipFile(m1610_path) as z:
        tops = {name.split("/")[0] for name in z.namelist()}
    assert tops == {"one_layer_16_hidden_94_acc_2nd_argmax"}


def test_real_m1610(m1610_path):
    m = load_model(str(m1610_path))
    assert (m.d, m.n, m.n_params, m.precision) == (16, 10, 432, "float32")
    top = "one_layer_16_hidden_94_acc_2nd_argmax/data"
    assert m.w_hh == tuple(map(tuple, exact(raw_floats(m1610_path, f"{top}/1").reshape(16, 16))))
    assert m.w_oh == tuple(map(tuple, exact(raw_floats(m1610_path, f"{top}/2").reshape(10, 16))))


def test_real_files_match_torch_load(m22_path, m1610_path):
    torch = pytest.importorskip("torch", reason="torch not installed: cross-check with torch.load skipped")
    for path in (m22_path, m1610_path):
        ours = read_state_dict(path)
        ref = torch.load(path, map_location="cpu", weights_only=True)
        assert set(ours) == set(ref) == set(KEYS)
        for k in KEYS:
            assert ours[k].dtype == np.float32 and ours[k].shape == tuple(ref[k].shape)
            assert np.array_equal(ours[k], ref[k].numpy())


def test_zoo_spec_resolves_real_m22(m22_path, monkeypatch):
    monkeypatch.setenv("ALGZOO_DIR", str(m22_path.parent))
    default = load_model("zoo:2nd_argmax:2:2")
    assert default == load_model(m22_path) and default.name == "zoo:2nd_argmax:2:2:2"
    assert load_model("zoo:2nd_argmax:2:2:2").content_hash == default.content_hash


def test_zoo_spec_checks_size_against_name(m22_path, tmp_path, monkeypatch):
    (tmp_path / "2nd_argmax_3_3_1073741824_1.pth").write_bytes(m22_path.read_bytes())
    monkeypatch.setenv("ALGZOO_DIR", str(tmp_path))
    with pytest.raises(LoadError, match="d=2, n=2, not d=3, n=3"):
        load_model("zoo:2nd_argmax:3:3")


# -- zoo and trained specs without the real files --------------------------------------------

def test_zoo_missing_file_names_file_and_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("ALGZOO_DIR", str(tmp_path))
    with pytest.raises(LoadError) as e:
        load_model("zoo:2nd_argmax:16:10")
    msg = one_line_error(e)
    assert "2nd_argmax_16_10_1073741824_2.pth" in msg and str(tmp_path.resolve()) in msg and "ALGZOO_DIR" in msg


def test_zoo_default_folder_is_said(tmp_path, monkeypatch):
    monkeypatch.delenv("ALGZOO_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LoadError) as e:
        load_model("zoo:argmedian:4:3:3")
    msg = one_line_error(e)
    assert "argmedian_4_3_1073741824_3.pth" in msg and "unset" in msg
    assert str((tmp_path / ".." / "shared" / "algzoo").resolve()) in msg


def test_zoo_task_from_spec_and_explicit_seed(tmp_path, monkeypatch):
    arrays = {"rnn.weight_ih_l0": np.ones((2, 1), np.float32), "rnn.weight_hh_l0": np.eye(2, dtype=np.float32),
              "linear.weight": np.ones((3, 2), np.float32)}
    save_pth(tmp_path / "argmedian_2_3_1073741824_4.pth", arrays)
    monkeypatch.setenv("ALGZOO_DIR", str(tmp_path))
    m = load_model("zoo:argmedian:2:3:4")
    assert (m.task.name, m.name) == ("argmedian", "zoo:argmedian:2:3:4")
    assert load_model(tmp_path / "argmedian_2_3_1073741824_4.pth").task.name == "argmedian"


def test_zoo_checkpoints_seeds_and_example(m22_path, m1610_path, tmp_path, monkeypatch):
    """AlgZoo's loader arguments: seed and n_seqs (partially trained checkpoints), and example_2nd_argmax()."""
    arrays = m22_like()
    for n_seqs in (0, 2**20, 2**29):
        save_pth(tmp_path / f"argmedian_2_3_{n_seqs}_1.pth", {**arrays, "linear.weight": np.ones((3, 2), np.float32)})
    (tmp_path / "2nd_argmax_2_2_1073741824_2.pth").write_bytes(m22_path.read_bytes())
    (tmp_path / "one_layer_16_hidden_94_acc_2nd_argmax.pth").write_bytes(m1610_path.read_bytes())
    monkeypatch.setenv("ALGZOO_DIR", str(tmp_path))
    for n_seqs in (0, 2**20, 2**29):
        m = load_model(f"zoo:argmedian:2:3:1:{n_seqs}")
        assert (m.name, m.task.name, m.n) == (f"zoo:argmedian:2:3:1:{n_seqs}", "argmedian", 3)
    assert load_model("zoo:2nd_argmax:2:2:2:1073741824").name == "zoo:2nd_argmax:2:2:2"  # 2^30 is the default
    with pytest.raises(LoadError, match="argmedian_2_3_1073741824_1.pth not found"):
        load_model("zoo:argmedian:2:3:1")
    example = load_model("zoo:example_2nd_argmax")
    assert (example.name, example.d, example.n, example.task.name) == ("zoo:example_2nd_argmax", 16, 10, "2nd_argmax")
    assert example == load_model(m1610_path)


def test_zoo_median_is_a_scalar_rnn(tmp_path, monkeypatch):
    arrays = {**m22_like(), "linear.weight": np.array([[0.5, -0.25]], np.float32)}
    save_pth(tmp_path / "median_2_3_1073741824_0.pth", arrays)
    monkeypatch.setenv("ALGZOO_DIR", str(tmp_path))
    m = load_model("zoo:median:2:3")  # best seed of (2, 3) is 0
    assert (m.name, m.task.name, m.d, m.n, m.outputs, m.n_params) == ("zoo:median:2:3:0", "median", 2, 3, 1, 8)
    assert load_model(tmp_path / "median_2_3_1073741824_0.pth") == m  # task and n from AlgZoo's file name
    generic = save_pth(tmp_path / "scalar.pth", arrays)
    with pytest.raises(LoadError, match="ScalarRNN"):
        load_model(generic)
    assert load_model(generic, seq_len=3).n == 3 and load_model(str(generic), seq_len=3).task.name == "median"
    assert load_model(arrays, seq_len=3).n == 3
    with pytest.raises(LoadError, match="sequence length 5 given, but the model has n = 2"):
        load_model(m22_like(), seq_len=5)
    round_trip = tmp_path / "median.json"
    save_json(m, round_trip)
    assert load_model(round_trip) == m and json.loads(round_trip.read_text())["seq_len"] == 3


def test_best_seeds_table_is_the_shared_one():
    assert [best_seed("2nd_argmax", d, n) for d, n in ((2, 2), (4, 3), (16, 10), (32, 10))] == [2, 0, 2, 0]
    assert best_seed("2nd_argmax", 7, 7) is None
    shared = SHARED_DOCS / "algzoo-best-seeds.json"
    if shared.is_file():
        ours = Path(__file__).resolve().parent.parent / "verifier" / "data" / "algzoo-best-seeds.json"
        assert json.loads(ours.read_text()) == json.loads(shared.read_text())


def test_trained_specs():
    with pytest.raises(LoadError, match="available: ") as e:
        load_model("trained:999:2")
    one_line_error(e)
    with pytest.raises(LoadError, match="no shipped model 'trained:median:999:3'; available: trained:2:2"):
        load_model("trained:median:999:3")
    assert load_model("trained:2nd_argmax:2:2") == load_model("trained:2:2")
    for spec, file in trained_models().items():
        m = load_model(spec)
        *task, d, n = spec.split(":")[1:]
        assert (m.name, m.d, m.n, m.task.name) == (spec, int(d), int(n), task[0] if task else "2nd_argmax")
        assert file == f"trained_{task[0] + '_' if task else ''}{d}_{n}.json"


@pytest.mark.parametrize("spec, expected", [
    ("foo:3", "unknown model spec"),
    ("nothere.pth", "no such file"),
    ("handcrafted:7", "known: 2, 3, 10"),
    ("handcrafted:-1", "expected handcrafted:N"),
    ("handcrafted:", "expected handcrafted:N"),
    ("zoo:2nd_argmax:2", "expected zoo:TASK:D:N"),
    ("zoo:2nd_argmax:a:2", "expected zoo:TASK:D:N"),
    ("zoo:argmax:2:2", "no RNN family 'argmax'; families: 2nd_argmax, argmedian, median"),
    ("zoo:2nd_argmax:7:7", "hidden size 7; valid: 2, 3, 4, 5, 6, 8, 16, 32"),
    ("zoo:2nd_argmax:2:7", "sequence length 7; valid: 2, 3, 4, 5, 6, 8, 10"),
    ("zoo:argmedian:3:3", "hidden size 3; valid: 2, 4, 8, 16, 32"),
    ("zoo:argmedian:2:4", "sequence length 4; valid: 3, 5, 7, 11"),
    ("zoo:median:2:4", "sequence length 4; valid: 2, 3, 5, 10"),
    ("zoo:median:2:2:5", "seed 5; valid: 0, 1, 2, 3, 4"),
    ("zoo:median:2:2:0:1000", "n_seqs 1000; valid: 0, 1048576, 2097152"),
    ("zoo:median:2:2:0:1:2", "expected zoo:TASK:D:N[:SEED[:N_SEQS]]"),
    ("trained:median:2", "expected trained:D:N or trained:TASK:D:N"),
    ("trained:2", "expected trained:D:N"),
    ("", "empty model spec"),
    ("  ", "empty model spec"),
])
def test_unknown_and_bad_specs(spec, expected):
    with pytest.raises(VerifierError) as e:
        load_model(spec)
    assert expected in one_line_error(e)


def test_unsupported_python_object():
    with pytest.raises(LoadError, match="cannot load a model from a int"):
        load_model(3)


# -- the project's own formats ------------------------------------------------------------

def test_json_and_npz_round_trip(tmp_path):
    m = handcrafted(3)
    back = load_model(save_json(m, tmp_path / "m.json"))
    assert back == m and back.content_hash == m.content_hash and back.precision == "float32"
    from_npz = load_model(str(save_npz(m, tmp_path / "m.npz")))
    assert (from_npz.w_hi, from_npz.w_hh, from_npz.w_oh) == (m.w_hi, m.w_hh, m.w_oh)
    assert from_npz.content_hash == m.content_hash


@pytest.mark.parametrize("text, expected", [
    ('{"W_hi": [[Infinity]], "W_hh": [[1]], "W_oh": [[1], [1]]}', "not valid JSON"),
    ('{"W_hi": [[NaN]], "W_hh": [[1]], "W_oh": [[1], [1]]}', "not valid JSON"),
    ('{"W_hi": [["inf"]], "W_hh": [[1]], "W_oh": [[1], [1]]}', "not a number: 'inf'"),
    ('{"W_hi": [[1]], "W_hh": [[1', "not valid JSON"),
    ("\x00\xff garbage", "not valid JSON"),
    ("[1, 2]", "must be an object"),
    ('{"W_hi": [[1]], "W_hh": [[1]]}', "missing keys W_oh"),
    ('{"task": 3, "W_hi": [[1]], "W_hh": [[1]], "W_oh": [[1], [1]]}', "must be strings"),
    ('{"precision": "float8", "W_hi": [[1]], "W_hh": [[1]], "W_oh": [[1], [1]]}', "unknown precision"),
])
def test_bad_json(tmp_path, text, expected):
    path = tmp_path / "bad.json"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(LoadError) as e:
        load_model(path)
    assert expected in one_line_error(e)


# -- .pth files written here ---------------------------------------------------------------

@pytest.mark.parametrize("top, location", [("archive", "cpu"), ("my_model", "cuda:0")])
def test_written_pth_both_layouts(tmp_path, top, location):
    arrays = m22_like()
    m = load_model(save_pth(tmp_path / "x.pth", arrays, top=top, location=location))
    assert (m.w_hi, m.w_hh, m.w_oh) == tuple(tuple(map(tuple, exact(arrays[k]))) for k in KEYS)
    assert m.precision == "float32" and m.name == "x"


def test_float64_storages(tmp_path):
    arrays = {k: v.astype(np.float64) / 3 for k, v in m22_like().items()}
    m = load_model(save_pth(tmp_path / "x.pth", arrays))
    assert m.precision == "float64" and m.w_hh == tuple(map(tuple, exact(arrays["rnn.weight_hh_l0"])))


def test_shared_storage_offset_and_strides(tmp_path):
    """One storage holding W_ih, W_hh (stored transposed: strides (1, 2)) and W_oh at offsets."""
    values = np.arange(1, 11, dtype=np.float32)
    pkl = state_dict_pickle({
        "rnn.weight_ih_l0": tensor_ops("s", (2, 1), numel=10, offset=0, stride=(1, 1)),
        "rnn.weight_hh_l0": tensor_ops("s", (2, 2), numel=10, offset=2, stride=(1, 2)),
        "linear.weight": tensor_ops("s", (2, 2), numel=10, offset=6),
    })
    sd = read_state_dict(write_zip(tmp_path / "x.pth", pkl, {"s": values.tobytes()}))
    assert sd["rnn.weight_ih_l0"].tolist() == [[1], [2]]
    assert sd["rnn.weight_hh_l0"].tolist() == [[3, 5], [4, 6]]
    assert sd["linear.weight"].tolist() == [[7, 8], [9, 10]]


def test_big_endian_archive(tmp_path):
    arrays = m22_like()
    entries = {k: tensor_ops(str(i), a.shape) for i, (k, a) in enumerate(arrays.items())}
    path = tmp_path / "big.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", state_dict_pickle(entries))
        z.writestr("archive/byteorder", "big")
        for i, a in enumerate(arrays.values()):
            z.writestr(f"archive/data/{i}", a.astype(">f4").tobytes())
    assert all(np.array_equal(read_state_dict(path)[k], arrays[k]) for k in KEYS)


# -- malicious files ------------------------------------------------------------------------

def _payloads(marker: Path) -> dict[str, bytes]:
    code = f"open({str(marker)!r}, 'w').write('pwned')"
    shell = f"touch '{marker}'"
    return {
        "os.system": b"\x80\x02" + _global("os", "system") + _str(shell) + b"\x85R.",
        "builtins.exec": b"\x80\x02" + _global("builtins", "exec") + _str(code) + b"\x85R.",
        "STACK_GLOBAL builtins.exec": b"\x80\x04" + _str("builtins") + _str("exec") + b"\x93" + _str(code) + b"\x85R.",
        "INST os.system": b"(" + _str(shell) + b"ios\nsystem\n.",
        "inside a state_dict": state_dict_pickle({"rnn.weight_ih_l0": _global("os", "system") + _str(shell) + b"\x85R"}),
    }


@pytest.mark.parametrize("kind", list(_payloads(Path("m"))))
def test_malicious_pickle_is_refused_and_not_run(tmp_path, kind):
    marker = tmp_path / "marker"
    path = write_zip(tmp_path / "evil.pth", _payloads(marker)[kind], {})
    with pytest.raises(LoadError) as e:
        load_model(path)
    msg = one_line_error(e)
    assert "refusing to unpickle global" in msg and ("os.system" in msg or "builtins.exec" in msg)
    assert not marker.exists()


def test_malicious_payload_is_live(tmp_path):
    """Control: the same bytes given to an unrestricted unpickler do run (so the test above can fail)."""
    control = tmp_path / "control"
    pickle.loads(_payloads(control)["builtins.exec"])
    assert control.read_text() == "pwned"


def test_full_pickled_module_is_refused(tmp_path):
    pkl = b"\x80\x02" + _global("alg_zoo.architectures", "DistRNN") + b")\x81."
    with pytest.raises(LoadError, match="alg_zoo.architectures.DistRNN.*state_dict"):
        load_model(write_zip(tmp_path / "module.pth", pkl, {}))


# -- malformed files ---------------------------------------------------------------------

def _good_file(tmp_path: Path) -> Path:
    return save_pth(tmp_path / "good.pth", m22_like())


def test_truncated_zip(tmp_path):
    raw = _good_file(tmp_path).read_bytes()
    for cut in (len(raw) // 2, len(raw) - 10):
        bad = tmp_path / f"cut{cut}.pth"
        bad.write_bytes(raw[:cut])
        with pytest.raises(LoadError) as e:
            load_model(bad)
        one_line_error(e)


def test_corrupted_storage_bytes_fail_crc(tmp_path):
    raw = bytearray(_good_file(tmp_path).read_bytes())
    with zipfile.ZipFile(tmp_path / "good.pth") as z:
        offset = z.getinfo("archive/data/0").header_offset + 30 + len("archive/data/0")
    raw[offset] ^= 0xFF
    (tmp_path / "flip.pth").write_bytes(bytes(raw))
    with pytest.raises(LoadError, match="corrupt"):
        load_model(tmp_path / "flip.pth")


@pytest.mark.parametrize("numel, storage_len, expected", [
    (10, 36, "truncated"), (10, 44, "size mismatch"),
])
def test_storage_size_checked(tmp_path, numel, storage_len, expected):
    pkl = state_dict_pickle({"rnn.weight_ih_l0": tensor_ops("0", (2, 1), numel=numel)})
    path = write_zip(tmp_path / "x.pth", pkl, {"0": bytes(storage_len)})
    with pytest.raises(LoadError, match=expected):
        read_state_dict(path)


@pytest.mark.parametrize("offset, stride", [(9, (1, 1)), (0, (5, 1)), (-1, (1, 1))])
def test_view_outside_storage(tmp_path, offset, stride):
    pkl = state_dict_pickle({"w": tensor_ops("0", (2, 1), numel=4, offset=offset, stride=stride)})
    with pytest.raises(LoadError) as e:
        read_state_dict(write_zip(tmp_path / "x.pth", pkl, {"0": bytes(16)}))
    one_line_error(e)


@pytest.mark.parametrize("make, expected", [
    (lambda p: p.write_bytes(b""), "empty file"),
    (lambda p: p.write_text("hello, not a model"), "not a zip"),
    (lambda p: p.write_bytes(pickle.dumps({"a": 1}, protocol=2)), "bare pickle"),
    (lambda p: p.write_bytes(LEGACY_MAGIC + b"more"), "legacy"),
    (lambda p: write_zip(p, b"\x80\x02}q\x00.", {}, top="a/b"), "no <top>/data.pkl"),
    (lambda p: zipfile.ZipFile(p, "w").writestr("archive/other", "x"), "no <top>/data.pkl"),
    (lambda p: write_zip(p, b"\xff\xfe garbage opcodes", {}), "corrupt"),
    (lambda p: write_zip(p, b"\x80\x02", {}), "corrupt"),
    (lambda p: write_zip(p, b"\x80\x02]q\x00.", {}), "holds a list"),
    (lambda p: write_zip(p, state_dict_pickle({"rnn.weight_ih_l0": _int(3)}), {}), "not a tensor"),
    (lambda p: write_zip(p, state_dict_pickle({"w": tensor_ops("0", (1,), storage_type="LongStorage")}), {}),
     "torch.LongStorage"),
    (lambda p: write_zip(p, state_dict_pickle({"w": tensor_ops("9", (1,))}), {}), "missing from the archive"),
])
def test_malformed_pth(tmp_path, make, expected):
    path = tmp_path / "bad.pth"
    make(path)
    with pytest.raises(LoadError) as e:
        load_model(path)
    assert expected in one_line_error(e)


def test_oversized_file(tmp_path, monkeypatch):
    path = _good_file(tmp_path)
    monkeypatch.setattr("verifier.models.pth.MAX_FILE_BYTES", 100)
    with pytest.raises(LoadError, match="too large"):
        load_model(path)


def test_two_data_pkl_is_ambiguous(tmp_path):
    path = _good_file(tmp_path)
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("other/data.pkl", b"\x80\x02}.")
    with pytest.raises(LoadError, match="ambiguous"):
        load_model(path)


# -- state_dict validation (files and dicts alike) -------------------------------------------

def _with(**changes):
    arrays = m22_like()
    for key, value in changes.items():
        key = key.replace("__", ".")
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    return arrays


@pytest.mark.parametrize("arrays, expected", [
    (_with(linear__weight=None), "missing: linear.weight"),
    (_with(rnn__bias_ih_l0=np.zeros(2, np.float32)), "biases are not supported (found rnn.bias_ih_l0)"),
    (_with(linear__bias=np.zeros(2, np.float32)), "biases are not supported (found linear.bias)"),
    (_with(extra=np.zeros(2, np.float32)), "unexpected: extra"),
    (_with(rnn__weight_ih_l0=np.ones((2, 2), np.float32)), "rnn.weight_ih_l0 has shape (2, 2), expected (2, 1)"),
    (_with(rnn__weight_hh_l0=np.ones((2, 3), np.float32)), "rnn.weight_hh_l0 has shape (2, 3)"),
    (_with(linear__weight=np.ones((2, 3), np.float32)), "linear.weight has shape (2, 3), expected (n, 2)"),
    (_with(rnn__weight_hh_l0=np.array([[1, np.nan], [0, 1]], np.float32)), "rnn.weight_hh_l0 holds NaN or inf"),
    (_with(linear__weight=np.array([[1, np.inf], [0, 1]], np.float32)), "linear.weight holds NaN or inf"),
    (_with(linear__weight=np.ones((1, 2), np.float32)), "one row, so this is a ScalarRNN (the median task)"),
])
def test_state_dict_validation(tmp_path, arrays, expected):
    with pytest.raises(VerifierError) as e:
        load_model(save_pth(tmp_path / "x.pth", arrays))
    assert expected in one_line_error(e)
    with pytest.raises(VerifierError, match=expected[:20].replace("(", r"\(").replace(")", r"\)")):
        model_from_state_dict(arrays)


def test_integer_tensors_refused():
    arrays = _with(linear__weight=np.ones((2, 2), np.int64))
    with pytest.raises(LoadError, match="dtype int64"):
        load_model(arrays)


# -- duck-typed modules ----------------------------------------------------------------------

class FakeTensor:
    """Mimics a torch tensor's .detach().cpu().numpy() chain."""

    def __init__(self, values):
        self.values = np.asarray(values, dtype=np.float32)

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self.values


class Namespace:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def fake_module(arrays, **rnn_extra):
    rnn = Namespace(weight_ih_l0=FakeTensor(arrays["rnn.weight_ih_l0"]),
                    weight_hh_l0=FakeTensor(arrays["rnn.weight_hh_l0"]), **rnn_extra)
    return Namespace(rnn=rnn, linear=Namespace(weight=FakeTensor(arrays["linear.weight"]), bias=None))


def test_duck_typed_object():
    arrays = m22_like()
    m = load_model(fake_module(arrays, bias_ih_l0=None, nonlinearity="relu"))
    assert m == model_from_state_dict(arrays) and m.name == "Namespace"


@pytest.mark.parametrize("extra, expected", [
    ({"bias_ih_l0": FakeTensor([0.0, 0.0])}, "biases are not supported"),
    ({"bias_hh_l0": FakeTensor([1.0, 0.0])}, "biases are not supported"),
    ({"nonlinearity": "tanh"}, "only relu"),
    ({"num_layers": 2}, "single-layer"),
])
def test_duck_typed_refusals(extra, expected):
    with pytest.raises(LoadError, match=expected):
        load_model(fake_module(m22_like(), **extra))


def test_torch_modules_and_files(tmp_path):
    torch = pytest.importorskip("torch", reason="torch not installed: real nn.RNN checks skipped")

    class AlgZooLike(torch.nn.Module):
        def __init__(self, d, n, bias=False):
            super().__init__()
            self.rnn = torch.nn.RNN(1, d, nonlinearity="relu", bias=bias, batch_first=True)
            self.linear = torch.nn.Linear(d, n, bias=bias)

        def forward(self, x):
            return self.linear(self.rnn(x[..., None])[1].squeeze(0))

    torch.manual_seed(0)
    net = AlgZooLike(3, 4)
    m = load_model(net)
    assert m.w_hh == tuple(map(tuple, exact(net.rnn.weight_hh_l0.detach().numpy())))
    x = torch.randn(64, 4)
    from verifier.estimate.sampling import forward
    assert np.allclose(forward(m, x.numpy()), net(x).detach().numpy(), atol=1e-5)

    torch.save(net.state_dict(), tmp_path / "sd.pth")
    assert load_model(tmp_path / "sd.pth") == m
    torch.save(dict(net.named_parameters()), tmp_path / "params.pth")  # Parameters: _rebuild_parameter
    assert load_model(tmp_path / "params.pth") == m
    torch.save(net.double().state_dict(), tmp_path / "sd64.pth")
    assert load_model(tmp_path / "sd64.pth").precision == "float64"

    with pytest.raises(LoadError, match="biases are not supported"):
        load_model(AlgZooLike(3, 4, bias=True))
    with pytest.raises(LoadError, match="refusing to unpickle global"):
        torch.save(net.rnn, tmp_path / "whole.pth")  # a whole module, not a state_dict
        load_model(tmp_path / "whole.pth")


# -- the CLI prints bad input as one line ----------------------------------------------------

@pytest.mark.parametrize("spec", ["foo:1", "handcrafted:4", "zoo:2nd_argmax:x:2", "missing.pth", "README.md"])
def test_cli_bad_spec_one_line(spec, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "README.md").write_text("# not weights")
    assert cli.main(["info", spec]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("verifier: error: ")


def test_cli_info_handcrafted(capsys):
    assert cli.main(["--json", "info", "handcrafted:3"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["d"], data["n"], data["params"], data["name"]) == (4, 3, 32, "handcrafted:3")
    assert isinstance(handcrafted(3), Model)


# -- exact values of every float width; where the task came from --------------------------------

@pytest.mark.parametrize("dtype", [np.longdouble, np.float16])
def test_every_float_width_is_read_exactly(tmp_path, dtype):
    """The issue's example: W_oh[1] = W_oh[0] (1 + 2^-60) in long double must not round to a tie."""
    w_oh = np.array([[1, -1], [-1, 1]], dtype=dtype)
    tiny = np.longdouble(2) ** -60 if dtype is np.longdouble else np.float16(2) ** -10
    w_oh[1] = w_oh[0] * (1 + tiny)
    if w_oh[1, 0] == w_oh[0, 0]:
        pytest.skip(f"{np.dtype(dtype)} is float64 on this platform")
    arrays = (np.array([[1], [-1]], dtype), np.array([[-1, 1], [1, -1]], dtype), w_oh)
    m = Model.from_arrays(*arrays)
    assert m.w_oh[1][0] == 1 + Fraction(*tiny.as_integer_ratio())  # W_oh[0][0] = 1
    np.savez(tmp_path / "w.npz", W_hi=arrays[0], W_hh=arrays[1], W_oh=arrays[2])
    assert load_model(tmp_path / "w.npz").w_oh == m.w_oh


def test_task_source_is_said_and_overridable(m22_path, tmp_path):
    copy = tmp_path / "argmax_best_model.pth"
    copy.write_bytes(m22_path.read_bytes())
    guessed = load_model(copy)
    assert guessed.task.name == "argmax" and "from the file name argmax_best_model.pth" in guessed.describe()
    given = load_model(copy, task="2nd_argmax")
    assert given.task.name == "2nd_argmax" and "[task" not in given.describe()
    assert given.content_hash == guessed.content_hash
    with pytest.raises(LoadError, match="unknown task"):
        load_model(copy, task="argmin")
