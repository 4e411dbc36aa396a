"""Renderers of a hunt: pure functions of its result, with every log string escaped."""
