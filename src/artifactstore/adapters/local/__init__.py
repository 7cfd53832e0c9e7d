"""The local-files storage adapter (and its notifier for the local stack)."""
