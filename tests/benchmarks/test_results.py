"""The combined results file and its headline table, on hand-made benchmark files."""

from __future__ import annotations

import json

import pytest

from benchmarks import results

OPS = {
    "levels": {
        "level0": {"alone_seconds": 2.0, "shared_seconds": 1.5, "production_day_seconds": 0.0},
        "level3": {"alone_seconds": 40.0, "shared_seconds": 30.0, "production_day_seconds": 12.0},
    }
}
SERVE = {
    "steady": [{"rate": 200, "p99_ms": 1.25}],
    "capacity": [{"processes": 1, "max_rate": 4400}, {"processes": 2, "max_rate": 5600}],
}


@pytest.fixture
def bench(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "BENCH", tmp_path)
    monkeypatch.setattr(results, "RESULTS", tmp_path / "results.json")
    (tmp_path / "ops.json").write_text(json.dumps(OPS))
    (tmp_path / "serve.json").write_text(json.dumps(SERVE))
    (tmp_path / "detection.json").write_text(json.dumps({"no": "headlines"}))
    return tmp_path


def test_the_combined_file_holds_every_benchmark_and_the_headlines_are_computed(bench, capsys):
    assert results.main([]) == 0
    combined = json.loads((bench / "results.json").read_text())
    assert set(combined["benchmarks"]) == {"ops", "serve", "detection"}
    assert combined["machine"]["cores"] >= 1
    figures = results.headlines(combined)
    # Level 3's release after a shared start-up: 30 s less its 12 s day, less level 0's 1.5 s.
    assert figures["ops: level3 s over level 0 (shared server)"] == pytest.approx(16.5)
    assert figures["ops: level3 s alone"] == pytest.approx(28.0)
    assert figures["serve: p99 ms at 200/s"] == 1.25
    assert figures["serve: max requests/s, 2 process(es)"] == 5600
    assert not any(name.startswith("detection") for name in figures)
    assert "serve: max requests/s, 1 process(es)" in capsys.readouterr().out


def test_another_results_file_is_put_beside_and_a_missing_figure_shown_as_a_dash(bench, capsys):
    assert results.main([]) == 0
    other = json.loads((bench / "results.json").read_text())
    other["benchmarks"]["serve"]["results"]["steady"][0]["p99_ms"] = 123.0
    del other["benchmarks"]["ops"]
    against = bench / "other.json"
    against.write_text(json.dumps(other))
    capsys.readouterr()
    assert results.main(["--against", str(against)]) == 0
    lines = capsys.readouterr().out.splitlines()
    p99 = next(line for line in lines if line.startswith("serve: p99 ms at 200/s"))
    assert p99.split()[-2:] == ["1.2", "123"]
    ops = next(line for line in lines if line.startswith("ops: level3 s alone"))
    assert ops.split()[-1] == "-"


def test_an_unreadable_file_to_compare_with_is_named(bench, capsys):
    (bench / "broken.json").write_text("{not json")
    assert results.main(["--against", str(bench / "broken.json")]) == 2
    assert "--against" in capsys.readouterr().err


def test_the_stack_headlines_name_each_way_store_and_process_count():
    stack = {
        "release": {"embedded": {"seconds": 12.5}, "servers + worker": {"seconds": 20.0}},
        "registry": {"tracking server": {"alias_read_per_s": 71.0, "search_versions_per_s": 5}},
        "serving": {"capacity": [{"processes": 2, "max_rate": 3200}]},
    }
    assert results.stack_headlines(stack) == {
        "level 2 s, embedded": 12.5,
        "level 2 s, servers + worker": 20.0,
        "alias reads/s, tracking server": 71.0,
        "max requests/s, 2 process(es)": 3200,
    }


def test_the_tuning_headlines_are_the_choice_and_its_gain_on_test_per_dataset():
    tuning = {
        "default world": {"chosen_l2": 200.0, "test_gain_percent": 0.0},
        "ml-100k": {"chosen_l2": 1000.0, "test_gain_percent": -3.9},
    }
    assert results.tuning_headlines(tuning) == {
        "default world: chosen l2": 200.0,
        "default world: test gain %": 0.0,
        "ml-100k: chosen l2": 1000.0,
        "ml-100k: test gain %": -3.9,
    }
