# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""PostgreSQL connection layer.

Options carry community.postgresql's names (login_host, login_user,
login_password, login_port, ssl_mode, ...) so playbooks and module_defaults
read the same; each also falls back to the libpq environment variable of the
managed host (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE, ...).
Documented by the sre.runbooks.postgres doc fragment.

psycopg (3.1 or later) is used when installed, psycopg2 otherwise.
Every statement goes through QueryRecorder, so a module can return the SQL it
ran (C(queries)) and, in check mode, the SQL it would run.
Passwords reach PostgreSQL tools through the environment (pg_env), never argv.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import traceback

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError

psycopg = None
psycopg2 = None
PSYCOPG_IMPORT_ERROR = None
try:
    # psycopg 3.1 added ClientCursor, whose mogrify() we need to report queries.
    import psycopg
    from psycopg import ClientCursor
    from psycopg.rows import dict_row
    DRIVER = "psycopg"
    DRIVER_ERROR = psycopg.Error
except ImportError:
    psycopg = None
    try:
        import psycopg2
        import psycopg2.extras
        DRIVER = "psycopg2"
        DRIVER_ERROR = psycopg2.Error
    except ImportError:
        DRIVER = None
        DRIVER_ERROR = None
        PSYCOPG_IMPORT_ERROR = traceback.format_exc()

# For RunbookModule(required_libs=...): (import name, pip name, import error).
POSTGRES_REQUIRED_LIBS = [("psycopg2", "psycopg2-binary", PSYCOPG_IMPORT_ERROR)]

SSL_MODES = ["allow", "disable", "prefer", "require", "verify-ca", "verify-full"]

# Module option -> libpq connection keyword.
_LIBPQ_KEYWORDS = (
    ("login_host", "host"),
    ("login_port", "port"),
    ("login_user", "user"),
    ("login_password", "password"),
    ("login_db", "dbname"),
    ("ssl_mode", "sslmode"),
    ("ca_cert", "sslrootcert"),
    ("ssl_cert", "sslcert"),
    ("ssl_key", "sslkey"),
)

# libpq connection keyword -> environment variable (PostgreSQL docs, "Environment Variables").
_LIBPQ_ENVIRONMENT = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "dbname": "PGDATABASE",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "passfile": "PGPASSFILE",
    "channel_binding": "PGCHANNELBINDING",
    "service": "PGSERVICE",
    "options": "PGOPTIONS",
    "application_name": "PGAPPNAME",
    "sslmode": "PGSSLMODE",
    "requiressl": "PGREQUIRESSL",
    "sslcompression": "PGSSLCOMPRESSION",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcrl": "PGSSLCRL",
    "sslcrldir": "PGSSLCRLDIR",
    "sslsni": "PGSSLSNI",
    "requirepeer": "PGREQUIREPEER",
    "ssl_min_protocol_version": "PGSSLMINPROTOCOLVERSION",
    "ssl_max_protocol_version": "PGSSLMAXPROTOCOLVERSION",
    "gssencmode": "PGGSSENCMODE",
    "krbsrvname": "PGKRBSRVNAME",
    "gsslib": "PGGSSLIB",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "client_encoding": "PGCLIENTENCODING",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
}


def postgres_argument_spec():
    """Connection options, to merge into a module's argument_spec.

    Names and aliases follow community.postgresql's postgres_common_argument_spec()
    plus login_db; the aliases it deprecates (login, host, unix_socket) are left out.
    An option that is not set falls back to the libpq environment variable, then to the default.
    """
    return dict(
        login_user=dict(type="str", default="postgres", fallback=(env_fallback, ["PGUSER"])),
        login_password=dict(type="str", default="", no_log=True, fallback=(env_fallback, ["PGPASSWORD"])),
        login_host=dict(type="str", default="", fallback=(env_fallback, ["PGHOST"])),
        login_unix_socket=dict(type="str", default=""),
        login_port=dict(type="int", default=5432, aliases=["port"], fallback=(env_fallback, ["PGPORT"])),
        login_db=dict(type="str", aliases=["db"], fallback=(env_fallback, ["PGDATABASE"])),
        ssl_mode=dict(type="str", default="prefer", choices=SSL_MODES, fallback=(env_fallback, ["PGSSLMODE"])),
        ca_cert=dict(type="path", aliases=["ssl_rootcert"], fallback=(env_fallback, ["PGSSLROOTCERT"])),
        ssl_cert=dict(type="path", fallback=(env_fallback, ["PGSSLCERT"])),
        ssl_key=dict(type="path", fallback=(env_fallback, ["PGSSLKEY"])),
        connect_params=dict(type="dict", default={}),
    )


def libpq_params(params):
    """libpq connection keywords for the module options; empty options are left to libpq's defaults."""
    kw = {}
    for option, keyword in _LIBPQ_KEYWORDS:
        value = params.get(option)
        if value is not None and value != "":
            kw[keyword] = value
    # As in community.postgresql: the socket is used when no host (or localhost) is given.
    if params.get("login_unix_socket") and kw.get("host", "localhost") == "localhost":
        kw["host"] = params["login_unix_socket"]
    kw.update(params.get("connect_params") or {})
    return kw


def describe_target(params):
    """'PostgreSQL host:port/db' for messages; never includes the password."""
    kw = libpq_params(params)
    host = kw.get("host") or os.environ.get("PGHOST") or "local socket"
    target = "PostgreSQL {0}:{1}".format(host, kw.get("port", 5432))
    if kw.get("dbname"):
        target += "/{0}".format(kw["dbname"])
    return target


def _redact(text, secret):
    text = to_text(text)
    if secret:
        text = text.replace(to_text(secret), "********")
    return text


def connect(module_or_params):
    """Open an autocommit connection from a module (or its params dict).

    Raises RunbookError("connect to", "PostgreSQL host:port/db", cause).
    """
    params = getattr(module_or_params, "params", module_or_params)
    target = describe_target(params)
    if DRIVER is None:
        raise RunbookError("import", "the psycopg2 Python library", "it is not installed; install it with 'pip install psycopg2-binary'")
    kw = libpq_params(params)
    try:
        if DRIVER == "psycopg":
            return psycopg.connect(autocommit=True, cursor_factory=ClientCursor, row_factory=dict_row, **kw)
        conn = psycopg2.connect(**kw)
        conn.autocommit = True
        return conn
    except DRIVER_ERROR as error:
        # from None: the driver's exception is not chained, so no trace of the DSN can leak.
        raise RunbookError("connect to", target, _redact(error, kw.get("password"))) from None


class QueryRecorder:
    """Run SQL on a connection and record each statement as sent, for the C(queries) result.

    read() always runs: reading is safe in check mode.
    write() runs only outside check mode; in check mode it records the SQL it would run.
    """

    def __init__(self, conn, target="PostgreSQL", check_mode=False):
        self.conn = conn
        self.target = target
        self.check_mode = check_mode
        self.queries = []

    def _cursor(self):
        if DRIVER == "psycopg2":
            return self.conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor)
        return self.conn.cursor()

    @staticmethod
    def _render(cursor, sql, params):
        if params is None:
            return sql
        return to_text(cursor.mogrify(sql, params))

    def _run(self, sql, params, fetch):
        cursor = self._cursor()
        text = sql
        try:
            text = self._render(cursor, sql, params)
            self.queries.append(text)
            if fetch or not self.check_mode:
                cursor.execute(sql, params)
            if fetch:
                return [dict(row) for row in cursor.fetchall()]
            return None if self.check_mode else cursor.rowcount
        except DRIVER_ERROR as error:
            raise RunbookError("run query on", self.target, error, query=text) from error
        finally:
            cursor.close()

    def read(self, sql, params=None):
        """Run a query and return its rows as dicts."""
        return self._run(sql, params, fetch=True)

    def write(self, sql, params=None):
        """Run a statement and return its rowcount; in check mode only record it and return None."""
        return self._run(sql, params, fetch=False)


def pg_env(params):
    """Environment for PostgreSQL client tools (pg_dump, psql, ...) equivalent to the connection options.

    Merge it into the tool's environment (run_command(environ_update=...)):
    the password travels as PGPASSWORD, never on a command line.
    Raises RunbookError for a connect_params key libpq cannot read from the environment.
    """
    env = {}
    for keyword, value in libpq_params(params).items():
        name = _LIBPQ_ENVIRONMENT.get(keyword)
        if name is None:
            raise RunbookError("pass", "connect_params key {0} to PostgreSQL tools".format(keyword),
                               "libpq has no environment variable for it")
        env[name] = to_text(value)
    return env
