"""What the SQLite and PostgreSQL stores share: the schema and its migrations, the fenced lease,
the store contract over SQL rows, and blobs kept in a table.

The backends (``persistence/sqlite.py``, ``persistence/postgres.py``) only say how to open a
connection, run one transaction (and, for Postgres, retry it when the server went away) and
spell a few types; everything that decides what is written lives here, once.
"""
