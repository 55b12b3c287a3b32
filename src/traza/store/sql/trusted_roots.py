"""Artifact roots recorded in the store by an operator's ``traza import``/``traza sync``.

A server reads and writes artifacts only under trusted roots: those it was started with and
these. Only code running against the store itself records one (never a request over HTTP), so
imported runs keep showing their artifacts where they lie.
"""

from __future__ import annotations

from traza.store.sql.db import Database
from traza.store.sql.util import now_ms


class SqlTrustedRoots:
    """The trusted-roots half of :class:`~traza.store.sql.store.SqlStore`."""

    db: Database

    def trusted_artifact_roots(self) -> list[str]:
        """The recorded roots (normalised URIs: ``file:///abs``, ``s3://bucket/prefix``)."""
        with self.db.read() as cur:
            cur.execute("SELECT root FROM trusted_artifact_roots ORDER BY root")
            return [row[0] for row in cur.fetchall()]

    def record_trusted_artifact_root(self, root: str, recorded_by: str) -> None:
        """Trust ``root`` from now on (idempotent); ``recorded_by`` says which command did."""
        with self.db.write() as cur:
            cur.execute(
                "INSERT INTO trusted_artifact_roots (root, recorded_by, created_time) "
                "VALUES (?, ?, ?) ON CONFLICT (root) DO NOTHING",
                (root, recorded_by, now_ms()),
            )
