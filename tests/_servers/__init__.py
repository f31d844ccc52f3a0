"""Real servers for the tests: started on 127.0.0.1, free ports, temp dirs, always stopped.

Each server module offers a context manager that yields a handle with the address
and ``kill()``/``start()`` for outage tests. ``runtests.py`` starts the shared ones
and exports their addresses; tests that need a dedicated (killable) server start
their own through the same context managers.
"""

from .base import ServerProcess, ServerUnavailable, free_port, require_binary

__all__ = ["ServerProcess", "ServerUnavailable", "free_port", "require_binary"]
