"""Reading PDFs the way a person or a screen reader does, with poppler (Debian poppler-utils):
the text (`pdftotext`), the structure tree (`pdfinfo -struct-text`) and page images (`pdftoppm`)
kept for a person to look at."""

from __future__ import annotations

import subprocess
from pathlib import Path


def _file(pdf: bytes | Path, folder: Path, name: str) -> Path:
    if isinstance(pdf, Path):
        return pdf
    path = folder / f"{name}.pdf"
    path.write_bytes(pdf)
    return path


def pdftotext(pdf: bytes | Path, folder: Path, name: str = "document") -> str:
    """The text with its layout (labels beside their values)."""
    return subprocess.run(["pdftotext", "-layout", str(_file(pdf, folder, name)), "-"], check=True,
                          capture_output=True, text=True).stdout


def words(pdf: bytes | Path, folder: Path, name: str = "document") -> str:
    """The text joined up into one line: `pdftotext -layout` wraps long values over lines."""
    return " ".join(pdftotext(pdf, folder, name).split())


def structure(pdf: bytes | Path, folder: Path, name: str = "document") -> str:
    """The tagged structure with its text, as assistive technology reads it."""
    return subprocess.run(["pdfinfo", "-struct-text", str(_file(pdf, folder, name))], check=True,
                          capture_output=True, text=True).stdout


def info(pdf: bytes | Path, folder: Path, name: str = "document") -> dict[str, str]:
    out = subprocess.run(["pdfinfo", str(_file(pdf, folder, name))], check=True, capture_output=True,
                         text=True).stdout
    return {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in out.splitlines())}


def page_images(pdf: bytes | Path, folder: Path, name: str = "document", resolution: int = 100) -> list[Path]:
    """Each page as a PNG in `folder`, kept after the run for a person to look at (path printed)."""
    path = _file(pdf, folder, name)
    subprocess.run(["pdftoppm", "-r", str(resolution), "-png", str(path), str(folder / name)], check=True)
    images = sorted(folder.glob(f"{name}-*.png"))
    print(f"page images of {name}: {', '.join(str(image) for image in images)}")
    return images
