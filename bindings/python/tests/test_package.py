"""The installable package: `pip install ./bindings/python` works offline (Debian's setuptools,
no build isolation, no index), and the installed package finds libshmkv.so through
$SHMKV_LIBRARY or, without it, through the dynamic loader's path."""
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import pytest

import shmkv
from conftest import unique_name

SOURCE = pathlib.Path(__file__).resolve().parent.parent  # bindings/python

# What the installed package runs: a set/get through the library it found, and where it came from.
PROBE = textwrap.dedent("""
    import importlib.metadata, sys
    import shmkv
    name = sys.argv[1]
    try:
        with shmkv.open(name, size_bytes=4 << 20, shards=4) as kv:
            kv.set("greeting", "hello")
            assert kv.get("greeting") == b"hello"
    finally:
        shmkv.destroy(name)
    print(shmkv.__file__, shmkv.library_path, importlib.metadata.version("shmkv"), shmkv.version)
""")


def run(args, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The package pip-installed (offline) into a fresh --target directory, from a copy of the
    sources (a build writes build/ and *.egg-info next to them)."""
    for module, package in (("pip", "python3-pip"), ("setuptools", "python3-setuptools"),
                            ("wheel", "python3-wheel")):
        if subprocess.run([sys.executable, "-c", f"import {module}"]).returncode != 0:
            pytest.fail(f"{module} is not importable by {sys.executable}; install the Debian "
                        f"package {package}")
    base = tmp_path_factory.mktemp("package")
    source = base / "src"
    shutil.copytree(SOURCE, source, ignore=shutil.ignore_patterns(
        "tests", "__pycache__", "build", "*.egg-info"))
    target = base / "site"
    run([sys.executable, "-m", "pip", "install", "--quiet", "--no-build-isolation", "--no-index",
         "--no-deps", "--no-cache-dir", "--disable-pip-version-check", "--root-user-action=ignore",
         "--target", str(target),
         str(source)])
    return target


def probe(target, **env_changes):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SHMKV_LIBRARY")}
    env["PYTHONPATH"] = str(target)
    env.update(env_changes)
    out = run([sys.executable, "-c", PROBE, unique_name("pkg")], env=env, cwd=target)
    module_file, library, dist_version, lib_version = out.split()
    return pathlib.Path(module_file), library, dist_version, lib_version


def test_pip_installs_offline_and_the_package_uses_shmkv_library(installed):
    module_file, library, dist_version, lib_version = probe(
        installed, SHMKV_LIBRARY=shmkv.library_path)
    assert module_file.is_relative_to(installed)  # the installed copy, not the source tree
    assert library == shmkv.library_path
    assert dist_version == lib_version  # pyproject.toml's version is the library's


def test_installed_package_finds_the_library_on_the_loader_path(installed):
    library_dir = str(pathlib.Path(shmkv.library_path).resolve().parent)
    module_file, library, _, _ = probe(installed, LD_LIBRARY_PATH=library_dir)
    assert module_file.is_relative_to(installed)
    assert library.startswith("libshmkv.so")  # loaded by name, not from $SHMKV_LIBRARY


def test_pip_installs_offline_into_a_venv(tmp_path):
    """The venv recipe of docs/bindings.md: --system-site-packages lets pip see setuptools."""
    source = tmp_path / "src"
    shutil.copytree(SOURCE, source, ignore=shutil.ignore_patterns(
        "tests", "__pycache__", "build", "*.egg-info"))
    venv = tmp_path / "env"
    run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)])
    python = str(venv / "bin" / "python")
    run([python, "-m", "pip", "install", "--quiet", "--no-build-isolation", "--no-index",
         "--no-cache-dir", "--disable-pip-version-check", str(source)])
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["SHMKV_LIBRARY"] = shmkv.library_path
    out = run([python, "-c", PROBE, unique_name("pkg")], env=env, cwd=tmp_path)
    assert pathlib.Path(out.split()[0]).is_relative_to(venv)
