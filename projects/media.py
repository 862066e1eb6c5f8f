"""Images uploaded as a .zip: unpacked safely into the platform's media store, one task item each.

* `MediaStore` keeps files under a root directory, named by the sha256 of their bytes
  (`<sha256>.<ext>`), written atomically; `path(name)` accepts nothing but such a name, so a
  URL segment can never reach outside the store.
* `read_zip(stream, filename, store, ...)` yields, like `projects.intake.read_items`, an `Item`
  per image member (`{"image": <url>, "file": <path in the zip>}`) and a `RowError` per member it
  refuses, and keeps going; whole-archive problems raise `IntakeError` before the first item.

The archive is untrusted.  Member names never become file paths (the store names files by their
hash); names that try to escape anyway are refused so that they do not travel on into task data.
Sizes declared in the zip headers are checked first, then the bytes are counted again while they
are inflated, because headers can lie.  A member is kept only once it has been unpacked whole and
recognised as an image by its content, so a failure never leaves a partial file in the store.
"""
from __future__ import annotations

import copy
import hashlib
import io
import os
import re
import stat
import tempfile
import unicodedata
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from projects.intake import Item, content_hash
from projects.intake_formats import IntakeError, RowError, _seekable

__all__ = ["IMAGE_EXTENSIONS", "MediaStore", "ZipLimits", "read_zip"]

IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "gif", "webp", "bmp", "tif", "tiff")
_STORED_NAME = re.compile(rf"[0-9a-f]{{64}}\.(?:{'|'.join(IMAGE_EXTENSIONS)})")
# the Pillow decoders we try, and the extension we store for the format each reports; MPO is no
# decoder of its own: it is what the JPEG one reports for many phone-camera pictures
_DECODERS = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF")
_IMAGE_FORMATS = {"PNG": "png", "JPEG": "jpg", "MPO": "jpg", "GIF": "gif", "WEBP": "webp",
                  "BMP": "bmp", "TIFF": "tif"}
_NOT_AN_IMAGE = "not an image (the archive may hold PNG, JPEG, GIF, WebP, BMP or TIFF files only)"
_NOT_A_ZIP = "this is not a zip archive, or it is damaged; create it again and re-upload"
_JUNK = {".DS_Store", "Thumbs.db", "desktop.ini"}  # OS housekeeping files, never the user's data
_DRIVE = re.compile(r"[A-Za-z]:")
_UTF8_NAMES = 0x800  # general-purpose flag bit 11: the member's name is UTF-8
_ENCRYPTED = 0x1
_METHODS = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "LZMA", 9: "Deflate64", 93: "Zstandard"}
_CHUNK = 64 * 1024
# ZipFile keeps a ~500-byte object per directory record; allowing 1 KiB of directory per member
# bounds that memory even when the record count in the end-of-directory record is a lie
_DIRECTORY_BYTES_PER_MEMBER = 1024


@dataclass(frozen=True, slots=True)
class ZipLimits:
    """Bounds on what one archive may unpack to (zip-bomb defence); sizes in bytes."""

    max_members: int = 100_000
    max_member_bytes: int = 50 * 1024 * 1024
    max_total_bytes: int = 2 * 1024 * 1024 * 1024
    max_ratio: float = 200.0  # uncompressed size / compressed size, per member


class MediaStore:
    """Content-addressed files under `root`, in 256 subdirectories keyed by the hash's first two
    hex digits (so no directory grows to millions of entries)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path(self, name: str) -> Path:
        """Where the file `name` lives; ValueError unless `name` is `<sha256 hex>.<image ext>`."""
        # fullmatch, not `$`: `$` also matches before a trailing newline
        if not isinstance(name, str) or not _STORED_NAME.fullmatch(name):
            raise ValueError(f"not a media file name: {name!r}")
        return self.root / name[:2] / name

    def exists(self, name: str) -> bool:
        """Whether `name` is stored; False for a name the store could never hold."""
        try:
            return self.path(name).is_file()
        except ValueError:
            return False

    def put(self, data: bytes, suffix: str) -> str:
        """Store `data` (idempotent) and return its name; `suffix` is an image extension."""
        name = f"{hashlib.sha256(data).hexdigest()}.{suffix.lower().lstrip('.')}"
        target = self.path(name)  # also refuses a suffix that is not an image extension
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(target, data)
        return name


def _write_atomically(target: Path, data: bytes) -> None:
    """Write beside the target, fsync, then rename: readers see the whole file or none of it."""
    # the temporary name can never match _STORED_NAME, so it is never served
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-", suffix=".part")
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes 0600; a front web server may serve the store
        os.replace(temporary, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    if hasattr(os, "O_DIRECTORY"):  # why: the rename itself must survive a crash, or a task
        directory = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)  # points at nothing
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


# --- member checks -------------------------------------------------------------------------

class _Rejected(Exception):
    """One member is refused; the reader reports it as a RowError and goes on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _member_name(info: zipfile.ZipInfo) -> str:
    """The member's name as its author wrote it.

    zipfile decodes names without the UTF-8 flag as cp437, which garbles the GBK names of zips
    made on Chinese Windows.  Such a name's bytes are decoded again: as UTF-8 first (macOS and
    some tools write UTF-8 without setting the flag; GBK text is almost never valid UTF-8), then
    as GB18030, the superset of GBK.
    """
    name = info.orig_filename  # untruncated: a NUL in the name must be seen, not cut off
    if info.flag_bits & _UTF8_NAMES or name.isascii():
        return name
    raw = name.encode("cp437")  # cp437 maps all 256 bytes, so this recovers them exactly
    for codec in ("utf-8", "gb18030"):
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            continue
    return name


def _is_skipped(name: str) -> bool:
    """Folders and operating-system litter, which are silently left out."""
    parts = name.split("/")
    return name.endswith("/") or "__MACOSX" in parts[:-1] or parts[-1] in _JUNK


def _safe_path(name: str) -> str:
    """The member's path, normalised ("./a//b.png" -> "a/b.png", NFC); _Rejected if it could
    point outside the archive when unpacked by anyone."""
    if "\\" in name:
        raise _Rejected("the path contains a backslash, which Windows reads as a folder separator "
                        "(so it could point outside the archive); re-create the zip with Windows "
                        "Explorer's 'Send to > Compressed folder' or 7-Zip")
    if any(ord(character) < 32 for character in name):
        raise _Rejected("the path contains a control character")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    # the drive is looked for after normalising: "./C:/x.png" would otherwise become "C:/x.png"
    if name.startswith("/") or (parts and _DRIVE.match(parts[0])):
        raise _Rejected("the path is absolute; paths in the archive must be relative")
    if ".." in parts:
        raise _Rejected("the path contains '..', which could point outside the archive")
    if not parts:
        raise _Rejected("the member has no name")
    # why NFC: macOS stores names decomposed, and the same name typed elsewhere would then differ
    return unicodedata.normalize("NFC", "/".join(parts))


def _size_problem(size: int, compressed: int, limits: ZipLimits) -> str | None:
    """Why a member of `size` bytes, stored in `compressed` bytes, is too big; None if it is not."""
    if size > limits.max_member_bytes:
        return f"it unpacks to more than {_megabytes(limits.max_member_bytes)}, the limit per file"
    if size > limits.max_ratio * max(compressed, 1):
        return (f"it is compressed more than {limits.max_ratio:g}:1, far beyond what images allow "
                f"(a zip bomb?)")
    return None


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB"


def _check_declared(info: zipfile.ZipInfo, limits: ZipLimits) -> None:
    """What the headers say, before a byte is inflated: links, encryption, declared sizes."""
    if stat.S_ISLNK(info.external_attr >> 16):
        raise _Rejected("the member is a symbolic link, not a file")
    if info.flag_bits & _ENCRYPTED:
        raise _Rejected("the member is encrypted (password-protected); zip the images without a password")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        # why: zipfile inflates bzip2 and LZMA without an output bound, so a few KB of a lying
        # member could fill memory before a byte is counted; every common zip tool writes Deflate
        method = _METHODS.get(info.compress_type, f"method {info.compress_type}")
        raise _Rejected(f"the member is compressed with {method}; re-create the zip with the "
                        f"standard Deflate (or Store) method")
    problem = _size_problem(info.file_size, info.compress_size, limits)
    if problem:
        raise _Rejected(problem)


def _image_extension(data: bytes) -> str:
    """The extension to store an image under, from its content; _Rejected if not an image."""
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its pixel limit and twice that; refuse both alike
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=_DECODERS) as image:
                kind = image.format
                image.verify()
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise _Rejected(f"the image has too many pixels ({exc})") from exc
    except Exception as exc:  # why broad: hostile bytes can make a decoder fail in any way
        raise _Rejected(_NOT_AN_IMAGE) from exc
    if kind not in _IMAGE_FORMATS:
        raise _Rejected(_NOT_AN_IMAGE)
    return _IMAGE_FORMATS[kind]


# --- the archive ---------------------------------------------------------------------------

def _checked_zipfile(source: BinaryIO, filename: str, limits: ZipLimits) -> zipfile.ZipFile:
    """Open the archive, refusing an oversized central directory before zipfile loads it whole."""
    # why the private helper: it is how zipfile itself finds the directory (unchanged since 2.x)
    end = zipfile._EndRecData(source)  # type: ignore[attr-defined]
    if end is None:
        raise IntakeError(filename, _NOT_A_ZIP)
    declared = end[zipfile._ECD_ENTRIES_TOTAL]  # type: ignore[attr-defined]
    directory_size = end[zipfile._ECD_SIZE]  # type: ignore[attr-defined]
    if declared > limits.max_members or \
            directory_size > limits.max_members * _DIRECTORY_BYTES_PER_MEMBER:
        raise IntakeError(filename, f"the archive holds more than {limits.max_members:,} files; "
                                    f"split it into smaller archives")
    return zipfile.ZipFile(source)


def _open_archive(stream: BinaryIO, filename: str, limits: ZipLimits,
                  cleanup: ExitStack) -> zipfile.ZipFile:
    source = _seekable(stream)  # a zip's directory is at its end: it needs seeking
    if source is not stream:
        cleanup.callback(source.close)
    try:
        archive = _checked_zipfile(source, filename, limits)
    except IntakeError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        # NotImplementedError: a member's header asks for a zip version newer than zipfile's
        raise IntakeError(filename, _NOT_A_ZIP) from exc
    cleanup.callback(archive.close)  # the caller's stream stays open: ZipFile did not open it
    return archive


def _check_archive(infos: list[zipfile.ZipInfo], filename: str, limits: ZipLimits) -> None:
    """Whole-archive limits on what the directory declares."""
    if len(infos) > limits.max_members:
        raise IntakeError(filename, f"the archive holds {len(infos):,} files, more than the "
                                    f"{limits.max_members:,} allowed; split it into smaller archives")
    declared = sum(info.file_size for info in infos)
    if declared > limits.max_total_bytes:
        raise IntakeError(filename, f"the archive unpacks to {_megabytes(declared)}, more than the "
                                    f"{_megabytes(limits.max_total_bytes)} allowed; split it")
    if all(_is_skipped(_member_name(info)) for info in infos):
        raise IntakeError(filename, "the archive holds no files")


class _ZipReader:
    """One archive's members in order, with the running count of bytes actually inflated."""

    def __init__(self, archive: zipfile.ZipFile, filename: str, store: MediaStore,
                 url_prefix: str, limits: ZipLimits) -> None:
        self._archive, self._filename, self._store = archive, filename, store
        self._url_prefix, self._limits = url_prefix, limits
        self._inflated = 0

    def entries(self, cleanup: ExitStack) -> Iterator[Item | RowError | None]:
        with cleanup:
            # read_zip primes the generator past this yield: a started generator runs `cleanup`
            # when it is closed or collected, even if the caller never asks for a member
            yield None
            for line, info in enumerate(self._archive.infolist(), start=1):
                entry = self._entry(line, info)
                if entry is not None:
                    yield entry

    def _entry(self, line: int, info: zipfile.ZipInfo) -> Item | RowError | None:
        name = _member_name(info)
        if _is_skipped(name):
            return None
        try:
            path = _safe_path(name)
            _check_declared(info, self._limits)
            data = self._inflate(info)
            stored = self._store.put(data, _image_extension(data))
        except _Rejected as rejected:
            return RowError(f"{self._filename}:{name}", line, None, rejected.reason)
        # the duplicate key is the stored name, i.e. the image bytes: the same picture under two
        # paths is one task, and moving the media URL (url_prefix) does not change the key
        return Item(line, {"image": f"{self._url_prefix}{stored}", "file": path}, None,
                    content_hash({"image": stored}))

    def _inflate(self, info: zipfile.ZipInfo) -> bytes:
        """The member's bytes, counted while they are inflated; _Rejected past any limit."""
        # why a copy with our own limit as its size: zipfile cuts output at the declared size and
        # blames the CRC; letting it run on shows a lying header for what it is, and we stop it
        bounded = copy.copy(info)
        bounded.file_size = self._limits.max_member_bytes + 1
        chunks: list[bytes] = []
        size = 0
        try:
            with self._archive.open(bounded) as member:
                while chunk := member.read(_CHUNK):
                    size += len(chunk)
                    self._count(info, size, len(chunk))
                    chunks.append(chunk)
        except (_Rejected, IntakeError):
            raise
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError,
                ValueError, zlib.error) as exc:
            raise _Rejected(f"the member cannot be unpacked ({exc}); the archive may be damaged") from exc
        return b"".join(chunks)

    def _count(self, info: zipfile.ZipInfo, size: int, chunk: int) -> None:
        if size > info.file_size:
            raise _Rejected(f"it holds more data than the {info.file_size:,} bytes its header "
                            f"declares (a zip bomb?)")
        problem = _size_problem(size, info.compress_size, self._limits)
        if problem:
            raise _Rejected(problem)
        self._inflated += chunk
        # implied by the checks above and the declared total, but counted so it never rests on that
        if self._inflated > self._limits.max_total_bytes:
            raise IntakeError(self._filename, f"the archive unpacks to more than "
                                              f"{_megabytes(self._limits.max_total_bytes)}; split it")


def read_zip(stream: BinaryIO, filename: str, store: MediaStore, *, url_prefix: str = "/media/",
             limits: ZipLimits = ZipLimits()) -> Iterator[Item | RowError]:
    """Stream the image members of an uploaded zip into `store`, one Item each.

    An Item's `line` is the member's 1-based position in the archive's listing (folders and
    skipped litter count), its `data` is `{"image": url_prefix + stored name, "file": path in the
    zip}`, and its `content_hash` depends on the image bytes only.  Label Studio resolves a
    relative URL against its own host, so pass an absolute `url_prefix` when it runs elsewhere.

    Raises IntakeError right away when the stream is not a readable zip, holds too many files,
    declares more than `limits.max_total_bytes`, or holds nothing but folders; and during
    iteration if the bytes actually inflated pass that total.  Stored images stay stored when a
    later member fails: they are complete, and content addressing makes a retry reuse them.
    The caller's stream is read but not closed.
    """
    cleanup = ExitStack()  # closes the archive (and any spooled copy) once members are done
    try:
        archive = _open_archive(stream, filename, limits, cleanup)
        _check_archive(archive.infolist(), filename, limits)
    except BaseException:
        cleanup.close()
        raise
    entries = _ZipReader(archive, filename, store, url_prefix, limits).entries(cleanup)
    next(entries)
    return entries  # type: ignore[return-value]  # None only before priming
