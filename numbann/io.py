"""numbann's files: atomic writes, a format header with a checksum, and
loading that names the file and what is wrong with it.

Every file is an ``.npz`` archive (plain NumPy arrays, readable by
``np.load``) with one extra member, ``numbann_file``: a JSON string
``{"format": ..., "version": ..., "sha256": ...}``. The checksum covers
every other member (its name, dtype, shape and bytes, in name order).

``write`` writes to a temporary file in the target's folder, flushes and
fsyncs it, then renames it over the target (``os.replace``, atomic on POSIX
and Windows): a crash at any moment leaves the old file or the new one,
never a mix. A crash can leave a stray ``.<name>.<pid>.<random>.tmp`` file
beside the target; it is never read.

``read`` never unpickles (``allow_pickle=False``): a file is data, not code.
Files written before the header existed (plain ``np.savez``) are version 0:
read and validated the same way, without a checksum.
"""
import hashlib
import json
import os
import secrets
import stat

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np

from ._typing import Array, ArrayLike, DTypeLike

PathLike = str | os.PathLike[str]
Arrays = dict[str, Array]

HEADER = "numbann_file"
NETWORK, CHECKPOINT, TRACE = "numbann-network", "numbann-checkpoint", "numbann-trace"
VERSIONS = {NETWORK: 1, CHECKPOINT: 1, TRACE: 1}  # the newest version of each format


class NumbannFileError(ValueError):
    """A file numbann cannot read: truncated, corrupted, foreign, written by
    a newer numbann, or holding values that make no sense. The message
    starts with the file's path."""


def checksum(arrays: Mapping[str, ArrayLike]) -> str:
    """SHA-256 (hex) of named arrays: names, dtypes, shapes and C-order bytes."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.asarray(arrays[name])
        h.update(f"{name}\0{a.dtype.str}\0{a.shape}\0".encode())
        h.update(np.ascontiguousarray(a).reshape(-1).view(np.uint8).data)
    return h.hexdigest()


def write(path: PathLike, arrays: Mapping[str, ArrayLike], format: str, compressed: bool = False,
          version: int | None = None) -> str:
    """Write ``arrays`` (name -> array) to ``path`` atomically, with the header
    of ``format`` (its newest version unless ``version`` is given); returns ``path``."""
    path = os.fspath(path)
    stored = {name: np.asarray(a) for name, a in arrays.items()}
    header = {"format": format, "version": version or VERSIONS[format],
              "sha256": checksum(stored)}
    stored[HEADER] = np.array(json.dumps(header))
    folder, base = os.path.split(os.path.abspath(path))
    tmp = os.path.join(folder, f".{base}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # os.open with mode 0o666: the umask applies, as for a plain open()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            save = np.savez_compressed if compressed else np.savez
            save(f, **stored)  # type: ignore[arg-type]  # the keywords are array names
            f.flush()
            os.fsync(f.fileno())
        if os.path.exists(path):  # keep the permissions of the file it replaces
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _sync_folder(folder)  # make the rename itself durable
    return path


def _sync_folder(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open a folder; its rename is durable enough
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read(path: PathLike, formats: Sequence[str],
         legacy: Collection[str] | None = None) -> tuple[str, int, Arrays]:
    """Read a numbann file: returns ``(format, version, arrays)``.

    ``formats``: the accepted format names (the newest version of each is
    ``VERSIONS[name]``). ``legacy``: the keys that identify a version-0 file
    (no header) of the first format. Raises :class:`NumbannFileError` for
    anything but a valid file of an accepted format (a missing file stays a
    FileNotFoundError)."""
    name = os.fspath(path)
    with open(path, "rb") as f:
        try:
            data = np.load(f, allow_pickle=False)
            if not hasattr(data, "files"):
                raise NumbannFileError(f"{name}: not a numbann file (a single .npy array)")
            with data:
                arrays = {k: data[k] for k in data.files}
        except NumbannFileError:
            raise
        except Exception as e:  # zip, npy or zlib errors from damaged bytes
            raise NumbannFileError(f"{name}: not a readable .npz file (truncated, corrupted or "
                                   f"not numbann's): {type(e).__name__}: {e}") from None
    wanted = " or ".join(formats)
    if HEADER not in arrays:
        first = formats[0]
        if legacy and all(k in arrays for k in legacy):
            return first, 0, arrays
        keys = ", ".join(sorted(arrays)) or "none"
        raise NumbannFileError(f"{name}: not a {wanted} file (no numbann header; "
                               f"its arrays: {keys})")
    try:
        header = json.loads(str(arrays.pop(HEADER)))
        fmt, version, digest = header["format"], header["version"], header["sha256"]
    except (ValueError, TypeError, KeyError) as e:
        raise NumbannFileError(f"{name}: the numbann header is damaged ({e})") from None
    if fmt not in formats:
        raise NumbannFileError(f"{name}: a {fmt!r} file, not a {wanted} file")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise NumbannFileError(f"{name}: bad format version {version!r}")
    if version > VERSIONS[fmt]:
        raise NumbannFileError(f"{name}: {fmt} format version {version} is newer than this "
                               f"numbann reads (up to {VERSIONS[fmt]}): upgrade numbann")
    if checksum(arrays) != digest:
        raise NumbannFileError(f"{name}: checksum mismatch: the file is corrupted")
    return fmt, version, arrays


def require(path: PathLike, arrays: Mapping[str, Array], *keys: str) -> None:
    """Raise unless every key is in ``arrays``."""
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise NumbannFileError(f"{os.fspath(path)}: missing {', '.join(map(repr, missing))}")


def json_entry(path: PathLike, arrays: Mapping[str, Array], key: str) -> Any:
    """The JSON value stored as the string array ``arrays[key]``."""
    require(path, arrays, key)
    a = arrays[key]
    try:
        if a.dtype.kind != "U" or a.ndim != 0:
            raise ValueError(f"a {a.dtype} array of shape {a.shape}, not a string")
        return json.loads(str(a))
    except ValueError as e:
        raise NumbannFileError(f"{os.fspath(path)}: {key!r} is not valid JSON ({e})") from None


def params(path: PathLike, arrays: Mapping[str, Array], key: str, dtype: DTypeLike | None = None,
           size: int | None = None, finite: bool = True) -> Array:
    """``arrays[key]`` checked as a parameter vector: 1-D float32/float64 (of
    ``dtype`` and ``size`` when given), finite unless ``finite=False``."""
    require(path, arrays, key)
    a, where = arrays[key], f"{os.fspath(path)}: {key}"
    if a.dtype not in (np.float32, np.float64) or a.ndim != 1:
        raise NumbannFileError(f"{where} must be a 1-D float32 or float64 vector, got "
                               f"{a.dtype} of shape {a.shape}")
    if dtype is not None and a.dtype != np.dtype(dtype):
        raise NumbannFileError(f"{where} is {a.dtype}, but the network is {np.dtype(dtype)}")
    if size is not None and a.size != size:
        raise NumbannFileError(f"{where} has {a.size} entries, the architecture needs {size}")
    if finite and not np.all(np.isfinite(a)):
        raise NumbannFileError(f"{where} contains NaN or inf")
    return a

