"""SHA-256 checksums of an export's weight files (``checksums.sha256``), checked when they are loaded."""

from __future__ import annotations

from pathlib import Path

from ..utils.files import sha256_of, write_text_atomic
from .hub_errors import ModelLoadError

CHECKSUM_FILE = "checksums.sha256"
CHECKSUMMED_FILES: tuple[str, ...] = ("model.safetensors", "model.onnx", "adapter/adapter_model.safetensors")
"""The weight files an export lists in ``checksums.sha256`` (those it holds)."""


def write_checksums(folder: str | Path) -> None:
    """Write ``folder/checksums.sha256`` for the :data:`CHECKSUMMED_FILES` that ``folder`` holds."""
    folder = Path(folder)
    names = [name for name in CHECKSUMMED_FILES if (folder / name).is_file()]
    write_text_atomic(
        folder / CHECKSUM_FILE, "".join(f"{sha256_of(folder / name)}  {name}\n" for name in names)
    )


def read_checksums(folder: str | Path) -> dict[str, str]:
    """``{file name: hex digest}`` from ``folder/checksums.sha256`` (empty when there is none)."""
    path = Path(folder) / CHECKSUM_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as error:
        raise ModelLoadError(f"{path}: cannot be read ({error})") from None
    checksums = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        digest, _, name = line.partition("  ")
        name = name.removeprefix("*")  # sha256sum's binary-mode marker
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest.lower()) or not name:
            raise ModelLoadError(
                f"{path}, line {number}: expected '<SHA-256 in hex>  <file name>', got {line!r}"
            )
        checksums[name] = digest.lower()
    return checksums


def verify_checksum(path: str | Path, *, folder: str | Path | None = None, shown: str | None = None) -> None:
    """Check ``path`` against the ``checksums.sha256`` of ``folder`` (default: ``path``'s folder)."""
    path = Path(path)
    expected = read_checksums(folder if folder is not None else path.parent).get(path.name)
    if expected is None:
        return
    actual = sha256_of(path)
    if actual != expected:
        raise ModelLoadError(
            f"{shown or path}: its SHA-256 is {actual[:12]}…, not the {expected[:12]}… that {CHECKSUM_FILE} "
            "records: the file was altered or damaged after export; download or export the model again"
        )


def verify_hub_file(repo_id: str, filename: str) -> None:
    """Check ``filename`` of the Hub model ``repo_id`` against the repository's ``checksums.sha256``."""
    from huggingface_hub import hf_hub_download

    try:
        listed = Path(hf_hub_download(repo_id, CHECKSUM_FILE))
    except Exception:  # no checksum file or none reachable: load unchecked
        return
    if filename not in read_checksums(listed.parent):
        return
    path = hf_hub_download(repo_id, filename)
    verify_checksum(path, folder=listed.parent, shown=f"{filename} of {repo_id}")
