"""Adapters behind the ports: S3, local files, EventBridge, State Hub."""
