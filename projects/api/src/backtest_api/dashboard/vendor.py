"""Re-fetch the dashboard's and the docs' third-party assets from npm and check them.

Why: the dashboard (``/``) and the API docs (``/docs``) must work on a machine
without internet, so uPlot, Swagger UI and Redoc are committed under
``static/vendor/<package>/<version>/`` (flat: the tarball's ``dist/`` folders would
be ignored by git and Pants). ``static/vendor/manifest.json`` pins each
package's exact version and the sha256 of every file taken from its npm tarball.
This script downloads those tarballs with ``npm pack`` and checks that the
tarball and the committed copy both match the pinned hashes; ``--update`` writes
the files and their hashes instead (after changing a version in the manifest).

    python projects/api/src/backtest_api/dashboard/vendor.py            # check
    python projects/api/src/backtest_api/dashboard/vendor.py --update   # re-vendor

Needs ``npm`` (only its registry client is used; nothing is installed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

VENDOR_DIR = Path(__file__).resolve().parent / "static" / "vendor"
MANIFEST = VENDOR_DIR / "manifest.json"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def npm_pack(package: str, version: str, workdir: Path) -> Path:
    """Download ``package@version``'s tarball from the npm registry into ``workdir``."""
    out = subprocess.run(
        ["npm", "pack", "--silent", f"{package}@{version}", "--pack-destination", str(workdir)],
        check=True,
        capture_output=True,
        text=True,
    )
    return workdir / out.stdout.strip().splitlines()[-1]


def tarball_files(tarball: Path, names: list[str]) -> dict[str, bytes]:
    """The named files of an npm tarball (its entries live under ``package/``)."""
    found: dict[str, bytes] = {}
    with tarfile.open(tarball, "r:gz") as archive:
        for name in names:
            member = archive.extractfile(f"package/{name}")
            if member is None:
                raise SystemExit(f"{tarball.name}: no file {name}")
            found[name] = member.read()
    return found


def run(update: bool) -> list[str]:
    """Check (or, with ``update``, rewrite) every pinned file; the problems found."""
    manifest: dict[str, Any] = json.loads(MANIFEST.read_text())
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for package, pin in manifest.items():
            version = pin["version"]
            target = VENDOR_DIR / package / version
            files = tarball_files(npm_pack(package, version, Path(tmp)), list(pin["files"]))
            if update:
                shutil.rmtree(VENDOR_DIR / package, ignore_errors=True)
            for name, data in files.items():
                digest = sha256(data)
                path = target / Path(name).name
                if update:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(data)
                    pin["files"][name] = digest
                    continue
                if digest != pin["files"][name]:
                    problems.append(f"{package}@{version} {name}: npm serves {digest}, pinned {pin['files'][name]}")
                if not path.is_file() or sha256(path.read_bytes()) != pin["files"][name]:
                    problems.append(f"{package}@{version} {name}: the committed copy differs from the pin")
            print(f"{package}@{version}: {len(files)} files {'written' if update else 'checked'}")
    if update:
        MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--update", action="store_true", help="write the files and their hashes into the manifest")
    problems = run(parser.parse_args(argv).update)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
