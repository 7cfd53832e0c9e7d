# Shared by the layers' Makefiles. Lambda extracts a layer under /opt, read-only, and zip keeps
# mtimes only to 2 s, so timestamp-checked .pyc files could be judged stale and recompiled at
# every cold start: `unchecked-hash` .pyc files are used as they are (a layer never changes).
# The .pyc format is per minor version, so the compiler must be the runtime's Python (3.11).
CHECK_PYTHON = $(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and "compile with Python 3.11, the functions runtime")'
COMPILE = $(PYTHON) -m compileall -q -j 0 --invalidation-mode unchecked-hash \
	-s "$(ARTIFACTS_DIR)/python" -p /opt/python
