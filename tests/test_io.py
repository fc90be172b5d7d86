"""tinygrad_mlp.io: checkpoint round trips, atomic writes, and refusing bad files."""

import io as stdio
import json
import math
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_mlp as tg
from tinygrad_mlp import nn
from tinygrad_mlp.io import CheckpointError, load, save


def assert_same(a, b):
    """Equal values AND equal structure: types of containers, keys and leaves all match."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for (ka, va), kb in zip(a.items(), b, strict=True):
            assert type(ka) is type(kb)
            assert_same(va, b[kb])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
    elif isinstance(a, np.ndarray | np.generic):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


def write_npz(path, members):
    """A raw .npz with exactly these members (bytes or arrays), for crafting bad files."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, value in members.items():
            if isinstance(value, np.ndarray):
                buffer = stdio.BytesIO()
                np.lib.format.write_array(buffer, value, allow_pickle=True)
                value = buffer.getvalue()
            archive.writestr(name + ".npy", value)


def read_members(path):
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


# ---------------------------------------------------------------------- round trips
def test_model_state_dict_round_trip(tmp_path):
    model = nn.MLP([6, 5, 3], seed=0)
    save(model.state_dict(), tmp_path / "model.npz")
    loaded = load(tmp_path / "model.npz")
    assert_same(loaded, model.state_dict())
    other = nn.MLP([6, 5, 3], seed=1)
    other.load_state_dict(loaded)
    x = tg.Tensor(np.ones((2, 6)), dtype="float32")
    np.testing.assert_array_equal(other(x).numpy(), model(x).numpy())


def test_training_checkpoint_with_int_keys_tuples_and_scalars_round_trips(tmp_path):
    model = nn.MLP([4, 3, 2], seed=0)
    obj = {
        "model": model.state_dict(),
        "optimizer": {
            "state": {
                0: {"step": 3, "exp_avg": np.arange(12.0).reshape(3, 4), "count": np.int64(7)},
                1: {"step": 3, "exp_avg": np.zeros(3, np.float32), "lr": np.float64(0.5)},
            },
            "param_groups": [
                {"params": [0, 1, 2, 3], "lr": 1e-3, "betas": (0.9, 0.999), "amsgrad": False},
            ],
        },
        "epoch": 3,
        "best": float("inf"),
        "loss": 0.1,
        "nan": float("nan"),
        "name": "run-1",
        "note": None,
        "mixed": {0: "int zero", "0": "str zero"},
        "empty": {},
        "nested": [[1, 2], (), [3.5, [True, None]]],
    }
    save(obj, tmp_path / "ckpt.npz")
    loaded = load(tmp_path / "ckpt.npz")
    assert_same(loaded, obj)
    assert list(loaded["optimizer"]["state"]) == [0, 1]


def test_tensors_and_device_arrays_come_back_as_numpy(tmp_path):
    t = tg.Tensor(np.arange(6.0).reshape(2, 3), dtype="float64", requires_grad=True)
    strict = tg.Tensor(np.ones(4), dtype="float32", device="array_api_strict")
    save({"t": t, "s": strict, "raw": strict.data}, tmp_path / "t.npz")
    loaded = load(tmp_path / "t.npz")
    assert_same(loaded, {"t": t.numpy(), "s": strict.numpy(), "raw": strict.numpy()})


ARRAYS = hnp.arrays(
    dtype=st.sampled_from([np.float32, np.float64, np.int64, np.int8, np.uint8, np.bool_]),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
)
KEYS = st.one_of(st.text(max_size=5), st.integers(-(2**40), 2**40))
LEAVES = st.one_of(
    ARRAYS,
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=8),
)
TREES = st.recursive(
    LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(KEYS, children, max_size=3),
    ),
    max_leaves=8,
)


@given(tree=st.dictionaries(KEYS, TREES, max_size=4))
@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_supported_tree_round_trips_exactly(tmp_path, tree):
    path = tmp_path / "tree.npz"
    save(tree, path)
    assert_same(load(path), tree)


def test_path_kept_exactly_and_str_paths_work(tmp_path):
    path = str(tmp_path / "weights.ckpt")  # no .npz appended
    save({"a": 1}, path)
    assert (tmp_path / "weights.ckpt").exists() and not (tmp_path / "weights.ckpt.npz").exists()
    assert load(path) == {"a": 1}


def test_manifest_records_key_types_and_digests(tmp_path):
    save({"state": {0: np.ones(2)}}, tmp_path / "m.npz")
    manifest = json.loads(read_members(tmp_path / "m.npz")["__manifest__"].tobytes())
    (entry,) = manifest["arrays"].values()
    assert len(entry["sha256"]) == 64 and entry["at"] == "state.0"
    assert manifest["tree"]["items"][0][2]["items"][0][:2] == ["int", 0]


def test_unsupported_values_raise_before_anything_is_written(tmp_path):
    path = tmp_path / "bad.npz"
    with pytest.raises(TypeError, match=r"set at 'model\.extra'"):
        save({"model": {"extra": {1, 2}}}, path)
    with pytest.raises(TypeError, match="object"):
        save({"a": np.array([{}, 1], dtype=object)}, path)
    with pytest.raises(TypeError, match="keys must be str or int"):
        save({1.5: 1}, path)
    with pytest.raises(TypeError, match="keys must be str or int"):
        save({True: 1}, path)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------- atomic writes
def interrupt_on_second_array(monkeypatch, exc=None):
    exc = RuntimeError("disk on fire") if exc is None else exc
    real = np.lib.format.write_array
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise exc
        return real(*args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", flaky)
    return calls


def test_interrupted_write_leaves_no_file_under_the_final_name(tmp_path, monkeypatch):
    calls = interrupt_on_second_array(monkeypatch)
    with pytest.raises(RuntimeError, match="disk on fire"):
        save({"a": np.ones(3), "b": np.zeros(3)}, tmp_path / "new.npz")
    assert calls == [1, 1]  # it did fail in the middle of writing
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_interrupted_write_keeps_the_previous_file_intact(tmp_path, monkeypatch, exc):
    path = tmp_path / "ckpt.npz"
    save({"epoch": 1, "w": np.arange(4.0)}, path)
    before = path.read_bytes()
    interrupt_on_second_array(monkeypatch, exc)
    with pytest.raises(type(exc)):
        save({"epoch": 2, "w": np.arange(4.0) * 2, "v": np.ones(2)}, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]
    assert load(path)["epoch"] == 1


def test_fsync_failure_cleans_up(tmp_path, monkeypatch):
    import os

    def broken_fsync(fd):
        raise OSError("fsync failed")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="fsync failed"):
        save({"a": 1}, tmp_path / "x.npz")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------- bad files
def test_missing_file_and_directory(tmp_path):
    with pytest.raises(CheckpointError, match=r"nope\.npz.*does not exist"):
        load(tmp_path / "nope.npz")
    with pytest.raises(CheckpointError, match="not a file"):
        load(tmp_path)
    assert issubclass(CheckpointError, ValueError)


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.9, 0.99])
def test_truncated_file_is_reported(tmp_path, fraction):
    path = tmp_path / "cut.npz"
    save({"w": np.arange(1000.0), "epoch": 4}, path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(CheckpointError, match="cut.npz"):
        load(path)


def test_flipped_byte_in_an_array_is_reported(tmp_path):
    path = tmp_path / "flip.npz"
    save({"w": np.zeros(1000)}, path)
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF  # inside the array's data
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="flip.npz"):
        load(path)


def test_tampered_array_fails_its_sha256(tmp_path):
    path = tmp_path / "tampered.npz"
    save({"model": {"w": np.arange(5.0)}}, path)
    members = read_members(path)
    name = next(n for n in members if n != "__manifest__")
    members[name] = members[name] + 1.0  # a consistent zip, but not what was saved
    write_npz(path, {n: np.asarray(v) for n, v in members.items()})
    with pytest.raises(CheckpointError, match=r"tampered\.npz.*model\.w.*SHA-256"):
        load(path)


def test_tampered_manifest_is_reported(tmp_path):
    path = tmp_path / "manifest.npz"
    save({"a": np.ones(2)}, path)
    members = read_members(path)
    members["__manifest__"] = np.frombuffer(b"{not json", dtype=np.uint8)
    write_npz(path, members)
    with pytest.raises(CheckpointError, match="manifest.npz.*unreadable manifest"):
        load(path)


def test_extra_array_not_in_manifest_is_reported(tmp_path):
    path = tmp_path / "extra.npz"
    save({"a": np.ones(2)}, path)
    members = read_members(path)
    members["sneaky"] = np.zeros(3)
    write_npz(path, members)
    with pytest.raises(CheckpointError, match="not in its manifest.*sneaky"):
        load(path)


class Boom:
    """Unpickling this would run code; loading must never get that far."""

    ran = False

    def __reduce__(self):
        return (Boom._mark, ())

    @staticmethod
    def _mark():
        Boom.ran = True
        return 0


def test_object_arrays_are_refused_without_unpickling(tmp_path):
    path = tmp_path / "evil.npz"
    save({"a": np.ones(2)}, path)
    members = read_members(path)
    name = next(n for n in members if n != "__manifest__")
    members[name] = np.array([Boom(), Boom()], dtype=object)
    write_npz(path, members)
    with pytest.raises(CheckpointError, match="evil.npz"):
        load(path)
    assert not Boom.ran
    with np.load(path, allow_pickle=True) as archive:  # the file really is dangerous
        archive[name]
    assert Boom.ran


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "empty"),
        (b"hello, this is text", "not an .npz"),
        (b"\x93NUMPY\x01\x00", "not an .npz"),
    ],
)
def test_files_that_are_not_checkpoints(tmp_path, content, match):
    path = tmp_path / "other.bin"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=f"other.bin.*{match}"):
        load(path)


def test_plain_npz_and_npy_are_not_checkpoints(tmp_path):
    np.savez(tmp_path / "plain.npz", w=np.ones(3))
    with pytest.raises(CheckpointError, match=r"plain\.npz.*not a tinygrad_mlp checkpoint"):
        load(tmp_path / "plain.npz")
    np.save(tmp_path / "single.npy", np.ones(3))
    with pytest.raises(CheckpointError, match=r"single\.npy.*not an \.npz"):
        load(tmp_path / "single.npy")
