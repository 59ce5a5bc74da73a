"""MLOps Compass: where a team stands on this project's ladder, and which level to copy next.

``make assess`` (``python -m assessment``) asks the questions of ``questions.toml``, or reads
them from an answers file, or from a repository's code (``--repo``, see ``evidence.py``), and
reports the team's level, its weakest dimension with one next step, the level folder to copy, the
diff to study and what that step bought on the simulated world (``make compare``'s results).

The scoring rule:

- every option describes one level of the ladder, 0 (manual) to 4 (autonomous); every question
  has a weight, how critical it is (an automatic rollback weighs 3, where the thresholds are
  written 1);
- a dimension's score is the weighted mean of the levels of its *answered* questions
  (sum of weight * level / sum of weight); unanswered questions count for nothing, and the
  report says how many there were. A dimension with no answered question has no score;
- a dimension's level is the floor of its score: 2.9 is not yet level 3;
- the overall level is the lowest dimension level: a team is at level N when every dimension is.
  The report also gives the weighted mean of all answered questions, which shows how far past
  that level the team is;
- the weakest dimension is the one with the lowest score; ties go to the dimension written first
  in the question file. Its next step is the file's ``next_steps[level]`` for that dimension;
- the level folder to copy is the one above the overall level, and the diff to study is from the
  team's level folder to that one. At level 4 there is none above: the report says so, and what
  to keep measuring (``make compare``, ``make bench``).

The package reads the repository's files as text and imports nothing from ``compare/`` or any
level, so it can be copied out and run on its own.
"""
