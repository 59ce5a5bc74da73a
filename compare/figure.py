"""The comparison drawn: every level's production days on the same axes.

Three panels share the days: the true quality of what users got (which only the simulation
knows), then what monitoring sees of it, click-through and online NDCG@10 (levels 3 and 4 only:
levels 0-2 measure nothing in production). Levels whose true quality is the same on every day
(the same released model, never replaced) are drawn as one line, so no line hides another.
The switch day, the pre-switch mean and the recovery floor, alerts and decisions are marked.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from .measures import RECOVERY_SHARE

COLOURS = {
    "level0_manual": "tab:gray",
    "level1_pipeline": "tab:olive",
    "level2_cicd": "tab:purple",
    "level3_monitoring": "tab:orange",
    "level4_autonomous": "tab:blue",
}
DECISION_MARKS = {
    "retrain": ("D", "tab:blue"),
    "promote": ("^", "tab:green"),
    "reject": ("X", "tab:gray"),
    "rollback": ("v", "tab:red"),
    "quarantine": ("s", "tab:brown"),
}
SEEN = (("ctr", "click-through"), ("online_ndcg_at_10", "online NDCG@10"))


def level_number(name: str) -> str:
    """``level3_monitoring`` -> ``3``."""
    return name.removeprefix("level").split("_", 1)[0]


def same_lines(levels: dict[str, dict[str, Any]]) -> list[list[str]]:
    """Levels grouped by identical true-quality lines, in ladder order."""
    groups: list[list[str]] = []
    for name, level in levels.items():
        line = [day["true_quality"] for day in level["timeline"]]
        for group in groups:
            other = [day["true_quality"] for day in levels[group[0]]["timeline"]]
            if len(other) == len(line) and all(
                abs(a - b) < 1e-9 for a, b in zip(other, line, strict=True)
            ):
                group.append(name)
                break
        else:
            groups.append([name])
    return groups


def group_label(group: list[str], levels: dict[str, dict[str, Any]]) -> str:
    """``levels 0-3`` or ``level 4``, with what the line is."""
    numbers = [level_number(name) for name in group]
    name = f"level {numbers[0]}" if len(numbers) == 1 else f"levels {numbers[0]}-{numbers[-1]}"
    reacts = any(levels[member]["production"]["decisions"] for member in group)
    return f"{name}: " + (
        "retrains and promotes" if reacts else "the released model, never replaced"
    )


def draw(result: dict[str, Any], path: Path | None = None, only: str | None = None) -> bytes:
    """The figure as PNG bytes (also written to ``path``); ``only`` draws one level alone."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    levels = result["levels"] if only is None else {only: result["levels"][only]}
    world = result["world"]
    switch = world["switch_day"]
    # A level alone that watches nothing gets no panels of what monitoring sees.
    seen = SEEN if any(level["production"]["monitors"] for level in levels.values()) else ()
    size = (11, 7.5) if only is None else (8, 5.4 if seen else 3.0)
    figure, axes = plt.subplots(
        1 + len(seen), 1, figsize=size, sharex=True, squeeze=False,
        gridspec_kw={"height_ratios": [2.2] + [1] * len(seen)},
    )  # fmt: skip
    axes = axes[:, 0]
    draw_quality(axes[0], levels)
    for panel, (column, label) in zip(axes[1:], seen, strict=True):
        draw_seen(panel, levels, column, label)
    for panel in axes:
        panel.axvline(switch - 0.5, color="tab:red", lw=1, alpha=0.6)
        panel.grid(alpha=0.3)
    axes[0].text(switch - 0.4, 0.02, f" {world['scenario']} from day {switch}", color="tab:red",
                 fontsize=8, transform=axes[0].get_xaxis_transform())  # fmt: skip
    axes[-1].set_xlabel("production day")
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    title = f"{world['scenario']} (seed {world['seed']}, {world['size']}): " + (
        "the five levels on the same days" if only is None else f"level {level_number(only)}"
    )
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110 if only is None else 80)
    plt.close(figure)
    data = buffer.getvalue()
    if path is not None:
        path.write_bytes(data)
    return data


def draw_quality(axis: Any, levels: dict[str, dict[str, Any]]) -> None:
    """True quality: one line per group of identical levels, alerts and decisions marked."""
    from matplotlib.lines import Line2D

    marks: dict[str, Line2D] = {}
    for group in same_lines(levels):
        level = levels[group[-1]]
        days = [day["day"] for day in level["timeline"]]
        values = [day["true_quality"] for day in level["timeline"]]
        reacts = any(levels[member]["production"]["decisions"] for member in group)
        # A line that reacts is drawn wide and underneath, so the lines it equals stay visible.
        width, alpha, order = (3.5, 0.75, 1) if reacts else (1.5, 1.0, 3)
        axis.plot(days, values, "-o", color=COLOURS.get(group[-1], "black"), ms=3, lw=width,
                  alpha=alpha, zorder=order, label=group_label(group, levels))  # fmt: skip
        for member in group:
            alerted = sorted({alert["day"] for alert in levels[member]["production"]["alerts"]})
            at = [values[days.index(day)] for day in alerted if day in days]
            if at:
                axis.scatter(alerted, at, marker="*", s=90, color="tab:red", zorder=6)
                marks["alert"] = Line2D([], [], marker="*", color="tab:red", ls="", label="alert")
        for decision in level["production"]["decisions"]:
            marker, colour = DECISION_MARKS.get(decision["action"], ("o", "black"))
            axis.scatter([decision["day"]], [max(values) * 1.12], marker=marker, color=colour, s=50)
            marks[decision["action"]] = Line2D(
                [], [], marker=marker, color=colour, ls="", label=decision["action"]
            )
    pre = next(iter(levels.values()))["production"]["pre_switch_quality"]
    axis.axhline(pre, color="black", lw=0.8, ls="--", label="pre-switch mean")
    axis.axhline(RECOVERY_SHARE * pre, color="black", lw=0.8, ls=":",
                 label=f"recovered: {RECOVERY_SHARE:.0%} of it")  # fmt: skip
    axis.set_ylabel("true quality\n(NDCG@10 vs the world)")
    axis.set_ylim(bottom=0)
    handles, labels = axis.get_legend_handles_labels()
    axis.legend(handles + list(marks.values()), labels + list(marks), fontsize=7.5,
                loc="best", ncol=2)  # fmt: skip


def draw_seen(axis: Any, levels: dict[str, dict[str, Any]], column: str, label: str) -> None:
    """What monitoring sees in one measure: the levels that watch production, alone."""
    watched = [name for name, level in levels.items() if level["production"]["monitors"]]
    for name in watched:
        timeline = levels[name]["timeline"]
        axis.plot(
            [day["day"] for day in timeline],
            [day[column] for day in timeline],
            "-o", ms=3, color=COLOURS.get(name, "black"), label=f"level {level_number(name)}",
        )  # fmt: skip
    if not watched:
        axis.text(0.5, 0.5, "nothing measured in production", ha="center",
                  va="center", transform=axis.transAxes, color="gray")  # fmt: skip
    elif len(watched) < len(levels):
        axis.legend(fontsize=7.5, loc="lower left", title="levels 0-2 measure nothing",
                    title_fontsize=7.5)  # fmt: skip
    axis.set_ylabel(label, fontsize=8)
    axis.set_ylim(bottom=0)
