"""Helpers shared by the test folders (on the path through pytest's ``pythonpath``)."""
