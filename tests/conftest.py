"""Shared fixtures: moto in server mode over real HTTP on a free loopback port."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest

AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


class _DistinctPaths(list[str]):
    """A loader's search paths: a path already there is not added again."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


def share_botocore_loaders() -> None:
    """Every botocore session in this process reads AWS's model files through one loader.

    Each new session (``boto3.session.Session()``, PynamoDB's session per thread, the Lambda
    handlers' clients) otherwise parses the service, endpoint-ruleset and partition JSON from
    disk again: about 80 ms a client, thousands of clients a run. botocore already shares one
    loader between every client of a session, and nothing edits what it loaded, so sharing it
    between sessions changes no model a client sees. boto3 adds its own data path to the
    loader of each session it makes: on the shared loader that path is kept once.
    """
    import botocore.loaders
    import botocore.session

    create = botocore.loaders.create_loader
    loaders: dict[str | None, Any] = {}
    lock = threading.Lock()

    def shared_loader(search_path_string: str | None = None) -> Any:
        with lock:
            loader = loaders.get(search_path_string)
            if loader is None:
                loader = create(search_path_string)
                loader._search_paths = _DistinctPaths(loader.search_paths)  # type: ignore[attr-defined]
                loaders[search_path_string] = loader
            return loader

    botocore.session.create_loader = shared_loader  # what Session._register_data_loader calls


share_botocore_loaders()


def share_httpx_ssl_contexts() -> None:
    """httpx clients in this process that verify with the default CA bundle share one context.

    httpx builds an ``ssl.SSLContext`` for every client (``httpx.put`` makes a client per
    call) and loads the whole CA bundle into it: about 35 ms each, and the tests PUT thousands
    of uploads to moto's presigned URLs. A context built from the same bundle verifies the
    same way, and an ``SSLContext`` is made to be shared by many connections. Any other
    ``verify`` or a client certificate still gets a context of its own, as before.
    """
    import ssl

    import httpx
    import httpx._transports.default as transports

    create = httpx.create_ssl_context  # the function transports.create_ssl_context names
    contexts: dict[tuple[bool, str | None, str | None], ssl.SSLContext] = {}
    lock = threading.Lock()

    def shared_context(verify: Any = True, cert: Any = None, trust_env: bool = True) -> Any:
        if verify is not True or cert is not None:
            return create(verify=verify, cert=cert, trust_env=trust_env)
        key = (trust_env, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
        with lock:
            context = contexts.get(key)
            if context is None:
                context = contexts[key] = create(verify=verify, cert=cert, trust_env=trust_env)
            return context

    # what HTTPTransport.__init__ calls
    transports.create_ssl_context = shared_context  # type: ignore[attr-defined]


share_httpx_ssl_contexts()


def cache_bytecode_in_subprocesses() -> None:
    """Let the Python processes the tests start (and pytest-xdist's workers) write ``.pyc``.

    Hundreds of tests run the real ``artifactstore`` executable or ``python -m localdev.dev``
    (moto, uvicorn, the pump) as subprocesses. With ``PYTHONDONTWRITEBYTECODE`` set, as in some
    container images, none of them can cache its bytecode, so every one compiles each module
    it imports from source again: about 0.3 s of a CLI call's 0.5 s start, and seconds for a
    stack. ``__pycache__`` is git-ignored and Python checks each ``.pyc`` against its source,
    so caching changes nothing a test sees. (Not ``PYTHONPYCACHEPREFIX``: ``compileall`` would
    then write the Lambda layers' ``.pyc`` there, not in the layer, tests/unit/test_layers.py.)
    """
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


cache_bytecode_in_subprocesses()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server on a free port; AWS clients in this process are pointed at it."""
    from localdev.motoserver import MotoServer

    server = MotoServer()  # the local stack's own server: keep-alive, no state file
    server.start()
    url = server.endpoint
    saved = {k: os.environ.get(k) for k in [*AWS_TEST_ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update(AWS_TEST_ENV)
    os.environ["AWS_ENDPOINT_URL"] = url
    try:
        yield url
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
