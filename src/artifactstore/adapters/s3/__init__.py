"""The S3 storage adapter."""
