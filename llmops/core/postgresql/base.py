"""PostgreSQL with a connection pool that drains dead connections at once.

psycopg_pool checks a connection before lending it, but after the second failed check it sleeps with
backoff (1 s, then 2 s, ...): when the server has terminated every idle connection of the pool (a
failover, a restart, ``pg_terminate_backend``), a thread gives up on its checkout before reaching a
live one. Here the pool lends without its own check and each checkout is checked here: a dead
connection goes back to the pool (which discards it and opens a replacement) and the next one is tried
at once. At most the pool's size of them can be dead, so the loop is bounded; a server that does not
accept connections still costs the pool's ``timeout`` and then an OperationalError (a 503).

The pool's own timeout says only "couldn't get a connection": when it expires, one direct connection
attempt tells why (refused, unknown database, bad password), which the error then names, as it does
without a pool; if that attempt succeeds the pool was merely exhausted and its timeout is raised as is.
"""

from __future__ import annotations

from typing import Any

import psycopg
from django.db.backends.postgresql import base
from psycopg import Error as PsycopgError
from psycopg_pool import ConnectionPool, PoolTimeout

DIAGNOSIS_CONNECT_TIMEOUT = 2


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        pool = self.pool
        if pool is None:
            return super().get_new_connection(conn_params)
        failure: PsycopgError | None = None
        for _ in range(pool.max_size + 1):
            try:
                connection = super().get_new_connection(conn_params)
            except PoolTimeout as timeout:
                raise _diagnosed(timeout, pool) from None
            try:
                ConnectionPool.check_connection(connection)
            except PsycopgError as error:
                failure = error
                pool.putconn(connection)
                continue
            return connection
        raise failure


def _diagnosed(timeout: PoolTimeout, pool: ConnectionPool) -> PsycopgError:
    conninfo = pool.conninfo if isinstance(pool.conninfo, str) else ""
    kwargs = {**(pool.kwargs if isinstance(pool.kwargs, dict) else {}), "connect_timeout": DIAGNOSIS_CONNECT_TIMEOUT}
    try:
        psycopg.connect(conninfo, **kwargs).close()
    except PsycopgError as error:
        return psycopg.OperationalError(f"{timeout}: {error}".strip())
    return timeout
