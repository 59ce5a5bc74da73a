"""The pinned stack: the libraries every level relies on import together at the locked versions."""

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIBRARIES = {
    "sklearn": "scikit-learn",
    "pandas": "pandas",
    "mlflow": "mlflow",
    "evidently": "evidently",
    "prefect": "prefect",
    "joblib": "joblib",
}


def locked_versions() -> dict[str, str]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return {package["name"]: package["version"] for package in lock["package"]}


def test_all_libraries_import_together_at_the_locked_versions(tmp_path):
    # A fresh interpreter, so nothing imported by other tests can hide a conflict; Prefect's home
    # goes to a temporary folder so importing it writes nothing outside the test.
    script = (
        "import importlib, json, sys\n"
        f"names = {list(LIBRARIES)!r}\n"
        "print(json.dumps({n: importlib.import_module(n).__version__ for n in names}))\n"
    )
    environment = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=environment, check=False
    )

    assert result.returncode == 0, result.stderr
    imported = json.loads(result.stdout.strip().splitlines()[-1])
    locked = locked_versions()
    for module, package in LIBRARIES.items():
        assert imported[module] == locked[package], f"{package}: {imported[module]}"
