"""artifactstore: immutable, BLAKE3-addressed packages of test and release evidence."""

__version__ = "0.1.0"
