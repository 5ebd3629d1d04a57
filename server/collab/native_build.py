"""Build the compiled keystroke path: `python -m server.collab.native_build` (`make native`).

Apart from `server.collab.native` (which decides at import whether a build
is used) because building needs mypyc and setuptools, dev dependencies the
server itself never imports.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

from server.collab.native import (
    BUILD_ROOT,
    COMPILED,
    MANIFEST,
    PACKAGE,
    SOURCE_DIR,
    SWITCH,
    NativeStatus,
    inspect,
    package_dir,
    source_digest,
)


def build(build_root: Path = BUILD_ROOT, source_dir: Path = SOURCE_DIR) -> NativeStatus:
    """Compile `COMPILED` into `build_root` unless a current build is there already.

    The build goes to a scratch directory first and replaces the old one only
    when complete, manifest last, so an interrupted or failed build leaves
    nothing that `inspect` would load.
    """
    current = inspect(build_root, source_dir, environ={})
    if current.active:
        return current
    digest = source_digest(source_dir)  # of what is compiled, should a file change meanwhile
    from mypy.version import __version__ as mypy_version  # a dev dependency: only here
    from mypyc.build import mypycify
    from setuptools import Distribution  # type: ignore[import-untyped]

    build_root.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=build_root.parent, prefix="native-") as scratch:
        work = Path(scratch)
        # mypyc names modules from the paths it is given, relative to the working directory.
        previous = Path.cwd()
        os.chdir(source_dir.parents[1])
        try:
            sources = [str(Path(*PACKAGE, f"{name}.py")) for name in COMPILED]
            extensions = mypycify(
                sources,
                opt_level="3",
                group_name=".".join((*PACKAGE, "_native")),
                target_dir=str(work / "c"),
            )
            dist = Distribution({"name": "rtlab-native", "ext_modules": extensions})
            command = dist.get_command_obj("build_ext")
            command.build_lib = str(work / "lib")
            command.build_temp = str(work / "tmp")
            command.parallel = os.cpu_count() or 1
            dist.run_command("build_ext")
        finally:
            os.chdir(previous)
        shutil.rmtree(build_root, ignore_errors=True)
        (work / "lib").rename(build_root)
    manifest = {
        "digest": digest,
        "mypyc": mypy_version,
        "python": platform.python_version(),
        "modules": list(COMPILED),
    }
    (package_dir(build_root) / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return inspect(build_root, source_dir, environ={})


def main(argv: list[str] | None = None) -> int:
    """`python -m server.collab.native_build [--check]`: build if needed, or only report."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--check"]:
        status = inspect()
    elif not args and os.environ.get(SWITCH) == "0":  # plain Python asked for: no compiler needed
        print(f"server.collab keystroke path: not built ({SWITCH}=0)")
        return 0
    elif not args:
        try:
            status = build()
        except (Exception, SystemExit) as exc:  # mypyc exits on a type error; gcc may be missing
            print(
                f"server.collab keystroke path: the mypyc build failed ({exc!r}); "
                f"{SWITCH}=0 runs everything as plain Python",
                file=sys.stderr,
            )
            return 1
    else:
        print("usage: python -m server.collab.native_build [--check]", file=sys.stderr)
        return 2
    print(f"server.collab keystroke path: {status.describe()}")
    return 0 if status.active or args == ["--check"] else 1


if __name__ == "__main__":
    sys.exit(main())
