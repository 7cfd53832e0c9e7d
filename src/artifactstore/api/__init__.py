"""The HTTP API: a thin FastAPI shell over the service layer."""
