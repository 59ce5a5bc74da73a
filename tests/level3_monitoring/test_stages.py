"""The release stages level 3 runs before its production days: what they record."""

from __future__ import annotations

import json

from level3_monitoring import stages


def test_a_whole_release_records_its_own_stage_times_and_stop_is_not_one(tmp_path, monkeypatch):
    """``stage_seconds.json`` holds the last release's stages: what ``make compare`` reads."""
    from types import SimpleNamespace

    ran = []
    fake = {name: (lambda _context, name=name: ran.append(name) or 0) for name in stages.STAGES}
    monkeypatch.setattr(stages, "STAGES", fake)
    monkeypatch.setattr(stages, "stop", lambda _context: ran.append("stop") or 0)
    config = SimpleNamespace(tracking=SimpleNamespace(state_dir=tmp_path))
    context = stages.StageContext(tmp_path / "config.toml", {}, config)
    recorded = tmp_path / stages.STAGE_SECONDS_FILE
    recorded.write_text(json.dumps({"train": 99.0, "smoke": 99.0}))

    assert stages.run_stages(context, ["gate"]) == 0  # CI: one stage a step, merged
    assert set(json.loads(recorded.read_text())) == {"train", "smoke", "gate"}
    assert stages.run_stages(context, list(fake)) == 0  # a whole release: from scratch
    assert stages.run_stages(context, ["stop"]) == 0
    times = json.loads(recorded.read_text())
    assert list(times) == list(fake)
    assert all(seconds < 99.0 for seconds in times.values())
    assert ran == ["gate", *fake, "stop"]
