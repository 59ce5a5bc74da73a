"""Write one level as a standalone project: ``python -m template --level L --dest D [--name N]``.

``make template LEVEL=level2_cicd DEST=../my-recommender NAME=my_recommender`` runs this.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .dependencies import DependencyError
from .project import TemplateError, available_levels, check_request, write_template


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: which level, where to, and an optional new package name."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--level", help=f"the level to copy: {', '.join(available_levels())}")
    parser.add_argument("--dest", type=Path, help="a new (or empty) folder for the project")
    parser.add_argument("--name", help="the package's name in the project (default: the level's)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Check the request, write the project, say what to run next."""
    args = parse_args(argv)
    try:
        request = check_request(args.level, args.dest, args.name)
        print(f"Writing {request.level} as a project in {request.dest} ...", flush=True)
        dest = write_template(request)
    except (TemplateError, DependencyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Wrote {dest}: {request.name}/, data/, tests/, Makefile, pyproject.toml, uv.lock.")
    print(f"Next:  cd {dest} && make test && make {request.run_target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
