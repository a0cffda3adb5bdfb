"""MNIST and Fashion-MNIST loaders and the IDX reader, on small IDX files
written here (7 training and 3 test images); downloads go through a
replaced numbann.idx.fetch, never the network."""
import gzip
import hashlib
import re
import struct
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from numbann import idx
from numbann.data import DatasetNotFoundError, load_fashion_mnist, load_mnist, read_idx

TRAIN = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
TEST = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C,
         np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(array, code=None):
    """IDX bytes written by hand (independent of the reader)."""
    array = np.asarray(array)
    code = CODES[array.dtype.type] if code is None else code
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path, data, gz=False):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        data = gzip.compress(data)
        path = path.with_name(path.name + ".gz")
    path.write_bytes(data)
    return path


def images(n, offset=0):
    return ((np.arange(n * 784) * 7 + offset) % 256).astype(np.uint8).reshape(n, 28, 28)


TRAIN_X, TRAIN_Y = images(7), np.array([3, 1, 4, 1, 5, 9, 2], np.uint8)
TEST_X, TEST_Y = images(3, offset=100), np.array([0, 9, 8], np.uint8)


def make_split(folder, names, X, y, gz=False):
    write(folder / names[0], idx_bytes(X), gz)
    write(folder / names[1], idx_bytes(y), gz)


@pytest.fixture
def no_fetch(monkeypatch):
    def fail(url, file):
        raise AssertionError(f"unexpected fetch of {url}")
    monkeypatch.setattr(idx, "fetch", fail)


@pytest.fixture
def root(tmp_path, no_fetch):
    make_split(tmp_path / "mnist", TRAIN, TRAIN_X, TRAIN_Y, gz=True)
    make_split(tmp_path / "mnist", TEST, TEST_X, TEST_Y, gz=False)
    return tmp_path


# --- the loaders -------------------------------------------------------------

@pytest.mark.parametrize("gz", [False, True])
def test_train_split_nchw_scaled(tmp_path, no_fetch, gz):
    make_split(tmp_path / "mnist", TRAIN, TRAIN_X, TRAIN_Y, gz)
    X, y = load_mnist(path=tmp_path)
    assert X.shape == (7, 1, 28, 28) and X.dtype == np.float64
    np.testing.assert_array_equal(X[:, 0], TRAIN_X / 255.0)
    assert 0.0 <= X.min() and X.max() == 1.0
    assert y.dtype == np.int64 and y.tolist() == [3, 1, 4, 1, 5, 9, 2]


def test_flat_unscaled_float32_test_split(root):
    X, y = load_mnist("test", flat=True, scale=False, path=str(root), dtype="float32")
    assert X.shape == (3, 784) and X.dtype == np.float32
    np.testing.assert_array_equal(X, TEST_X.reshape(3, 784).astype(np.float32))
    assert y.tolist() == [0, 9, 8]
    X32, _ = load_mnist("test", flat=True, path=root, dtype=np.float32)
    np.testing.assert_allclose(X32, X / 255, rtol=1e-6)


def test_fashion_mnist_reads_its_own_subfolder(tmp_path, no_fetch):
    make_split(tmp_path / "fashion_mnist", TEST, TEST_X, TEST_Y, gz=True)
    X, y = load_fashion_mnist("test", path=tmp_path)
    assert X.shape == (3, 1, 28, 28) and y.tolist() == [0, 9, 8]
    with pytest.raises(DatasetNotFoundError, match="mnist"):
        load_mnist("test", path=tmp_path, download=False)


def test_uncompressed_file_preferred_over_gz(tmp_path, no_fetch):
    folder = tmp_path / "mnist"
    make_split(folder, TRAIN, TRAIN_X, TRAIN_Y)
    (folder / (TRAIN[0] + ".gz")).write_bytes(b"not gzip")
    assert load_mnist(path=tmp_path)[0].shape == (7, 1, 28, 28)


def test_cache_root_from_env_then_home(tmp_path, monkeypatch, no_fetch):
    make_split(tmp_path / "env" / "mnist", TRAIN, TRAIN_X, TRAIN_Y)
    monkeypatch.setenv("NUMBANN_DATA", str(tmp_path / "env"))
    assert load_mnist()[1].tolist() == TRAIN_Y.tolist()
    assert idx.data_home() == tmp_path / "env"
    monkeypatch.delenv("NUMBANN_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert idx.data_home() == tmp_path / "home" / ".numbann" / "data"
    with pytest.raises(DatasetNotFoundError, match=re.escape(str(tmp_path / "home"))):
        load_mnist(download=False)


def test_missing_files_without_download(tmp_path, no_fetch):
    with pytest.raises(DatasetNotFoundError) as info:
        load_fashion_mnist("test", path=tmp_path, download=False)
    e = info.value
    assert isinstance(e, FileNotFoundError) and isinstance(e, OSError)
    message = str(e)
    assert str(tmp_path / "fashion_mnist") in message and "download=False" in message
    for name in TEST:
        assert name + ".gz" in message
        for mirror in idx.MIRRORS["fashion_mnist"]:
            assert mirror + name + ".gz" in message
    assert "train-images" not in message
    assert e.folder == tmp_path / "fashion_mnist" and len(e.urls) == 4
    assert not (tmp_path / "fashion_mnist").exists()  # nothing created without download


# --- downloads through a replaced fetch -----------------------------------------

def serve(monkeypatch, dataset, files, fail_mirrors=0):
    """Replace fetch by one serving ``files`` (name -> bytes) from every mirror
    but the first ``fail_mirrors``, and the checksums by the files' SHA-256."""
    calls = []

    def fake(url, file):
        calls.append(url)
        if any(url.startswith(m) for m in idx.MIRRORS[dataset][:fail_mirrors]):
            raise urllib.error.URLError("mirror down")
        file.write(files[url.rsplit("/", 1)[1]])
    monkeypatch.setattr(idx, "fetch", fake)
    for name, data in files.items():
        monkeypatch.setitem(idx.CHECKSUMS[dataset], name,
                            ("sha256", hashlib.sha256(data).hexdigest()))
    return calls


def gz_files(names, X, y):
    return {names[0] + ".gz": gzip.compress(idx_bytes(X)),
            names[1] + ".gz": gzip.compress(idx_bytes(y))}


def test_download_verifies_and_saves(tmp_path, monkeypatch):
    files = gz_files(TRAIN, TRAIN_X, TRAIN_Y)
    calls = serve(monkeypatch, "mnist", files)
    X, y = load_mnist(path=tmp_path / "new")
    assert X.shape == (7, 1, 28, 28) and y.tolist() == TRAIN_Y.tolist()
    folder = tmp_path / "new" / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(files)
    assert calls == [idx.MIRRORS["mnist"][0] + name for name in files]
    load_mnist(path=tmp_path / "new")  # cached now: no second fetch
    assert len(calls) == 2


def test_download_falls_back_to_next_mirror_and_only_missing_files(tmp_path, monkeypatch):
    folder = tmp_path / "fashion_mnist"
    write(folder / TEST[0], idx_bytes(TEST_X))
    calls = serve(monkeypatch, "fashion_mnist", gz_files(TEST, TEST_X, TEST_Y), fail_mirrors=1)
    assert load_fashion_mnist("test", path=tmp_path)[1].tolist() == [0, 9, 8]
    assert [u.rsplit("/", 1)[1] for u in calls] == [TEST[1] + ".gz"] * 2
    assert sorted(p.name for p in folder.iterdir()) == [TEST[0], TEST[1] + ".gz"]


def test_checksum_mismatch_leaves_nothing(tmp_path, monkeypatch):
    serve(monkeypatch, "mnist", gz_files(TRAIN, TRAIN_X, TRAIN_Y))
    monkeypatch.setitem(idx.CHECKSUMS["mnist"], TRAIN[0] + ".gz", ("sha256", "0" * 64))
    with pytest.raises(DatasetNotFoundError, match="sha256 checksum mismatch") as info:
        load_mnist(path=tmp_path)
    assert str(tmp_path / "mnist") in str(info.value)
    assert list((tmp_path / "mnist").iterdir()) == []


def test_fetch_failure_lists_reasons_and_urls(tmp_path, monkeypatch):
    calls = serve(monkeypatch, "mnist", {}, fail_mirrors=2)
    with pytest.raises(DatasetNotFoundError) as info:
        load_mnist("test", path=tmp_path)
    message = str(info.value)
    assert message.count("mirror down") == 2  # both mirrors, then it stops trying
    assert len(calls) == 2
    for name in TEST:
        assert idx.MIRRORS["mnist"][1] + name + ".gz" in message
    assert list((tmp_path / "mnist").iterdir()) == []


def test_real_fetch_reads_a_file_url(tmp_path):
    source = write(tmp_path / "src.bin", b"\x00\x01 bytes")
    with open(tmp_path / "dst.bin", "wb") as f:
        idx.fetch(source.as_uri(), f)
    assert (tmp_path / "dst.bin").read_bytes() == b"\x00\x01 bytes"


def test_checksum_table_holds_the_known_md5s():
    for dataset in ("mnist", "fashion_mnist"):
        table = idx.CHECKSUMS[dataset]
        assert sorted(table) == sorted(n + ".gz" for n in TRAIN + TEST)
        assert all(a == "md5" and re.fullmatch("[0-9a-f]{32}", h) for a, h in table.values())
    assert idx.CHECKSUMS["mnist"]["train-images-idx3-ubyte.gz"] == \
        ("md5", "f68b3c2dcbeaaa9fbdd348bbdeb94873")
    assert all(m.endswith("/") for ms in idx.MIRRORS.values() for m in ms)


# --- malformed data sets ----------------------------------------------------------

def test_mismatched_counts(tmp_path, no_fetch):
    make_split(tmp_path / "mnist", TRAIN, TRAIN_X, TRAIN_Y[:5])
    with pytest.raises(ValueError, match="holds 7 images but .* holds 5 labels"):
        load_mnist(path=tmp_path)


def test_labels_out_of_range(tmp_path, no_fetch):
    make_split(tmp_path / "mnist", TRAIN, TRAIN_X, np.array([0, 1, 2, 3, 4, 5, 10], np.uint8))
    with pytest.raises(ValueError, match=r"labels must be 0\.\.9, found 10"):
        load_mnist(path=tmp_path)


@pytest.mark.parametrize("bad", [np.zeros((7, 27, 28), np.uint8), np.zeros((7, 784), np.uint8),
                                 np.zeros((7, 28, 28), np.int32)])
def test_images_not_28x28_uint8(tmp_path, no_fetch, bad):
    make_split(tmp_path / "mnist", TRAIN, bad, TRAIN_Y)
    with pytest.raises(ValueError, match=r"images must be uint8 of shape \(n, 28, 28\)"):
        load_mnist(path=tmp_path)


def test_corrupt_file_in_cache_names_it(tmp_path, no_fetch):
    make_split(tmp_path / "mnist", TRAIN, TRAIN_X, TRAIN_Y)
    path = tmp_path / "mnist" / TRAIN[1]
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(ValueError, match=re.escape(str(path)) + ": truncated data"):
        load_mnist(path=tmp_path)


@pytest.mark.parametrize("kwargs, message", [
    ({"split": "validation"}, "split must be 'train' or 'test'"),
    ({"split": ["train"]}, "split must be 'train' or 'test'"),
    ({"flat": 1}, "flat must be True or False"),
    ({"scale": None}, "scale must be True or False"),
    ({"download": "yes"}, "download must be True or False"),
    ({"dtype": "int8"}, "dtype must be 'float32' or 'float64'"),
    ({"path": ""}, "path must not be an empty string"),
])
def test_bad_arguments(tmp_path, no_fetch, kwargs, message):
    kwargs.setdefault("path", tmp_path)
    for load in (load_mnist, load_fashion_mnist):
        with pytest.raises(ValueError, match=re.escape(message)):
            load(**kwargs)


def test_bad_path_type(no_fetch):
    with pytest.raises(TypeError, match="path must be None, a str or an os.PathLike"):
        load_mnist(path=3)


# --- the IDX reader ------------------------------------------------------------------

@pytest.mark.parametrize("dtype", list(CODES))
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trip(tmp_path, dtype, gz):
    a = (np.arange(24) - 5).astype(dtype).reshape(2, 3, 4)
    if dtype is np.uint8:
        a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4) * 10
    out = read_idx(write(tmp_path / "a.idx", idx_bytes(a), gz))
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, a)
    out[0, 0, 0] = 1  # writable
    assert read_idx(write(tmp_path / "e.idx", idx_bytes(np.zeros((0, 5), dtype)))).shape == (0, 5)


def test_read_idx_gzip_detected_by_magic(tmp_path):
    path = tmp_path / "plain-name"
    path.write_bytes(gzip.compress(idx_bytes(TEST_Y)))
    assert read_idx(path).tolist() == [0, 9, 8]


@pytest.mark.parametrize("data, message", [
    (b"\x00\x00", "2 bytes, too short for an IDX file"),
    (b"\x1a\x2b" + idx_bytes(TEST_Y)[2:],
     "magic number 0x1A2B0801 does not start with two zero bytes"),
    (b"\x00\x00\x0a\x01" + idx_bytes(TEST_Y)[4:], "unknown IDX type code 0x0A"),
    (b"\x00\x00\x08\x00", "declares 0 dimensions"),
    (b"\x00\x00\x08\x03\x00\x00\x00\x07",
     "truncated header: 3 dimensions need 16 header bytes, found 8"),
    (b"\x00\x00\x08\x01\xff\xff\xff\xff", "negative dimension sizes [-1]"),
    (idx_bytes(TEST_X)[:-10], "truncated data: shape (3, 28, 28) of uint8 needs 2352 bytes "
                              "after the 16-byte header, found 2342"),
    (idx_bytes(np.arange(3, dtype=np.int32))[:-1],
     "needs 12 bytes after the 8-byte header, found 11"),
    (idx_bytes(TEST_Y) + b"junk", "4 bytes of trailing garbage after the data"),
])
def test_read_idx_malformed(tmp_path, data, message):
    path = write(tmp_path / "bad-idx1-ubyte", data)
    with pytest.raises(ValueError, match=re.escape(f"{path}: ") + ".*" + re.escape(message)):
        read_idx(path)


@pytest.mark.parametrize("damage", ["truncate", "flip", "not_gzip"])
def test_read_idx_corrupted_gzip(tmp_path, damage):
    data = gzip.compress(idx_bytes(TEST_X))
    if damage == "truncate":
        data = data[:len(data) // 2]
    elif damage == "flip":
        data = data[:30] + bytes(b ^ 0xFF for b in data[30:60]) + data[60:]
    else:
        data = idx_bytes(TEST_X)[4:]
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=re.escape(str(path)) + ": corrupted gzip stream"):
        read_idx(path)


def test_read_idx_errors_for_missing_file_and_bad_path(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope")
    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        read_idx(None)
