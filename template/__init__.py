"""``make template``: one level as a standalone project, with its tests, dependencies and CI."""
