"""The client library the CLI is a thin shell over: API calls, ingest, download, verify."""
