# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The source of truth of a vector index: embeddings in a PostgreSQL table.

The table, its id column, its vector column (a pgvector C(vector) or a float
array) and optional payload columns are configurable. Rows are read in batches
through a server-side cursor inside one REPEATABLE READ READ ONLY transaction,
so the count and the rows exported come from one snapshot and the table never
sits in memory whole.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.postgres.connection import DRIVER, DRIVER_ERROR

VECTOR_TYPES = ("vector",)
FLOAT_ARRAY_TYPES = ("real[]", "double precision[]", "numeric[]")
_TYPMOD_RE = re.compile(r"^vector\((\d+)\)$")


def quote_ident(name):
    """An SQL identifier, always double-quoted (a name from the options is never trusted as SQL)."""
    return '"' + name.replace('"', '""') + '"'


def split_table(name):
    """('schema' or None, 'table') from 'schema.table' or 'table'; names are taken as written (no case folding)."""
    parts = name.split(".")
    if len(parts) == 1 and parts[0]:
        return None, parts[0]
    if len(parts) == 2 and all(parts):
        return parts[0], parts[1]
    raise ValueError("table must be 'table' or 'schema.table', got {0!r}".format(name))


def qualified(schema, name):
    return "{0}.{1}".format(quote_ident(schema), quote_ident(name)) if schema else quote_ident(name)


def column_kind(type_name):
    """'vector' for a pgvector column (any dimension), 'array' for a float array, None otherwise."""
    base = _TYPMOD_RE.sub("vector", type_name or "")
    if base in VECTOR_TYPES:
        return "vector"
    if type_name in FLOAT_ARRAY_TYPES:
        return "array"
    return None


def declared_dimensions(type_name):
    """The dimension of a vector(n) column, or None (float arrays and vector without typmod)."""
    match = _TYPMOD_RE.match(type_name or "")
    return int(match.group(1)) if match else None


COLUMNS_SQL = (
    "SELECT n.nspname AS schema, c.relname AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type"
    " FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid JOIN pg_namespace AS n ON n.oid = c.relnamespace"
    " WHERE c.oid = to_regclass(%(table)s) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
)


class VectorSource:
    """A table of embeddings: describe it, count it, sample it and stream it."""

    def __init__(self, db, table, id_column, vector_column, payload_columns=()):
        self.db = db
        self.table = table
        self.id_column = id_column
        self.vector_column = vector_column
        self.payload_columns = list(payload_columns or [])
        self.schema = None
        self.name = None
        self.kind = None
        self.dimensions = None
        self.types = {}

    @property
    def sql_table(self):
        return qualified(self.schema, self.name)

    @property
    def vector_sql(self):
        """The vector column as real[] (pgvector casts vector to real[]), which psycopg reads as a list of floats."""
        return "{0}::real[]".format(quote_ident(self.vector_column))

    def describe(self):
        """Read the table's columns; refuse a table or column that is missing or of the wrong type."""
        schema, name = split_table(self.table)
        regclass = qualified(schema, name)
        rows = self.db.read(COLUMNS_SQL, dict(table=regclass))
        if not rows:
            raise RunbookError("read", "table {0}".format(self.table), "it does not exist (or the login role cannot see it)")
        self.schema, self.name = rows[0]["schema"], rows[0]["table"]
        self.types = dict((row["column"], row["type"]) for row in rows)
        for column in [self.id_column, self.vector_column] + self.payload_columns:
            if column not in self.types:
                raise RunbookError("read", "column {0} of table {1}".format(column, self.table), "it does not exist")
        self.kind = column_kind(self.types[self.vector_column])
        if self.kind is None:
            raise RunbookError(
                "read", "vector column {0} of table {1}".format(self.vector_column, self.table),
                "its type is {0}; a pgvector vector or a real/double precision array is needed".format(self.types[self.vector_column]))
        self.dimensions = declared_dimensions(self.types[self.vector_column])
        return dict(table="{0}.{1}".format(self.schema, self.name), id_column=self.id_column, vector_column=self.vector_column,
                    vector_type=self.types[self.vector_column], payload_columns=self.payload_columns)

    def count_sql(self):
        return "SELECT count(*) AS rows FROM {0} WHERE {1} IS NOT NULL".format(self.sql_table, quote_ident(self.vector_column))

    def count(self):
        return int(self.db.read(self.count_sql())[0]["rows"])

    def sample_sql(self):
        # md5 of the id: the same sample on every run, so a rerun verifies what the first run verified.
        return "SELECT {0} AS id, {1} AS vector FROM {2} WHERE {3} IS NOT NULL ORDER BY md5({0}::text) LIMIT %(limit)s".format(
            quote_ident(self.id_column), self.vector_sql, self.sql_table, quote_ident(self.vector_column))

    def sample(self, limit):
        """[(id, vector)] of `limit` rows chosen by a hash of their id; also sets dimensions from them when unknown."""
        rows = self.db.read(self.sample_sql(), dict(limit=limit))
        sample = [(row["id"], [float(x) for x in row["vector"]]) for row in rows]
        if self.dimensions is None and sample:
            self.dimensions = len(sample[0][1])
        return sample

    def export_sql(self):
        columns = [quote_ident(self.id_column), self.vector_sql] + [quote_ident(c) for c in self.payload_columns]
        return "SELECT {0} FROM {1} WHERE {2} IS NOT NULL".format(", ".join(columns), self.sql_table, quote_ident(self.vector_column))

    def stream(self, batch_size, on_count=None):
        """Yield batches [(id, vector, payload dict)] of every row with a vector, from one snapshot.

        on_count(rows), when given, is called first with the number of rows the snapshot holds.
        The connection is switched out of autocommit for the transaction and back afterwards.
        """
        conn = self.db.conn
        sql = self.export_sql()
        self.db.queries.append(sql)
        was_autocommit = conn.autocommit
        conn.autocommit = False
        cursor = None
        try:
            with conn.cursor() as plain:
                plain.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                if on_count is not None:
                    plain.execute(self.count_sql())
                    row = plain.fetchone()
                    on_count(int(row["rows"] if isinstance(row, dict) else row[0]))
            cursor = conn.cursor(name="sre_runbooks_vector_export")
            if DRIVER == "psycopg2":
                cursor.itersize = batch_size
            cursor.execute(sql)
            width = 2 + len(self.payload_columns)
            while True:
                rows = cursor.fetchmany(batch_size)
                if not rows:
                    break
                batch = []
                for row in rows:
                    values = list(row.values()) if isinstance(row, dict) else list(row)
                    if len(values) != width:
                        raise RunbookError("read", "table {0}".format(self.table), "unexpected row shape")
                    batch.append((values[0], values[1], dict(zip(self.payload_columns, values[2:]))))
                yield batch
        except DRIVER_ERROR as error:
            raise RunbookError("export rows of", "table {0}".format(self.table), error, query=sql) from error
        finally:
            if cursor is not None:
                try:
                    cursor.close()
                except DRIVER_ERROR:
                    pass
            conn.rollback()
            conn.autocommit = was_autocommit
