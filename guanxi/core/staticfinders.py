"""Serve single front-end files that pip-installed packages carry (no CDN, nothing committed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

# static path → (package, file inside the package)
VENDOR_FILES = {
    "vendor/plotly.min.js": ("plotly", "package_data/plotly.min.js"),
}


def _locate(package: str, relative: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    return path if path.exists() else None


class VendorFinder(BaseFinder):
    def check(self, **kwargs: Any) -> list[Any]:
        return []

    def find(self, path: str, find_all: bool = False, **kwargs: Any) -> Any:
        if path in VENDOR_FILES:
            found = _locate(*VENDOR_FILES[path])
            if found:
                return [str(found)] if find_all else str(found)
        return [] if find_all else None

    def list(self, ignore_patterns: Any) -> Any:
        # collectstatic stores each file at storage.prefix/name: the prefix is the
        # vendor/ folder, the name the package's own file name.
        for static_path, (package, relative) in VENDOR_FILES.items():
            found = _locate(package, relative)
            if found:
                storage = FileSystemStorage(location=str(found.parent))
                storage.prefix = str(Path(static_path).parent)  # type: ignore[attr-defined]
                yield found.name, storage
