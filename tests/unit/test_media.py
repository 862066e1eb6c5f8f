"""Unit tests for projects.media: the content-addressed store and reading images from a .zip.

Archives are generated into tmp_path, with zipfile where it can write what we need and by hand
(`raw_zip`) where it cannot: GBK names without the UTF-8 flag (as Windows Explorer writes them on
Chinese Windows), a header that lies about its size, a ZipCrypto-encrypted member.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from projects import media
from projects.intake import IntakeError, Item, RowError
from projects.media import MediaStore, ZipLimits, read_zip

SMALL = ZipLimits(max_members=50, max_member_bytes=64 * 1024, max_total_bytes=1024 * 1024, max_ratio=50)


def image_bytes(color: tuple[int, int, int], fmt: str = "PNG", size: tuple[int, int] = (8, 8)) -> bytes:
    out = io.BytesIO()
    with Image.new("RGB", size, color) as image:
        image.save(out, fmt)
    return out.getvalue()


RED, GREEN, BLUE = image_bytes((255, 0, 0)), image_bytes((0, 255, 0)), image_bytes((0, 0, 255))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_zip(tmp_path: Path, members: list[tuple[str | zipfile.ZipInfo, bytes]],
             name: str = "images.zip") -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in members:
            archive.writestr(member, data)
    return path


@dataclass
class Raw:
    """One member for raw_zip: `name` as raw bytes, optional lies and encryption."""

    name: bytes
    data: bytes
    flags: int = 0
    declared_size: int | None = None
    password: bytes | None = None


def zipcrypto(password: bytes, crc: int, payload: bytes) -> bytes:
    """Traditional PKWARE encryption (APPNOTE 6.1), which zipfile can read but not write."""
    keys = [0x12345678, 0x23456789, 0x34567890]

    def crc_byte(value: int, byte: int) -> int:  # one step of the raw CRC-32 register
        return zlib.crc32(bytes([byte]), value ^ 0xFFFFFFFF) ^ 0xFFFFFFFF

    def update(byte: int) -> None:
        keys[0] = crc_byte(keys[0], byte)
        keys[1] = ((keys[1] + (keys[0] & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        keys[2] = crc_byte(keys[2], keys[1] >> 24)

    for byte in password:
        update(byte)
    out = bytearray()
    for byte in bytes(11) + bytes([crc >> 24]) + payload:  # 12-byte header ends in the CRC's top byte
        temp = (keys[2] | 2) & 0xFFFF
        out.append(byte ^ (((temp * (temp ^ 1)) >> 8) & 0xFF))
        update(byte)
    return bytes(out)


def raw_zip(tmp_path: Path, members: list[Raw], name: str = "raw.zip") -> Path:
    body, directory = bytearray(), bytearray()
    for member in members:
        crc = zlib.crc32(member.data)
        deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
        payload = deflater.compress(member.data) + deflater.flush()
        flags = member.flags
        if member.password is not None:
            payload, flags = zipcrypto(member.password, crc, payload), flags | 0x1
        size = len(member.data) if member.declared_size is None else member.declared_size
        fields = (20, flags, zipfile.ZIP_DEFLATED, 0, 0x21, crc, len(payload), size, len(member.name), 0)
        directory += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, *fields, 0, 0, 0, 0, len(body))
        directory += member.name
        body += struct.pack("<4s5H3L2H", b"PK\x03\x04", *fields) + member.name + payload
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(directory),
                      len(body), 0)
    path = tmp_path / name
    path.write_bytes(bytes(body + directory + end))
    return path


@pytest.fixture
def store(tmp_path: Path) -> MediaStore:
    return MediaStore(tmp_path / "media")


def read(path: Path, store: MediaStore, **options: Any) -> list[Item | RowError]:
    with path.open("rb") as stream:
        return list(read_zip(stream, path.name, store, **options))


def stored(store: MediaStore) -> list[str]:
    """Every file under the store's root, temporaries included."""
    return sorted(p.name for p in store.root.rglob("*") if p.is_file()) if store.root.exists() else []


def errors_of(results: list[Item | RowError]) -> dict[str, str]:
    return {error.file: error.reason for error in results if isinstance(error, RowError)}


# --- the store -----------------------------------------------------------------------------

def test_put_is_content_addressed_and_idempotent(store: MediaStore) -> None:
    name = store.put(RED, ".PNG")
    assert name == f"{sha(RED)}.png"
    first = store.path(name).stat()
    assert store.put(RED, "png") == name  # same bytes: same name, file left alone
    assert store.path(name).stat().st_mtime_ns == first.st_mtime_ns
    assert store.path(name).read_bytes() == RED and store.exists(name)
    assert store.path(name).parent.parent == store.root  # sharded by the hash's first two digits
    assert stored(store) == [name]  # no temporary left behind
    assert not store.exists(f"{sha(GREEN)}.png")


def test_put_refuses_a_suffix_that_is_not_an_image_extension(store: MediaStore) -> None:
    for suffix in ("php", "png/../x", "svg", ""):
        with pytest.raises(ValueError):
            store.put(RED, suffix)
    assert stored(store) == []


def test_put_that_fails_midway_leaves_no_file(store: MediaStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_replace(source: Any, target: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(media.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        store.put(RED, "png")
    assert stored(store) == []


GOOD = "a" * 64
BAD_NAMES = ["../etc/passwd", f"../{GOOD}.png", f"{GOOD}.png\n", f"{GOOD}.PNG", f"{GOOD}.svg",
             f"{GOOD[:-1]}.png", f"{'A' * 64}.png", f"{'g' * 64}.png", f"/{GOOD}.png",
             f"{GOOD}.png/..", f"{GOOD}.png\x00.jpg", f"{GOOD}", "", ".", f"{GOOD}..png"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_path_rejects_any_name_but_hash_dot_extension(store: MediaStore, name: str) -> None:
    with pytest.raises(ValueError, match="not a media file name"):
        store.path(name)
    assert store.exists(name) is False


def test_path_accepts_every_image_extension(store: MediaStore) -> None:
    for extension in media.IMAGE_EXTENSIONS:
        assert store.path(f"{GOOD}.{extension}") == store.root / "aa" / f"{GOOD}.{extension}"


def test_zip_limits_defaults_and_frozen() -> None:
    limits = ZipLimits()
    assert (limits.max_members, limits.max_member_bytes, limits.max_total_bytes, limits.max_ratio) \
        == (100_000, 50 * 1024 ** 2, 2 * 1024 ** 3, 200)
    with pytest.raises(dataclasses.FrozenInstanceError):
        limits.max_members = 1  # type: ignore[misc]


# --- reading archives: the happy path ------------------------------------------------------

def test_images_with_chinese_names_become_items(tmp_path: Path, store: MediaStore) -> None:
    jpeg, gif = image_bytes((10, 20, 30), "JPEG"), image_bytes((1, 2, 3), "GIF")
    webp, bmp, tiff = (image_bytes((5, 5, 5), fmt) for fmt in ("WEBP", "BMP", "TIFF"))
    path = make_zip(tmp_path, [("猫/", b""), ("猫/橘猫.png", RED), ("狗/柴犬.jpg", jpeg), ("鸟.gif", gif),
                               ("__MACOSX/猫/._橘猫.png", b"\x00\x05\x16\x07"), ("猫/.DS_Store", b"\x00" * 8),
                               ("./图/./a//b.webp", webp), ("位图.bmp", bmp), ("扫描.tiff", tiff)])
    results = read(path, store)
    assert all(isinstance(item, Item) for item in results)
    expected = [(2, "猫/橘猫.png", RED, "png"), (3, "狗/柴犬.jpg", jpeg, "jpg"), (4, "鸟.gif", gif, "gif"),
                (7, "图/a/b.webp", webp, "webp"), (8, "位图.bmp", bmp, "bmp"), (9, "扫描.tiff", tiff, "tif")]
    assert [(item.line, item.data) for item in results] == \
        [(line, {"image": f"/media/{sha(data)}.{ext}", "file": file}) for line, file, data, ext in expected]
    for item, (_, _, data, ext) in zip(results, expected):
        assert store.path(f"{sha(data)}.{ext}").read_bytes() == data
        assert item.gold is None and len(item.content_hash) == 16
    assert len(stored(store)) == 6


def mpo_bytes() -> bytes:
    """A multi-picture JPEG, as many phone cameras write; Pillow reports it as "MPO"."""
    out = io.BytesIO()
    with Image.new("RGB", (8, 8), (1, 2, 3)) as first, Image.new("RGB", (8, 8), (3, 2, 1)) as second:
        first.save(out, "MPO", save_all=True, append_images=[second])
    return out.getvalue()


def test_extension_comes_from_the_content_and_url_prefix_is_used(tmp_path: Path, store: MediaStore) -> None:
    mpo = mpo_bytes()
    path = make_zip(tmp_path, [("photo.jpg", RED), ("IMG_0001.JPG", image_bytes((9, 9, 9), "JPEG")),
                               ("IMG_0002.jpeg", mpo)])
    first, second, third = read(path, store, url_prefix="https://qianling.example/media/")
    assert first.data["image"] == f"https://qianling.example/media/{sha(RED)}.png"  # a PNG named .jpg
    assert second.data["image"].endswith(".jpg")
    assert third.data["image"] == f"https://qianling.example/media/{sha(mpo)}.jpg"


def test_duplicate_images_share_a_content_hash_whatever_their_names(tmp_path: Path,
                                                                     store: MediaStore) -> None:
    path = make_zip(tmp_path, [("a.png", RED), ("copies/副本.png", RED), ("other.png", GREEN)])
    first, copy, other = read(path, store)
    assert first.content_hash == copy.content_hash != other.content_hash
    assert first.data["image"] == copy.data["image"] and first.data["file"] != copy.data["file"]
    assert len(stored(store)) == 2
    # the key ignores where the media is served from, so a moved host does not hide duplicates
    again = read(path, store, url_prefix="https://elsewhere/m/")
    assert [item.content_hash for item in again] == [item.content_hash for item in (first, copy, other)]


def test_gbk_names_without_the_utf8_flag_and_utf8_names_with_it(tmp_path: Path,
                                                                  store: MediaStore) -> None:
    path = raw_zip(tmp_path, [Raw("标注/猫咪.png".encode("gbk"), RED),  # Windows Explorer, Chinese Windows
                              Raw("标注/狗狗.png".encode("utf-8"), GREEN, flags=0x800),
                              Raw("标注/小鸟.png".encode("utf-8"), BLUE),  # UTF-8 without the flag (macOS)
                              Raw(b"plain.png", image_bytes((7, 7, 7)))])
    with zipfile.ZipFile(path) as archive:  # zipfile alone garbles the GBK name: the case is real
        assert archive.namelist()[0] != "标注/猫咪.png"
    results = read(path, store)
    assert [item.data["file"] for item in results] == \
        ["标注/猫咪.png", "标注/狗狗.png", "标注/小鸟.png", "plain.png"]
    assert errors_of(results) == {}


def test_decomposed_names_from_macos_come_out_composed(tmp_path: Path, store: MediaStore) -> None:
    (item,) = read(make_zip(tmp_path, [("cafe\u0301/re\u0301sume\u0301.png", RED)]), store)
    assert item.data["file"] == "caf\u00e9/r\u00e9sum\u00e9.png"


def test_reads_a_stream_that_cannot_seek(tmp_path: Path, store: MediaStore) -> None:
    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            super().__init__()
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            return self._data.readinto(buffer)

    data = make_zip(tmp_path, [("a.png", RED)]).read_bytes()
    with Pipe(data) as pipe:
        results = list(read_zip(pipe, "images.zip", store))
    assert [item.data["file"] for item in results] == ["a.png"]


def test_closing_the_reader_early_releases_the_archive(tmp_path: Path, store: MediaStore) -> None:
    path = make_zip(tmp_path, [("a.png", RED), ("b.png", GREEN)])
    with path.open("rb") as stream:
        entries = read_zip(stream, path.name, store)
        assert isinstance(next(entries), Item)
        entries.close()  # type: ignore[attr-defined]
        read_zip(stream, path.name, store)  # never iterated: must not leak either
        assert not stream.closed  # the caller's stream is the caller's to close
    assert stored(store) == [f"{sha(RED)}.png"]


# --- reading archives: members refused -----------------------------------------------------

def test_paths_that_could_escape_are_refused_and_nothing_is_written(tmp_path: Path,
                                                                     store: MediaStore) -> None:
    bad = ["../evil.png", "/abs.png", "a\\..\\b.png", "C:/windows.png", "ok/../../up.png", "tab\tname.png"]
    path = make_zip(tmp_path, [(name, image_bytes((index, 0, 0))) for index, name in enumerate(bad)]
                    + [("fine/ok.png", RED)])
    results = read(path, store)
    errors = errors_of(results)
    assert set(errors) == {f"images.zip:{name}" for name in bad}
    assert "'..'" in errors["images.zip:../evil.png"] and "'..'" in errors["images.zip:ok/../../up.png"]
    assert "absolute" in errors["images.zip:/abs.png"] and "absolute" in errors["images.zip:C:/windows.png"]
    assert "backslash" in errors["images.zip:a\\..\\b.png"]
    assert [result.line for result in results if isinstance(result, RowError)] == [1, 2, 3, 4, 5, 6]
    assert stored(store) == [f"{sha(RED)}.png"]


def test_symbolic_link_member_is_refused(tmp_path: Path, store: MediaStore) -> None:
    link = zipfile.ZipInfo("link.png")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    results = read(make_zip(tmp_path, [(link, b"/etc/passwd"), ("real.png", RED)]), store)
    assert errors_of(results) == {"images.zip:link.png": "the member is a symbolic link, not a file"}
    assert stored(store) == [f"{sha(RED)}.png"]


def test_highly_compressed_member_is_refused_by_ratio_and_size(tmp_path: Path,
                                                                store: MediaStore) -> None:
    zeros = b"\x00" * (60 * 1024)  # deflates about 1000:1, yet under the 64 KB limit
    noise = hashlib.shake_256(b"seed").digest(100 * 1024)  # incompressible, over the 64 KB limit
    results = read(make_zip(tmp_path, [("bomb.png", zeros), ("big.png", noise), ("ok.png", RED)]), store,
                   limits=SMALL)
    errors = errors_of(results)
    assert "compressed more than 50:1" in errors["images.zip:bomb.png"]
    assert "more than 0.0625 MB, the limit per file" in errors["images.zip:big.png"]
    assert stored(store) == [f"{sha(RED)}.png"]


def test_a_header_that_understates_the_size_is_caught_while_inflating(tmp_path: Path,
                                                                      store: MediaStore) -> None:
    # 1 MB of zeros declared as 1,000 bytes: the declared sizes pass (ratio about 1:1), the bytes do not
    liar = Raw(b"liar.png", b"\x00" * (1024 * 1024), declared_size=1000)
    path = raw_zip(tmp_path, [liar, Raw(b"ok.png", RED)])
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("liar.png")
        assert info.file_size == 1000 and info.file_size <= SMALL.max_ratio * info.compress_size
    results = read(path, store, limits=SMALL)
    assert errors_of(results) == {"raw.zip:liar.png":
                                  "it holds more data than the 1,000 bytes its header declares (a zip bomb?)"}
    assert stored(store) == [f"{sha(RED)}.png"]


def test_encrypted_member_is_refused(tmp_path: Path, store: MediaStore) -> None:
    path = raw_zip(tmp_path, [Raw(b"secret.png", RED, password=b"hunter2"), Raw(b"open.png", GREEN)])
    with zipfile.ZipFile(path) as archive:  # a genuine ZipCrypto member: zipfile opens it with the password
        assert archive.read("secret.png", pwd=b"hunter2") == RED
    results = read(path, store)
    assert "encrypted (password-protected)" in errors_of(results)["raw.zip:secret.png"]
    assert stored(store) == [f"{sha(GREEN)}.png"]


def test_members_compressed_without_an_output_bound_are_refused(tmp_path: Path, store: MediaStore) -> None:
    path = tmp_path / "bz.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("packed.png", RED, compress_type=zipfile.ZIP_BZIP2)
        archive.writestr("ok.png", GREEN, compress_type=zipfile.ZIP_STORED)
    errors = errors_of(read(path, store))
    assert list(errors) == ["bz.zip:packed.png"] and "compressed with bzip2" in errors["bz.zip:packed.png"]
    assert stored(store) == [f"{sha(GREEN)}.png"]


def test_members_that_are_not_images_are_refused(tmp_path: Path, store: MediaStore) -> None:
    bad = [("notes.txt", "说明：猫和狗".encode()), ("fake.png", b"<?php system($_GET[1]);"),
           ("cut.png", RED[:40]), ("empty.png", b"")]
    errors = errors_of(read(make_zip(tmp_path, bad + [("ok.png", RED)]), store))
    assert set(errors) == {f"images.zip:{name}" for name, _ in bad}
    assert all(reason.startswith("not an image") for reason in errors.values())
    assert stored(store) == [f"{sha(RED)}.png"]


def test_image_with_too_many_pixels_is_refused(tmp_path: Path, store: MediaStore,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    path = make_zip(tmp_path, [("warns.png", image_bytes((0, 0, 0), size=(12, 12))),   # 144 > limit
                               ("raises.png", image_bytes((0, 0, 0), size=(20, 20))),  # 400 > twice it
                               ("ok.png", RED)])
    errors = errors_of(read(path, store))
    assert set(errors) == {"images.zip:warns.png", "images.zip:raises.png"}
    assert all("too many pixels" in reason for reason in errors.values())


def test_corrupt_member_is_refused_and_the_rest_read(tmp_path: Path, store: MediaStore) -> None:
    path = make_zip(tmp_path, [("broken.png", RED), ("ok.png", GREEN)])
    data = bytearray(path.read_bytes())
    start = 30 + len("broken.png")
    data[start:start + 20] = bytes(20)  # wreck the deflate stream of the first member
    path.write_bytes(bytes(data))
    errors = errors_of(read(path, store))
    assert list(errors) == ["images.zip:broken.png"]
    assert "cannot be unpacked" in errors["images.zip:broken.png"]
    assert stored(store) == [f"{sha(GREEN)}.png"]


# --- whole-archive errors ------------------------------------------------------------------

@pytest.mark.parametrize("content", [b"", b"name,label\nx,y\n", RED, b"PK\x03\x04" + bytes(40)])
def test_not_a_zip_is_an_intake_error_on_the_call(tmp_path: Path, store: MediaStore,
                                                   content: bytes) -> None:
    path = tmp_path / "upload.zip"
    path.write_bytes(content)
    with path.open("rb") as stream, pytest.raises(IntakeError) as info:
        read_zip(stream, "upload.zip", store)  # raised on the call, before any iteration
    assert info.value.file == "upload.zip" and "not a zip archive" in info.value.reason


def test_truncated_zip_is_an_intake_error(tmp_path: Path, store: MediaStore) -> None:
    path = make_zip(tmp_path, [("a.png", RED), ("b.png", GREEN)])
    path.write_bytes(path.read_bytes()[:-30])  # the end of the central directory is gone
    with pytest.raises(IntakeError, match="not a zip archive"):
        read(path, store)


def test_too_many_members_is_refused_before_anything_is_read(tmp_path: Path, store: MediaStore) -> None:
    path = make_zip(tmp_path, [(f"{index}.png", RED) for index in range(6)])
    with pytest.raises(IntakeError, match="more than 5 files"):
        read(path, store, limits=ZipLimits(max_members=5))
    assert stored(store) == []


def test_member_count_that_lies_is_caught_when_the_directory_is_read(tmp_path: Path,
                                                                     store: MediaStore) -> None:
    path = make_zip(tmp_path, [(f"{index}.png", RED) for index in range(6)])
    data = bytearray(path.read_bytes())
    data[-14:-10] = struct.pack("<2H", 1, 1)  # the end record now claims one member
    path.write_bytes(bytes(data))
    with pytest.raises(IntakeError, match="holds 6 files, more than the 5 allowed"):
        read(path, store, limits=ZipLimits(max_members=5))


def test_declared_total_over_the_limit_is_refused_before_anything_is_read(tmp_path: Path,
                                                                          store: MediaStore) -> None:
    noise = [hashlib.shake_256(bytes([index])).digest(60 * 1024) for index in range(20)]  # 1.2 MB
    path = make_zip(tmp_path, [("ok.png", RED)] + [(f"{n}.png", data) for n, data in enumerate(noise)])
    with pytest.raises(IntakeError, match="more than the 1 MB allowed"):
        read(path, store, limits=SMALL)
    assert stored(store) == []


def test_archive_of_only_folders_and_litter_is_an_intake_error(tmp_path: Path, store: MediaStore) -> None:
    path = make_zip(tmp_path, [("猫/", b""), ("__MACOSX/._a.png", b"x"), (".DS_Store", b"x")])
    with pytest.raises(IntakeError, match="holds no files"):
        read(path, store)
