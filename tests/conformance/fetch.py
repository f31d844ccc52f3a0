"""Get a pristine copy of Django's ``tests/`` (only what ``tests/runtests.py cache`` needs).

The sdist of the *installed* Django version is downloaded from the package index with
pip at run time into a per-user cache and reused; Django's code is never committed here.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

import django

# What Django's runtests.py reads besides the ``cache`` app: the URLconf it names in
# settings (ROOT_URLCONF = "urls") and the template dir it puts in TEMPLATES.
NEEDED = ("runtests.py", "urls.py", "cache/", "templates/")
DOWNLOAD_TIMEOUT = 600  # seconds; pip also builds the sdist's metadata


class FetchError(RuntimeError):
    """The Django test sources could not be obtained; the message says why."""


def installed_version() -> str:
    return django.__version__


def cache_root() -> Path:
    """Where sdists and extracted trees are kept between runs."""
    if os.environ.get("ALTCACHE_DJANGO_CACHE"):
        return Path(os.environ["ALTCACHE_DJANGO_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "django-altcache"


def _wanted(relative: PurePosixPath) -> bool:
    """``relative`` is a path inside the sdist's ``tests/`` directory."""
    text = relative.as_posix()
    return any(text == item or (item.endswith("/") and text.startswith(item)) for item in NEEDED)


def _check_tree(tests_dir: Path, origin: str) -> Path:
    for required in ("runtests.py", "cache/tests.py"):
        if not (tests_dir / required).is_file():
            raise FetchError(f"{origin}: {tests_dir / required} is missing; not a Django source tree")
    return tests_dir


def from_source_tree(django_dir: Path, version: str, log) -> Path:
    """``--django-dir``: a Django checkout or unpacked sdist; warn if its version differs."""
    tests_dir = _check_tree(django_dir / "tests", f"--django-dir {django_dir}")
    pkg_info = django_dir / "PKG-INFO"
    if pkg_info.is_file():
        for line in pkg_info.read_text(errors="replace").splitlines():
            if line.startswith("Version:") and line.split(":", 1)[1].strip() != version:
                log(f"WARNING: --django-dir holds Django {line.split(':', 1)[1].strip()}, "
                    f"the installed Django is {version}")
                break
    return tests_dir


def _find_sdist(directory: Path, version: str) -> Path | None:
    for name in (f"django-{version}.tar.gz", f"Django-{version}.tar.gz"):
        if (directory / name).is_file():
            return directory / name
    return None


def download_sdist(version: str, directory: Path, log) -> Path:
    found = _find_sdist(directory, version)
    if found:
        return found
    directory.mkdir(parents=True, exist_ok=True)
    # Two pairs of one CI run may want the same Django at once (./dev test runs two lanes):
    # one downloads, the other waits on the lock (held at most DOWNLOAD_TIMEOUT) and then finds
    # the file.
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _download_locked(version, directory, log)


def _download_locked(version: str, directory: Path, log) -> Path:
    found = _find_sdist(directory, version)
    if found:
        return found
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
           "--no-deps", "--no-binary", ":all:", f"django=={version}", "--dest", str(directory)]
    log(f"downloading the Django {version} sdist: {' '.join(cmd)}")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise FetchError(f"pip download django=={version} did not finish in {DOWNLOAD_TIMEOUT}s") from exc
    found = _find_sdist(directory, version)
    if proc.returncode != 0 or not found:
        tail = "\n".join(line[:300] for line in (proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise FetchError(f"pip download django=={version} failed (exit {proc.returncode}):\n{tail}")
    return found


def extract_tests(sdist: Path, destination: Path) -> None:
    """Copy the needed members of ``<top>/tests/`` out of the sdist, nothing else.

    Members are read and written by hand (no ``extractall``) so no name in the archive
    can write outside ``destination``.
    """
    with tarfile.open(sdist, "r:gz") as archive:
        for member in archive:
            parts = PurePosixPath(member.name).parts
            if len(parts) < 3 or parts[1] != "tests" or not member.isfile() or ".." in parts:
                continue
            relative = PurePosixPath(*parts[2:])
            if not _wanted(relative):
                continue
            target = destination.joinpath(*relative.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            assert source is not None  # member.isfile()
            with source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)


def django_tests(version: str, log, django_dir: Path | None = None) -> Path:
    """Return a directory holding Django ``version``'s pristine tests (read-only use)."""
    if django_dir is not None:
        return from_source_tree(django_dir, version, log)
    root = cache_root()
    tree = root / f"django-{version}-tests"
    if (tree / ".complete").is_file():
        return _check_tree(tree, f"cached tree {tree}")
    sdist = download_sdist(version, root / "sdist", log)
    root.mkdir(parents=True, exist_ok=True)
    # Extract beside the final place and rename, so a concurrent run (the other
    # Python) never sees a half-written tree.
    staging = Path(tempfile.mkdtemp(prefix=f".django-{version}-", dir=root))
    try:
        extract_tests(sdist, staging)
        _check_tree(staging, f"sdist {sdist}")
        (staging / ".complete").write_text(f"{sdist.name}\n")
        if tree.exists() and not (tree / ".complete").is_file():
            shutil.rmtree(tree)  # left by an interrupted run
        try:
            staging.rename(tree)
        except OSError:
            if not (tree / ".complete").is_file():  # lost a race only if the winner finished
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log(f"Django {version} tests extracted to {tree}")
    return tree


def django_doc(version: str, name: str, log) -> str:
    """The text of ``docs/<name>`` in the sdist of Django ``version`` (downloaded once, cached)."""
    sdist = download_sdist(version, cache_root() / "sdist", log)
    with tarfile.open(sdist, "r:gz") as archive:
        for member in archive:
            parts = PurePosixPath(member.name).parts
            if len(parts) >= 3 and parts[1] == "docs" and PurePosixPath(*parts[2:]).as_posix() == name:
                source = archive.extractfile(member)
                assert source is not None
                with source:
                    return source.read().decode()
    raise FetchError(f"{sdist}: docs/{name} not found")
