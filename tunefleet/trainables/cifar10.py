"""CIFAR-10 from the official "python version" archive, kept as uint8 images on the device.

The archive (https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz, 163 MB) unpacks into a
directory ``cifar-10-batches-py`` holding ``data_batch_1`` .. ``data_batch_5`` (10,000 training
images each), ``test_batch`` (10,000) and ``batches.meta``. Each batch is a pickled dict whose
``b"data"`` is a uint8 array of shape ``(N, 3072)``, channel-major (1024 red, 1024 green, 1024
blue values, rows of 32), and ``b"labels"`` a list of N ints in 0..9.

Nothing here downloads: :func:`find_cifar10` says how to fetch the archive when it is missing.
The images stay uint8 (150 MB for the training set) on the trial's device, and every batch is
augmented and normalised there (:mod:`tunefleet.trainables.transforms`).
"""

from __future__ import annotations

import pickle
import shlex
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tunefleet.trainables.data import DataSplits, cache_dir, carve_validation
from tunefleet.trainables.transforms import ImageBatchTransform

__all__ = [
    "ARCHIVE_URL",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "DIRECTORY_NAME",
    "FILES",
    "default_data_dir",
    "fetch_instructions",
    "find_cifar10",
    "load_cifar10",
    "read_batch",
    "write_random_archive",
]

ARCHIVE_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
#: What the archive unpacks into.
DIRECTORY_NAME = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
#: Every file the loader needs.
FILES = (*TRAIN_FILES, TEST_FILE, META_FILE)
#: Per-channel mean and standard deviation of the 50,000 training images, scaled to [0, 1].
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

_IMAGE_SHAPE = (3, 32, 32)
_NUM_CLASSES = 10


def default_data_dir() -> Path:
    """``cache_dir() / "cifar-10-batches-py"`` (``~/.cache/tunefleet/cifar-10-batches-py``)."""
    return cache_dir() / DIRECTORY_NAME


def fetch_instructions(directory: Path) -> str:
    """A shell command that puts the archive's files where :func:`find_cifar10` looks in ``directory``."""
    # The archive unpacks into cifar-10-batches-py/, which find_cifar10 also accepts inside data_dir.
    target = directory.parent if directory.name == DIRECTORY_NAME else directory
    quoted = shlex.quote(str(target))
    return f"mkdir -p {quoted} && curl -L {ARCHIVE_URL} | tar -xz -C {quoted}"


def find_cifar10(data_dir: str | Path) -> Path:
    """The directory holding the archive's files: ``data_dir``, or its ``cifar-10-batches-py``.

    Args:
        data_dir: An absolute path (``~`` is expanded). Trials run in their own working
            directories, so a relative path would not mean what it says.

    Raises:
        ValueError: If the path is relative or files are missing; the message lists the files
            expected and the command that fetches them.
    """
    directory = Path(data_dir).expanduser()
    if not directory.is_absolute():
        raise ValueError(
            f"data_dir must be an absolute path (or start with ~), got {str(data_dir)!r}: trials "
            "run in their own working directories"
        )
    for candidate in (directory, directory / DIRECTORY_NAME):
        if all((candidate / name).is_file() for name in FILES):
            return candidate
    missing = [name for name in FILES if not (directory / name).is_file()]
    found = "no such directory" if not directory.is_dir() else f"missing {', '.join(missing)}"
    raise ValueError(
        f"CIFAR-10 not found in {directory} ({found}); expected the files of the python version "
        f"of the archive there ({', '.join(FILES)}). To fetch it (163 MB): {fetch_instructions(directory)}"
    )


class _ArraysOnly(pickle.Unpickler):
    """Unpickles dicts, lists, numbers, bytes and numpy arrays; refuses every other object."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: not part of a CIFAR-10 batch")
        return super().find_class(module, name)


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The images ``(N, 3, 32, 32)`` (uint8) and labels ``(N,)`` (int64) of one batch file.

    The files are pickles. They are read with an unpickler that builds nothing but plain
    containers and numpy arrays, so a tampered file cannot run code; still, use only files
    from the official archive, as with any pickle.

    Raises:
        ValueError: If the file is not a readable CIFAR-10 batch (truncated, another format,
            wrong shapes, dtypes or labels), naming the file and what was expected.
    """
    expected = 'a pickled dict with b"data" (uint8, N x 3072) and b"labels" (N ints in 0..9)'
    try:
        with open(path, "rb") as f:
            batch = _ArraysOnly(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as err:
        raise ValueError(f"{path}: not a CIFAR-10 batch ({err}); expected {expected}") from err
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"{path}: not a CIFAR-10 batch; expected {expected}")
    data, labels = batch[b"data"], np.asarray(batch[b"labels"])
    problems = []
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", None)
        problems.append(f"data is {type(data).__name__} {getattr(data, 'dtype', '')} of shape {shape}")
    elif labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer):
        problems.append(f"{labels.size} labels of {labels.dtype} for {len(data)} images")
    elif len(labels) and (labels.min() < 0 or labels.max() >= _NUM_CLASSES):
        problems.append(f"labels range over {labels.min()}..{labels.max()}")
    if problems:
        raise ValueError(f"{path}: corrupt CIFAR-10 batch ({problems[0]}); expected {expected}")
    return data.reshape(-1, *_IMAGE_SHAPE), labels.astype(np.int64)


def load_cifar10(data_dir: str | Path, val_fraction: float = 0.1) -> DataSplits:
    """CIFAR-10 as uint8 image tensors with on-device augmentation and normalisation.

    Training batches are randomly cropped (4 pixels of zero padding) and flipped horizontally,
    then normalised per channel (:data:`CIFAR10_MEAN`, :data:`CIFAR10_STD`); validation and
    test batches are only normalised.

    Args:
        data_dir: The archive's directory (see :func:`find_cifar10`).
        val_fraction: Share of the 50,000 training images held out for validation (a fixed
            split, the same for every trial).

    Returns:
        Splits with ``x`` uint8 of shape ``(n, 3, 32, 32)`` and int64 labels.
    """
    directory = find_cifar10(data_dir)
    parts = [read_batch(directory / name) for name in TRAIN_FILES]
    x = torch.from_numpy(np.concatenate([images for images, _ in parts]))
    y = torch.from_numpy(np.concatenate([labels for _, labels in parts]))
    x_test, y_test = read_batch(directory / TEST_FILE)
    x_train, y_train, x_val, y_val = carve_validation(x, y, val_fraction)
    return DataSplits(
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        x_test=torch.from_numpy(x_test),
        y_test=torch.from_numpy(y_test),
        train_batch_transform=ImageBatchTransform(CIFAR10_MEAN, CIFAR10_STD, crop_padding=4, flip=True),
        eval_batch_transform=ImageBatchTransform(CIFAR10_MEAN, CIFAR10_STD),
    )


# --------------------------------------------------------------------------- writing (tests, benchmarks)


# The pure-Python pickler (the C one cannot be taught to write Python 2 strings); untyped in typeshed.
_PurePickler: Any = pickle._Pickler


class _Python2Pickler(_PurePickler):
    """Writes what CIFAR-10's Python 2 cPickle wrote at protocol 2.

    Python 2 strings were byte strings (``SHORT_BINSTRING``/``BINSTRING``; Python 3 would wrap
    bytes in ``_codecs.encode`` at protocol 2), and numpy of the time pickled arrays with
    ``numpy.core.multiarray._reconstruct``.
    """

    dispatch = dict(_PurePickler.dispatch)

    def _save_python2_str(self, obj: bytes | str) -> None:
        data = obj if isinstance(obj, bytes) else obj.encode("ascii")
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[bytes] = _save_python2_str
    dispatch[str] = _save_python2_str

    def save_global(self, obj: Any, name: str | None = None) -> None:
        module = obj.__module__.replace("numpy._core.", "numpy.core.")
        self.write(pickle.GLOBAL + f"{module}\n{name or obj.__qualname__}\n".encode())
        self.memoize(obj)


def _write_python2_pickle(path: Path, value: Any) -> None:
    with open(path, "wb") as f:
        _Python2Pickler(f, protocol=2).dump(value)


_LABEL_NAMES = [
    b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"
]  # fmt: skip


def write_random_archive(directory: Path, per_batch: int = 40, test: int = 50, seed: int = 0) -> Path:
    """Writes the python version of CIFAR-10's files with random images into ``directory``.

    For tests and benchmarks, which must not download the data: the real loading code runs on
    files byte-for-byte like the official ones.

    The exact on-disk layout of ``cifar-10-batches-py``: ``data_batch_1`` .. ``data_batch_5``
    (``per_batch`` images each), ``test_batch`` (``test`` images) and ``batches.meta``, each a
    protocol-2 pickle of a dict with byte-string keys; ``b"data"`` is a uint8 array of shape
    ``(N, 3072)``, channel-major, ``b"labels"`` a list of ints.

    Returns:
        ``directory``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    files = [(f"data_batch_{i}", f"training batch {i} of 5", per_batch) for i in range(1, 6)]
    for name, label, n in [*files, ("test_batch", "testing batch 1 of 1", test)]:
        batch = {
            b"batch_label": label.encode(),
            b"labels": [int(v) for v in rng.integers(0, 10, size=n)],
            b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
            b"filenames": [f"image_{name}_{i}.png".encode() for i in range(n)],
        }
        _write_python2_pickle(directory / name, batch)
    meta = {b"num_cases_per_batch": per_batch, b"label_names": _LABEL_NAMES, b"num_vis": 3072}
    _write_python2_pickle(directory / "batches.meta", meta)
    return directory
