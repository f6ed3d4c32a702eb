"""Read PyTorch `.pth` state dicts as numpy arrays, without torch and without running code.

`torch.save` writes a pickle, and unpickling a file from elsewhere may run any
code it names. This reader unpickles with an allow-list: plain Python values,
`collections.OrderedDict`, tensors (`torch._utils._rebuild_tensor_v2`,
`torch._utils._rebuild_parameter`) and the typed storages (`torch.FloatStorage`,
...), each mapped to a numpy-building function written here. Any other global
(`os.system`, `builtins.eval`, a module's class, ...) stops the load with
`UnsafePickleError` before it is called.

Both of torch's formats are read: the zip archive (`<name>/data.pkl` plus one
`<name>/data/<key>` file per storage; torch >= 1.6) and the legacy stream of
pickles followed by the raw storages (e.g. `efficientnet-lite0-57934424.pth`).
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# The first pickle of a legacy file, then its protocol version.
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

# torch storage type -> numpy dtype; bfloat16 is widened to float32 on load.
STORAGE_DTYPES = {
    "DoubleStorage": np.dtype("float64"),
    "FloatStorage": np.dtype("float32"),
    "HalfStorage": np.dtype("float16"),
    "BFloat16Storage": np.dtype("uint16"),
    "LongStorage": np.dtype("int64"),
    "IntStorage": np.dtype("int32"),
    "ShortStorage": np.dtype("int16"),
    "CharStorage": np.dtype("int8"),
    "ByteStorage": np.dtype("uint8"),
    "BoolStorage": np.dtype("bool"),
}


class PthFormatError(ValueError):
    """A file that is not a PyTorch checkpoint this reader understands."""


class UnsafePickleError(pickle.UnpicklingError):
    """A checkpoint whose pickle names a global outside the allow-list."""


def load_state_dict(path) -> dict:
    """Read a `.pth` file written by `torch.save`, tensors as numpy arrays.

    Args:
        path: the file (zip or legacy torch format).

    Returns:
        What was saved, usually a dict of name -> array (`OrderedDict`); arrays
        keep their dtype, shape and values (bfloat16 becomes float32).

    Raises:
        UnsafePickleError: the pickle names a global outside the allow-list.
        PthFormatError: the file is not a torch checkpoint, or is damaged.

    Example:
        >>> weights = load_state_dict("efficientnet-lite0-57934424.pth")
        >>> weights["_conv_stem.weight"].shape   # (32, 3, 3, 3)
    """
    path = Path(path)
    if zipfile.is_zipfile(path):
        return _load_zip(path)
    if tarfile.is_tarfile(path):
        raise PthFormatError(
            f"{path} is in torch's tar format (PyTorch < 0.4), which is not supported. "
            "Re-save it with a recent torch."
        )
    return _load_legacy(path)


# --- the allow-listed pickle ----------------------------------------------------


@dataclass
class _Storage:
    """A storage named by the pickle; `data` is filled once its bytes are read."""

    key: str
    dtype: np.dtype
    numel: int
    bfloat16: bool
    data: np.ndarray | None = None


@dataclass
class _TensorRef:
    """A tensor awaiting its storage's data: `_rebuild_tensor_v2`'s arguments."""

    storage: _Storage
    offset: int
    size: tuple
    stride: tuple


class _StorageType:
    """Stands for `torch.<Name>Storage` in the pickle; never called."""

    def __init__(self, name: str):
        self.name = name


def _rebuild_tensor_v2(storage, storage_offset, size, stride, *_ignored):
    if not isinstance(storage, _Storage):
        raise PthFormatError(
            f"a tensor must be built on a storage. Received: {type(storage).__name__}"
        )
    return _TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *_ignored):
    return data


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(name) for name in STORAGE_DTYPES},
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles only plain values and the globals in `_ALLOWED`."""

    def __init__(self, file, source: Path):
        super().__init__(file)
        self.source = source
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"{self.source} refers to the global '{module}.{name}', which a state "
                "dict does not need; it was not loaded, so no code from the file ran. "
                "Allowed: plain values, collections.OrderedDict, tensors and torch "
                f"storages. Received: global '{module}.{name}'"
            ) from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] in ("storage", b"storage")):
            raise PthFormatError(
                f"{self.source}: a persistent id must be a storage record. Received: {pid!r}"
            )
        _, storage_type, key, _location, numel = pid
        if not isinstance(storage_type, _StorageType):
            raise PthFormatError(f"{self.source}: unknown storage type. Received: {storage_type!r}")
        if not isinstance(key, str) or not isinstance(numel, int) or numel < 0:
            raise PthFormatError(
                f"{self.source}: bad storage record. Received: key={key!r}, numel={numel!r}"
            )
        storage = self.storages.get(key)
        if storage is None:
            name = storage_type.name
            storage = _Storage(key, STORAGE_DTYPES[name], numel, name == "BFloat16Storage")
            self.storages[key] = storage
        return storage


class _LegacyUnpickler(_RestrictedUnpickler):
    """The legacy format's persistent ids: ('storage', type, key, location, numel, view)."""

    def persistent_load(self, pid):
        if isinstance(pid, tuple) and len(pid) == 6:
            if pid[5] is not None:
                raise PthFormatError(
                    f"{self.source} uses storage views (saved by a very old torch), "
                    "which are not supported. Re-save it with a recent torch."
                )
            pid = pid[:5]
        return super().persistent_load(pid)


# --- the two file formats -------------------------------------------------------


def _load_zip(path: Path):
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise PthFormatError(
                f"{path} is a zip file but not a torch checkpoint: expected one "
                f"'<name>/data.pkl'. Received: {len(pickles)} such entries"
            )
        prefix = pickles[0][: -len("data.pkl")]
        big_endian = prefix + "byteorder" in names and archive.read(prefix + "byteorder") == b"big"
        unpickler = _RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), path)
        result = _unpickle(unpickler, path)
        for storage in unpickler.storages.values():
            entry = f"{prefix}data/{storage.key}"
            if entry not in names:
                raise PthFormatError(f"{path} lacks the storage file '{entry}'.")
            _fill(storage, archive.read(entry), big_endian, path)
    return _materialize(result, path)


def _load_legacy(path: Path):
    with open(path, "rb") as file:
        header = [_unpickle(_RestrictedUnpickler(file, path), path) for _ in range(3)]
        magic, protocol, sys_info = header
        if magic != LEGACY_MAGIC or protocol != LEGACY_PROTOCOL or not isinstance(sys_info, dict):
            raise PthFormatError(
                f"{path} is not a PyTorch checkpoint: it has neither the zip layout "
                "nor the legacy header."
            )
        big_endian = not sys_info.get("little_endian", True)
        unpickler = _LegacyUnpickler(file, path)
        result = _unpickle(unpickler, path)
        keys = _unpickle(_RestrictedUnpickler(file, path), path)
        if not isinstance(keys, list) or set(keys) != set(unpickler.storages):
            raise PthFormatError(f"{path}: the list of storages does not match the tensors.")
        for key in keys:
            storage = unpickler.storages[key]
            count = file.read(8)
            if len(count) != 8:
                raise PthFormatError(f"{path} is truncated: storage '{key}' is missing.")
            (numel,) = struct.unpack(">q" if big_endian else "<q", count)
            if numel != storage.numel:
                raise PthFormatError(
                    f"{path}: storage '{key}' holds {numel} elements; its tensors "
                    f"expect {storage.numel}."
                )
            _fill(storage, file.read(numel * storage.dtype.itemsize), big_endian, path)
    return _materialize(result, path)


def _unpickle(unpickler: _RestrictedUnpickler, path: Path):
    try:
        return unpickler.load()
    except (UnsafePickleError, PthFormatError):
        raise
    except Exception as error:  # pickle raises many kinds for garbage
        raise PthFormatError(
            f"{path} is not a PyTorch checkpoint this reader understands "
            f"(unpickling failed: {type(error).__name__}: {error})"
        ) from error


def _fill(storage: _Storage, raw: bytes, big_endian: bool, path: Path) -> None:
    expected = storage.numel * storage.dtype.itemsize
    if len(raw) < expected:
        raise PthFormatError(
            f"{path} is truncated: storage '{storage.key}' has {len(raw)} bytes, "
            f"expected {expected}."
        )
    dtype = storage.dtype.newbyteorder(">" if big_endian else "<")
    data = np.frombuffer(raw, dtype=dtype, count=storage.numel).astype(storage.dtype)
    if storage.bfloat16:  # the high half of a float32
        data = (data.astype(np.uint32) << 16).view(np.float32)
    storage.data = data


def _materialize(value, path: Path):
    """Replace every `_TensorRef` in dicts, lists and tuples by its array."""
    if isinstance(value, _TensorRef):
        return _tensor(value, path)
    if isinstance(value, dict):
        return type(value)((k, _materialize(v, path)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(_materialize(v, path) for v in value)
    if isinstance(value, (_Storage, _StorageType)):
        raise PthFormatError(f"{path} holds a bare storage, not a tensor.")
    return value


def _tensor(ref: _TensorRef, path: Path) -> np.ndarray:
    data = ref.storage.data
    assert data is not None, "storages are read before their tensors are built"
    if len(ref.size) != len(ref.stride) or any(
        not isinstance(n, int) or n < 0 for n in ref.size + ref.stride + (ref.offset,)
    ):
        raise PthFormatError(
            f"{path}: a tensor has a bad layout. Received: size={ref.size}, "
            f"stride={ref.stride}, offset={ref.offset}"
        )
    if 0 in ref.size:
        return np.zeros(ref.size, dtype=data.dtype)
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride))
    if last >= data.size:
        raise PthFormatError(
            f"{path}: a tensor reaches past its storage '{ref.storage.key}'. Received: "
            f"size={ref.size}, stride={ref.stride}, offset={ref.offset}, storage "
            f"of {data.size} elements"
        )
    strides = tuple(s * data.itemsize for s in ref.stride)
    view = np.lib.stride_tricks.as_strided(data[ref.offset :], ref.size, strides, writeable=False)
    return np.array(view)
