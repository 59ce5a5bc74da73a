"""The README of a project made from a level: where it came from, how to run it, what is in it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .project import TemplateRequest


def readme_text(
    request: TemplateRequest,
    description: str,
    requirements: list[str],
    *,
    repository: str,
    version: str,
    made_on: str,
    has_workflow: bool,
    plays_production: bool = False,
) -> str:
    """The project's README.md; the level's own README stays beside its code.

    ``plays_production``: the level plays production days of the simulated world, which data
    from elsewhere (MovieLens) does not have, so its run target needs the simulated shop.
    """
    name, level = request.name, request.level
    renamed = f" Its package `{level}` is called `{name}` here." if request.renamed else ""
    workflow = (
        "| `.github/workflows/` | the level's CI/CD workflow (GitHub runs it from here) |\n"
        if has_workflow
        else ""
    )
    command = f"make template LEVEL={level}" + (f" NAME={name}" if request.renamed else "")
    data_sentence = (
        f"`make {request.run_target} SCENARIO=taste_shift` plays production days of a simulated "
        "world that changes a week in (production days need the simulated shop: MovieLens has no "
        "world behind it to play)."
        if plays_production
        else f"`make {request.run_target} DATA=path/to/ml-100k` runs on a MovieLens folder instead "
        "of the simulated shop."
    )
    return f"""# {request.project_name}

A recommender project made from `{level}` of {repository} ({description}).

Made on {made_on} by `{command}` from {repository} {version}.{renamed}
What the level does, how to run it, what it produces and what it still leaves to people:
[`{name}/README.md`]({name}/README.md).

## Quick start

On a machine with Python 3.11+ and `make` (the Makefile installs uv and the locked environment):

```sh
make demo    # set up, generate the simulated dataset, run the level
make test    # the test suite (what .ci/run runs)
```

`make help` lists every target; {data_sentence} All run state goes under `state/` (`make clean`).

## What is here

| path | what |
|---|---|
| `{name}/` | the level: its code, its make targets (`level.mk`) and its README |
| `data/` | the simulated shop, the dataset contract (`data/schema.py`), MovieLens importers |
| `tests/` | the level's tests (`tests/{name}/`) and the data package's (`tests/data/`) |
| `mk/common.mk` | the environment (uv, `.venv/`), `test`, `lint`, `data`, `clean` |
| `pyproject.toml`, `uv.lock` | this level's dependencies only, at the versions it was tested with |
| `.ci/run` | what CI runs: `make test` |
{workflow}
## Dependencies

{chr(10).join(f"- `{requirement}`" for requirement in requirements)}

plus `pytest` and `ruff` (and the level's test tools) in the `dev` group.

## Making it yours

- Your own data: a folder with `users.csv`, `items.csv` and `interactions.csv` in the contract
  of [`data/schema.py`](data/schema.py), or a MovieLens folder; pass it as `DATA=`.
- Put the project under version control (`git init`): runs record the commit they ran from.
- The next maturity level is a diff away in the repository this came from
  (`make diff FROM={level} TO=<the next level>` there).
"""
