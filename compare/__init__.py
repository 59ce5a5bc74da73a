"""The five levels side by side on one simulated world: ``make compare`` (see ``__main__.py``).

The comparison is about the levels, so it lives beside them and may read each one's outputs; no
level imports it. ``ladder.py`` declares what each level automates with the evidence in its code,
``runner.py`` runs each level's own make target, ``replay.py`` plays levels 0-2's released model
through the production days, ``measures.py`` defines detection delay, time to recover and quality
lost, ``results.py`` assembles compare.json, and ``figure.py``, ``page.py``, ``diffs.py`` and
``tables.py`` draw and write it.
"""
