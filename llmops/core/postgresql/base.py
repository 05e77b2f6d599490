"""PostgreSQL with a connection pool that drains dead connections at once.

psycopg_pool checks a connection before lending it, but after the second failed check it sleeps with
backoff (1 s, then 2 s, ...): when the server has terminated every idle connection of the pool (a
failover, a restart, ``pg_terminate_backend``), a thread gives up on its checkout before reaching a
live one. Here the pool lends without its own check and each checkout is checked here: a dead
connection goes back to the pool (which discards it and opens a replacement) and the next one is tried
at once. At most the pool's size of them can be dead, so the loop is bounded; a server that does not
accept connections still costs the pool's ``timeout`` and then an OperationalError (a 503).
"""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql import base
from psycopg import Error as PsycopgError
from psycopg_pool import ConnectionPool


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        pool = self.pool
        if pool is None:
            return super().get_new_connection(conn_params)
        failure: PsycopgError | None = None
        for _ in range(pool.max_size + 1):
            connection = super().get_new_connection(conn_params)
            try:
                ConnectionPool.check_connection(connection)
            except PsycopgError as error:
                failure = error
                pool.putconn(connection)
                continue
            return connection
        raise failure
