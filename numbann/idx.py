"""IDX files (the format of MNIST and Fashion-MNIST) and their download cache.

- :func:`read_idx`: one IDX file, gzipped or not, as a numpy array.
- :func:`load`: the engine behind :func:`numbann.data.load_mnist` and
  :func:`numbann.data.load_fashion_mnist`: finds the files in the cache
  folder, downloads the missing ones (checksum verified) and checks them.
- :func:`fetch` is the only function that touches the network; tests
  replace it (``monkeypatch.setattr(numbann.idx, "fetch", ...)``).

IDX layout: two zero bytes, a type code, the number of dimensions, then one
big-endian int32 per dimension, then the values, big-endian, C order.
"""
import gzip
import hashlib
import http.client
import math
import os
import shutil
import tempfile
import urllib.request
import zlib
from pathlib import Path
from collections.abc import Iterable, Sequence
from typing import Any, BinaryIO

import numpy as np

from . import _checks
from ._typing import Array, DTypeLike

PathLike = str | os.PathLike[str]

__all__ = ["read_idx", "DatasetNotFoundError", "IDX_TYPES", "MIRRORS", "CHECKSUMS",
           "data_home", "fetch", "load"]

IDX_TYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}

TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}

# Base names per split: (images, labels). The cache holds each as NAME or NAME.gz.
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}

# Tried in order; each URL is a mirror plus the .gz file name.
MIRRORS = {
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/",
              "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    "fashion_mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                      "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/"),
}

# (hashlib algorithm, hex digest) of each downloaded .gz file.
CHECKSUMS = {
    "mnist": {
        "train-images-idx3-ubyte.gz": ("md5", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        "train-labels-idx1-ubyte.gz": ("md5", "d53e105ee54ea40749a09fcbcd1e9432"),
        "t10k-images-idx3-ubyte.gz": ("md5", "9fb629c4189551a2d022fa330f9573f3"),
        "t10k-labels-idx1-ubyte.gz": ("md5", "ec29112dd5afa0611ce80d1b7f02629c"),
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte.gz": ("md5", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        "train-labels-idx1-ubyte.gz": ("md5", "25c81989df183df01b3e8a0aad5dffbe"),
        "t10k-images-idx3-ubyte.gz": ("md5", "bef4ecab320f06d8554ea6380940ec79"),
        "t10k-labels-idx1-ubyte.gz": ("md5", "bb300cfdad3c16e7a12a480ee83cd310"),
    },
}

# What a failed fetch can raise: URLError/HTTPError/timeouts are OSErrors,
# a malformed URL is a ValueError, a cut connection an HTTPException.
FETCH_ERRORS = (OSError, ValueError, http.client.HTTPException)


class DatasetNotFoundError(FileNotFoundError):
    """Data set files missing from the cache and not downloaded. The message
    names the folder, the files and the URLs to fetch them from by hand; the
    same are in the attributes ``folder``, ``files`` and ``urls``."""

    def __init__(self, message: str, folder: Path | None = None, files: Iterable[str] = (),
                 urls: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.folder, self.files, self.urls = folder, list(files), list(urls)


def _type_names() -> str:
    return ", ".join(f"0x{code:02X} {dt.type.__name__}" for code, dt in IDX_TYPES.items())


def parse_idx(raw: bytes, name: str = "<bytes>") -> Array:
    """The array held by the IDX bytes ``raw``; ``name`` is used in errors."""
    if len(raw) < 4:
        raise ValueError(f"{name}: {len(raw)} bytes, too short for an IDX file "
                         "(the magic number alone is 4 bytes)")
    if raw[0] or raw[1]:
        raise ValueError(f"{name}: not an IDX file: magic number 0x{raw[:4].hex().upper()} "
                         "does not start with two zero bytes")
    code, ndim = raw[2], raw[3]
    if code not in IDX_TYPES:
        raise ValueError(f"{name}: unknown IDX type code 0x{code:02X} (known: {_type_names()})")
    if ndim == 0:
        raise ValueError(f"{name}: the IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{name}: truncated header: {ndim} dimensions need {header} header "
                         f"bytes, found {len(raw)}")
    dims = np.frombuffer(raw, ">i4", ndim, 4)
    if (dims < 0).any():
        raise ValueError(f"{name}: negative dimension sizes {dims.tolist()} in the IDX header")
    shape = tuple(int(d) for d in dims)
    dtype = IDX_TYPES[code]
    count = math.prod(shape)
    expected, found = count * dtype.itemsize, len(raw) - header
    if found < expected:
        raise ValueError(f"{name}: truncated data: shape {shape} of {dtype.type.__name__} needs "
                         f"{expected} bytes after the {header}-byte header, found {found}")
    if found > expected:
        raise ValueError(f"{name}: {found - expected} bytes of trailing garbage after the data "
                         f"(shape {shape} of {dtype.type.__name__} needs {expected} bytes, "
                         f"found {found})")
    data = np.frombuffer(raw, dtype, count, header)
    return data.astype(dtype.newbyteorder("=")).reshape(shape)  # a native, writable copy


def read_idx(path: PathLike) -> Array:
    """Read one IDX file (gzipped when its name ends in ``.gz`` or its bytes
    start with the gzip magic) into a native-endian numpy array of the shape
    and type the header declares: type codes 0x08 uint8, 0x09 int8, 0x0B int16,
    0x0C int32, 0x0D float32, 0x0E float64. A malformed file (wrong magic,
    unknown type, truncated or trailing data, corrupted gzip stream) raises a
    ValueError naming the file."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    file = Path(path)
    with open(file, "rb") as f:
        raw = f.read()
    if file.name.endswith(".gz") or raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError
            raise ValueError(f"{file}: corrupted gzip stream ({type(e).__name__}: {e})") from e
    return parse_idx(raw, str(file))


def data_home(path: PathLike | None = None) -> Path:
    """The cache root: ``path``, else ``$NUMBANN_DATA``, else ``~/.numbann/data``."""
    if path is None:
        default = os.environ.get("NUMBANN_DATA") or Path.home() / ".numbann" / "data"
        return Path(default).expanduser()
    elif not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be None, a str or an os.PathLike, got {type(path).__name__}")
    if isinstance(path, str) and not path:
        raise ValueError("path must not be an empty string (None for the default cache)")
    return Path(path).expanduser()


def fetch(url: str, file: BinaryIO, timeout: float = 60) -> None:
    """Write the body found at ``url`` into the binary file object ``file``."""
    request = urllib.request.Request(url, headers={"User-Agent": "numbann"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        shutil.copyfileobj(response, file, 1 << 20)


def _digest(path: PathLike, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _download(dataset: str, gz_name: str, folder: Path) -> Path | list[str]:
    """Fetch ``gz_name`` into ``folder`` from the first mirror that serves it
    with the right checksum; returns its path, or a list of failure reasons.
    Bytes go to a temporary file renamed only once the checksum matches."""
    algorithm, digest = CHECKSUMS[dataset][gz_name]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return [f"cannot create {folder}: {e}"]
    reasons: list[str] = []
    for mirror in MIRRORS[dataset]:
        url = mirror + gz_name
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{gz_name}.", suffix=".part", dir=folder)
            with os.fdopen(fd, "wb") as f:
                fetch(url, f)
            got = _digest(tmp, algorithm)
            if got != digest:
                reasons.append(f"{url}: {algorithm} checksum mismatch "
                               f"(expected {digest}, got {got})")
                continue
            os.replace(tmp, folder / gz_name)
            tmp = None
            return folder / gz_name
        except FETCH_ERRORS as e:
            reasons.append(f"{url}: {type(e).__name__}: {e}")
        finally:
            if tmp is not None:
                try:
                    os.remove(tmp)
                except OSError:
                    pass
    return reasons


def _find(folder: Path, base: str) -> Path | None:
    for name in (base, base + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _missing_error(dataset: str, split: str, folder: Path, missing: Sequence[str],
                   reasons: Sequence[str]) -> DatasetNotFoundError:
    gz = [base + ".gz" for base in missing]
    urls = [mirror + name for name in gz for mirror in MIRRORS[dataset]]
    why = "\n".join("  " + r for r in reasons)
    lines = [f"{TITLES[dataset]} {split} files missing from {folder}: {', '.join(gz)} "
             "(or the same names without .gz).",
             f"Download failed:\n{why}" if reasons else "Not downloaded (download=False).",
             "Fetch them by hand into that folder from one of:",
             *("  " + u for u in urls),
             f"or pass path= (or set NUMBANN_DATA to) a folder with a {dataset}/ subfolder "
             "holding them."]
    return DatasetNotFoundError("\n".join(lines), folder, gz, urls)


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def load(dataset: str, split: str = "train", flat: bool = False, scale: bool = True,
         path: PathLike | None = None, download: bool = True,
         dtype: DTypeLike = "float64") -> tuple[Array, Array]:
    """``(X, y)`` of ``dataset`` ('mnist' or 'fashion_mnist'); see
    :func:`numbann.data.load_mnist` for the arguments."""
    if dataset not in TITLES:
        raise ValueError(f"dataset must be one of {', '.join(map(repr, TITLES))}, got {dataset!r}")
    if not isinstance(split, str) or split not in FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    flat, scale = _flag(flat, "flat"), _flag(scale, "scale")
    download = _flag(download, "download")
    float_dtype = _checks.as_dtype(dtype)
    folder = data_home(path) / dataset
    bases = FILES[split]
    missing = [b for b in bases if _find(folder, b) is None]
    reasons: list[str] = []
    if missing and download:
        for base in missing:
            got = _download(dataset, base + ".gz", folder)
            if not isinstance(got, Path):
                reasons = got  # one file failing on every mirror: don't try the rest
                break
        missing = [b for b in bases if _find(folder, b) is None]
    if missing:
        raise _missing_error(dataset, split, folder, missing, reasons)
    images_path, labels_path = (folder / b if (folder / b).is_file() else folder / f"{b}.gz"
                                for b in bases)
    images, labels = read_idx(images_path), read_idx(labels_path)
    title = TITLES[dataset]
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{images_path}: {title} images must be uint8 of shape (n, 28, 28), "
                         f"got {images.dtype} of shape {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(f"{labels_path}: {title} labels must be uint8 of shape (n,), "
                         f"got {labels.dtype} of shape {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{images_path} holds {len(images)} images but {labels_path} holds "
                         f"{len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise ValueError(f"{labels_path}: labels must be 0..9, found {int(labels.max())}")
    X = images.astype(float_dtype)
    if scale:
        X /= float_dtype.type(255)
    X = X.reshape(len(X), 784) if flat else X.reshape(len(X), 1, 28, 28)
    return X, labels.astype(np.int64)
