"""Unit tests: no network (see conftest.py), no AWS, seconds in total."""
