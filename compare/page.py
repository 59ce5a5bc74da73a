"""compare.html: one self-contained page with the figure, the table and each level's evidence.

The figures are embedded (base64 PNG), so the page can be mailed or attached to a CI run; the
links go to files beside it (each level's kept outputs, its rendered diff) and to the levels'
READMEs in the repository.
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from typing import Any

from .figure import draw, level_number
from .ladder import ROOT
from .measures import RECOVERY_SHARE

TABLE_ID = "levels-table"


def timeline_id(level: str) -> str:
    """The id of a level's timeline image on the page."""
    return f"timeline-{level}"


def fmt(value: Any, unit: str = "", none: str = "-") -> str:
    """A figure for the table: ``none`` for None, one decimal for seconds."""
    if value is None:
        return none
    if isinstance(value, float):
        return f"{value:.1f}{unit}" if unit == " s" else f"{value:.3f}{unit}"
    return f"{value}{unit}"


def table_rows(result: dict[str, Any]) -> list[list[str]]:
    """The table's cells, one row per level; the terminal table prints the same."""
    rows = []
    for name, level in result["levels"].items():
        production, seconds = level["production"], level["seconds"]
        rows.append(
            [
                f"{level_number(name)} {level['title']}",
                str(level["code"]["files"]),
                str(level["code"]["lines"]),
                str(len(level["manual_steps"])),
                fmt(seconds["training"], " s"),
                fmt(seconds["release"], " s", "by hand"),
                fmt(seconds["deployment"], " s", "by hand"),
                fmt(production["detection_delay_days"], " d", "never" if production["monitors"]
                    else "no monitoring"),
                fmt(production["time_to_recover_days"], " d", "never"),
                f"{production['quality_lost']:.2f}",
                fmt(production["failed_requests"], "", "not served"),
            ]
        )  # fmt: skip
    return rows


HEADERS = [
    "level",
    "Python files",
    "lines",
    "manual steps",
    "training",
    "release",
    "deployment",
    "detection delay",
    "time to recover",
    "quality lost",
    "failed requests",
]


def image(data: bytes, alt: str, element_id: str) -> str:
    """An embedded PNG."""
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img id="{element_id}" alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


def link(href: str, text: str) -> str:
    """An HTML link (the href as given, relative to the page)."""
    return f'<a href="{html.escape(href)}">{html.escape(text)}</a>'


def level_links(name: str, out: Path, previous: str | None) -> list[str]:
    """Links to what the level left: its README, diff, run log, reports and tracking files."""
    kept = out / "levels" / name
    links = [link(os.path.relpath(ROOT / name / "README.md", out), "README")]
    if previous is not None:
        links.append(link(f"diffs/{name}.html", f"diff from {previous}"))
    links.append(link(f"logs/{name}.log", "run log"))
    for file, text in (
        ("metrics.json", "offline metrics"),
        ("gate.md", "validation gate"),
        ("timeline.png", "its own timeline"),
        ("summary.json", "summary"),
        ("alerts.jsonl", "alerts"),
        ("decisions.jsonl", "decisions"),
        ("pages.jsonl", "pages"),
    ):
        if (kept / file).exists():
            links.append(link(f"levels/{name}/{file}", text))
    if (kept / "reports").is_dir():
        links.append(link(f"levels/{name}/reports/", "Evidently reports (every day)"))
    if (kept / "mlflow").is_dir():
        links.append(link(f"levels/{name}/mlflow/", "MLflow artefacts of its runs"))
        links.append(f"every run and model: <code>make ui-mlflow UI_LEVEL={name}</code>")
    return links


def alert_items(name: str, level: dict[str, Any]) -> list[str]:
    """Each alert, linked to the Evidently report it points to."""
    items = []
    for alert in level["production"]["alerts"]:
        text = html.escape(f"day {alert['day']}: {alert['message']}")
        report = alert.get("report")
        if report:
            kept = f"levels/{name}/reports/{Path(report).parent.name}/{Path(report).name}"
            text += f" ({link(kept, 'report')})"
        items.append(f"<li>{text}</li>")
    return items


def level_section(name: str, level: dict[str, Any], result: dict[str, Any], out: Path,
                  previous: str | None) -> str:  # fmt: skip
    """One level: its timeline, what it automates and leaves, its figures and links."""
    production = level["production"]
    figure = draw(result, only=name)
    claims = "".join(
        f"<li><b>{html.escape(claim['what'])}</b><br><code>{html.escape(claim['evidence'])}</code>"
        "</li>"
        for claim in level["automated"]
    )
    manual = "".join(
        f"<li><b>{html.escape(claim['what'])}</b><br><code>{html.escape(claim['evidence'])}</code>"
        "</li>"
        for claim in level["manual_steps"]
    )
    decisions = "".join(
        f"<li>day {d['day']}: {html.escape(d['action'])} version {d['model_version']}: "
        f"{html.escape(str(d['reason']))}</li>"
        for d in production["decisions"]
    )
    seconds = ", ".join(
        f"{key} {fmt(value, ' s', 'by hand')}" for key, value in level["seconds"].items()
    )
    alerts = "".join(alert_items(name, level))
    title = f"Level {level_number(name)}: {html.escape(level['title'])}"
    make = f"<small><code>make {html.escape(level['make'])}</code></small>"
    automated = f"Automated ({len(level['automated'])})"
    left = f"Still a person's ({len(level['manual_steps'])})"
    return f"""
<section id="level-{name}">
<h2>{title} {make}</h2>
<p><i>{html.escape(production["source"])}</i>. Wall times: {seconds}.</p>
{image(figure, f"{name}: true quality and what its monitoring sees, day by day", timeline_id(name))}
<div class="columns">
<div><h3>{automated}</h3><ul>{claims or "<li>nothing</li>"}</ul></div>
<div><h3>{left}</h3><ul>{manual or "<li>nothing</li>"}</ul></div>
</div>
{f"<h3>Alerts</h3><ul>{alerts}</ul>" if alerts else ""}
{f"<h3>Decisions</h3><ul>{decisions}</ul>" if decisions else ""}
<p>{" · ".join(level_links(name, out, previous))}</p>
</section>"""


def render(result: dict[str, Any], figure: bytes, out: Path) -> Path:
    """Write compare.html into ``out``; its path."""
    world = result["world"]
    header = "".join(f"<th>{html.escape(text)}</th>" for text in HEADERS)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
        for row in table_rows(result)
    )
    names = list(result["levels"])
    sections = "".join(
        level_section(name, result["levels"][name], result, out, names[i - 1] if i else None)
        for i, name in enumerate(names)
    )
    page = PAGE.format(
        scenario=html.escape(world["scenario"]),
        seed=world["seed"],
        size=html.escape(str(world["size"])),
        first=world["first_day"],
        last=world["last_day"],
        switch=world["switch_day"],
        share=f"{RECOVERY_SHARE:.0%}",
        figure=image(figure, "the five levels on the same days", "figure"),
        table_id=TABLE_ID,
        header=header,
        body=body,
        sections=sections,
        created=html.escape(result["created"]),
    )
    path = out / "compare.html"
    path.write_text(page, encoding="utf-8")
    return path


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>The five levels on {scenario}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 74em; color: #222; }}
img {{ max-width: 100%; }}
table {{ border-collapse: collapse; font-size: 14px; }}
th, td {{ border: 1px solid #ccc; padding: .3em .6em; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
th {{ background: #f0f0f0; }}
section {{ border-top: 1px solid #ddd; margin-top: 2em; }}
.columns {{ display: flex; gap: 2em; }} .columns > div {{ flex: 1; }}
code {{ font-size: 12px; }} small {{ font-weight: normal; color: #666; }}
dt {{ font-weight: bold; }}
</style></head><body>
<h1>The five levels on the same world: {scenario}</h1>
<p>One simulated shop (seed {seed}, size {size}); production days {first}-{last}; the world
changes ({scenario}) on day {switch}. Every level ran its own make target on this world; every
figure below comes from that run. Levels 0-2 have no production loop of their own: their line is
the model they released, left serving every visitor through the same days, which is what
"nobody watches production" means. True quality is what only the simulation knows: NDCG@10 of
the lists users got against the world's best lists that day.</p>
{figure}
<p>Click-through and online NDCG are what production can observe. In this simulator users click
a served item by how much they like it, while true quality also weighs how often the shop shows
an item; after a shift the two can disagree, so a model can be better for users and clicked less
(level 4's README measures this).</p>
<h2>The levels side by side</h2>
<table id="{table_id}"><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>
<dl>
<dt>manual steps</dt><dd>duties still done by a person, each with the line of code that shows it
(below, per level).</dd>
<dt>training, release, deployment</dt><dd>wall times of the run's stages; levels 0 and 1 have no
stages, so training is their whole command, and release and deployment are done by hand.</dd>
<dt>detection delay</dt><dd>days from the switch to the first alert on or after it.</dd>
<dt>time to recover</dt><dd>days from the switch until true quality is back to {share} of its
pre-switch mean and stays there to the last day; "never" if it is not by then.</dd>
<dt>quality lost</dt><dd>the sum over the days from the switch of (pre-switch mean - true
quality), in NDCG-days.</dd>
<dt>failed requests</dt><dd>requests the level's service did not answer; levels 0-2 serve
nothing here.</dd>
</dl>
{sections}
<p><small>Written {created} by <code>make compare</code>.</small></p>
</body></html>
"""
