"""One SQL store over SQLite (embedded) and, later, PostgreSQL; dialects differ only in details."""
