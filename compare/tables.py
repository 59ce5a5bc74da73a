"""The comparison in the terminal and in Markdown: the level table and the scenario matrix."""

from __future__ import annotations

from typing import Any

from .figure import level_number
from .page import HEADERS, table_rows

#: The matrix's figures per scenario and level.
MATRIX_FIGURES = (
    ("detection_delay_days", "detected"),
    ("time_to_recover_days", "recovered"),
    ("quality_lost", "lost"),
)


def aligned(headers: list[str], rows: list[list[str]]) -> str:
    """A plain table with columns padded to their widest cell."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(headers), *(line(row) for row in rows)])


def level_table(result: dict[str, Any]) -> str:
    """The levels side by side, as the page's table."""
    return aligned(HEADERS, table_rows(result))


def matrix_cell(production: dict[str, Any]) -> str:
    """Detection delay / time to recover / quality lost of one level on one scenario."""
    detected = production["detection_delay_days"]
    recovered = production["time_to_recover_days"]
    return (
        f"{'-' if detected is None else f'{detected} d'} / "
        f"{'never' if recovered is None else f'{recovered} d'} / "
        f"{production['quality_lost']:.2f}"
    )


def matrix_rows(results: dict[str, dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows: one row per scenario, one column per level."""
    first = next(iter(results.values()))
    headers = ["scenario", *(f"level {level_number(name)}" for name in first["levels"])]
    rows = [
        [scenario, *(matrix_cell(level["production"]) for level in result["levels"].values())]
        for scenario, result in results.items()
    ]
    return headers, rows


def markdown(headers: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
