"""``Store.ingest`` over HTTP: a Traza server's ``POST /api/traza/v1/ingest`` (see
:mod:`traza.server.ingest`). MLflow servers do not have it; syncing into one is refused, naming
why."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from traza.exceptions import ENDPOINT_NOT_FOUND, RESOURCE_DOES_NOT_EXIST, TrazaException

if TYPE_CHECKING:
    from traza.http import HttpClient
    from traza.transfer.records import IngestBatch, IngestResult

INGEST_PATH = "/api/traza/v1/ingest"


class RestIngest:
    """The ingest part of :class:`~traza.store.rest.RestStore`."""

    http: HttpClient
    tracking_uri: str

    def ingest(self, batch: IngestBatch) -> IngestResult:
        from traza.transfer.records import IngestResult

        try:
            response: Any = self.http.request(
                "POST", INGEST_PATH, json_body=orjson.dumps(batch.to_wire())
            )
        except TrazaException as e:
            if e.error_code in (ENDPOINT_NOT_FOUND, RESOURCE_DOES_NOT_EXIST):
                raise TrazaException(
                    f"{self.tracking_uri} does not take Traza's ingest requests (it is not a "
                    "traza server, or an older one): MLflow's REST API cannot keep run ids. "
                    "Sync into a Traza server, or into its backend store directly.",
                    error_code="NOT_IMPLEMENTED",
                ) from None
            raise
        return IngestResult.from_wire(orjson.loads(response.data))
