"""Ports: the small interfaces the service layer talks to; adapters live in ``adapters/``."""
