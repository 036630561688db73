"""The operations view's third-party scripts: pinned in package-lock.json, copied from
node_modules into ops/static/vendor/ and committed, so serving `/ops` needs no Node and
nothing is fetched at run time. `python -m ops.assets` (`make assets`) refreshes the copies
after `npm ci`; a test holds them byte-for-byte to node_modules."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = Path(__file__).resolve().parent / "static" / "vendor"

#: Each served file and where npm puts it.
VENDORED: dict[str, str] = {
    "htmx.min.js": "node_modules/htmx.org/dist/htmx.min.js",
    "hx-sse.min.js": "node_modules/htmx.org/dist/ext/hx-sse.min.js",
    "echarts.min.js": "node_modules/echarts/dist/echarts.min.js",
    "htmx.LICENSE.txt": "node_modules/htmx.org/LICENSE",
    "echarts.LICENSE.txt": "node_modules/echarts/LICENSE",
    "echarts.NOTICE.txt": "node_modules/echarts/NOTICE",
}


def refresh(root: Path = ROOT) -> list[str]:
    """Copy every vendored file from `root`'s node_modules; the names copied."""
    missing = [source for source in VENDORED.values() if not (root / source).is_file()]
    if missing:
        raise SystemExit(f"run `npm ci` first: missing {', '.join(missing)}")
    VENDOR.mkdir(parents=True, exist_ok=True)
    for name, source in VENDORED.items():
        shutil.copyfile(root / source, VENDOR / name)
    return list(VENDORED)


if __name__ == "__main__":
    print("copied", ", ".join(refresh()), "to", VENDOR.relative_to(ROOT), file=sys.stderr)
