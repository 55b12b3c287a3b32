"""Every endpoint of MLflow's REST API that Traza serves is routed, read from MLflow's own protos.

Each RPC of ``mlflow.protos`` carries its HTTP endpoints (method, path, API major version) in
the ``databricks_pb2.rpc`` option. The tracking RPCs in scope, every logged-model RPC, every
model-registry RPC and every artifact-proxy RPC must appear in ``traza.server.routes``; the rest
of ``MlflowService`` is listed below, by name, as deliberately out of scope.
"""

from __future__ import annotations

import http.client
import json
import re
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from google.protobuf.descriptor import ServiceDescriptor
from mlflow.protos import databricks_pb2, mlflow_artifacts_pb2, model_registry_pb2, service_pb2

from traza._version import __version__
from traza.server.routes import UI, V3, all_routes

from .live import Live, live_server

#: MlflowService RPCs Traza does not serve: GenAI and platform features beyond classic
#: tracking and logged models. Each name must exist in the proto (checked below), so an RPC
#: MLflow renames or removes cannot linger here, and one MLflow adds fails until it is routed
#: or listed.
OUT_OF_SCOPE = frozenset(
    {
        # Traces (v2 and v3 APIs) and their tags.
        "setTraceTag",
        "setTraceTagV3",
        "deleteTraceTag",
        "deleteTraceTagV3",
        "startTrace",
        "startTraceV3",
        "endTrace",
        "getTraceInfo",
        "getTraceInfoV3",
        "getTrace",
        "batchGetTraces",
        "batchGetTraceInfos",
        "searchTraces",
        "searchTracesV3",
        "searchUnifiedTraceHandler",
        "getOnlineTraceDetails",
        "deleteTraces",
        "deleteTracesV3",
        "calculateTraceFilterCorrelation",
        "queryTraceMetrics",
        "linkTracesToRun",
        "linkPromptsToTrace",
        # Assessments on traces.
        "GetAssessment",
        "createAssessment",
        "updateAssessment",
        "deleteAssessment",
        # Issues and label schemas (GenAI review).
        "createIssue",
        "updateIssue",
        "getIssue",
        "searchIssues",
        "createLabelSchema",
        "getLabelSchema",
        "getLabelSchemaByName",
        "listLabelSchemas",
        "updateLabelSchema",
        "deleteLabelSchema",
        # Review queues.
        "createReviewQueue",
        "getOrCreateUserQueue",
        "getReviewQueue",
        "getReviewQueueByName",
        "listReviewQueues",
        "updateReviewQueue",
        "deleteReviewQueue",
        "addItemsToReviewQueue",
        "removeItemsFromReviewQueue",
        "listReviewQueueItems",
        "setReviewQueueItemStatus",
        # Evaluation datasets (not the run inputs of log-inputs/search-datasets, which are served).
        "createDataset",
        "getDataset",
        "deleteDataset",
        "searchEvaluationDatasets",
        "setDatasetTags",
        "deleteDatasetTag",
        "upsertDatasetRecords",
        "getDatasetExperimentIds",
        "getDatasetRecords",
        "deleteDatasetRecords",
        "addDatasetToExperiments",
        "removeDatasetFromExperiments",
        # Scorers.
        "registerScorer",
        "listScorers",
        "listScorerVersions",
        "getScorer",
        "deleteScorer",
        # Workspaces (multi-tenancy).
        "listWorkspaces",
        "createWorkspace",
        "getWorkspace",
        "updateWorkspace",
        "deleteWorkspace",
        # AI gateway: secrets, endpoints, model definitions, bindings, budgets, guardrails.
        "createGatewaySecret",
        "getGatewaySecretInfo",
        "updateGatewaySecret",
        "deleteGatewaySecret",
        "listGatewaySecretInfos",
        "createGatewayEndpoint",
        "getGatewayEndpoint",
        "updateGatewayEndpoint",
        "deleteGatewayEndpoint",
        "listGatewayEndpoints",
        "createGatewayModelDefinition",
        "getGatewayModelDefinition",
        "listGatewayModelDefinitions",
        "updateGatewayModelDefinition",
        "deleteGatewayModelDefinition",
        "attachModelToEndpoint",
        "detachModelFromEndpoint",
        "createEndpointBinding",
        "deleteEndpointBinding",
        "listEndpointBindings",
        "setGatewayEndpointTag",
        "deleteGatewayEndpointTag",
        "createBudgetPolicy",
        "getBudgetPolicy",
        "updateBudgetPolicy",
        "deleteBudgetPolicy",
        "listBudgetPolicies",
        "listBudgetWindows",
        "createGatewayGuardrail",
        "getGatewayGuardrail",
        "deleteGatewayGuardrail",
        "listGatewayGuardrails",
        "addGuardrailToEndpoint",
        "removeGuardrailFromEndpoint",
        "listEndpointGuardrailConfigs",
        "updateEndpointGuardrailConfig",
        # Prompt-optimization jobs.
        "createPromptOptimizationJob",
        "getPromptOptimizationJob",
        "searchPromptOptimizationJobs",
        "cancelPromptOptimizationJob",
        "deletePromptOptimizationJob",
    }
)

#: RPCs that must be routed even if a future edit put them in OUT_OF_SCOPE by mistake.
CORE = frozenset(
    {
        "createExperiment",
        "searchRuns",
        "logBatch",
        "getMetricHistory",
        "listArtifacts",
        "createLoggedModel",
        "searchLoggedModels",
    }
)

TRACKING = service_pb2.DESCRIPTOR.services_by_name["MlflowService"]
REGISTRY = model_registry_pb2.DESCRIPTOR.services_by_name["ModelRegistryService"]
ARTIFACTS = mlflow_artifacts_pb2.DESCRIPTOR.services_by_name["MlflowArtifactsService"]

Endpoint = tuple[str, str]  # (HTTP method, full path template in canonical form)


def canonical(path: str) -> str:
    """One spelling for path templates: ``{}`` for a segment, ``<rest>`` for the rest."""
    path = "/" + path.lstrip("/")  # searchDatasets is declared without its leading slash
    path = re.sub(r"<path:\w+>", "<rest>", path)
    path = re.sub(r"\{\w+:path\}", "<rest>", path)
    return re.sub(r"\{[\w.]+\}", "{}", path)


def proto_endpoints(service: ServiceDescriptor, rpc: str) -> list[Endpoint]:
    """The endpoints MLflow's server registers for ``rpc``: under /api and /ajax-api."""
    options = service.methods_by_name[rpc].GetOptions().Extensions[databricks_pb2.rpc]
    out = []
    for endpoint in options.endpoints:
        for api in ("api", "ajax-api"):
            path = f"/{api}/{endpoint.since.major}.0{canonical(endpoint.path)}"
            out.append((endpoint.method, path))
    assert out, f"{service.name}.{rpc} declares no endpoint"
    return out


def traza_endpoints() -> set[Endpoint]:
    routed = {
        (route.method, f"{prefix}{canonical(route.path)}")
        for route in all_routes()
        for prefix in route.prefixes
    }
    # The app answers server-info itself, beside the table.
    return routed | {("GET", f"{api}/mlflow/server-info") for api in V3}


def auth_endpoints() -> set[Endpoint]:
    """The paths of MLflow's basic-auth app (``mlflow.server.auth.routes``) that Traza serves,
    and the permission endpoints of its 2.x-3.x releases (before 3.17's roles replaced them)."""
    from mlflow.server.auth import routes

    paths = {v for k, v in vars(routes).items() if k.isupper() and isinstance(v, str)}
    legacy = {
        f"/{api}/2.0/mlflow/{kind}/permissions/{verb}"
        for api in ("api", "ajax-api")
        for kind in ("experiments", "registered-models")
        for verb in ("create", "get", "update", "delete")
    }
    return {e for e in traza_endpoints() if e[1] in paths | legacy}


def in_scope() -> list[tuple[ServiceDescriptor, str]]:
    rpcs = [(TRACKING, m.name) for m in TRACKING.methods if m.name not in OUT_OF_SCOPE]
    rpcs += [(REGISTRY, m.name) for m in REGISTRY.methods]
    return rpcs + [(ARTIFACTS, m.name) for m in ARTIFACTS.methods]


IN_SCOPE = in_scope()


def test_out_of_scope_list_names_real_rpcs() -> None:
    names = {m.name for m in TRACKING.methods}
    assert sorted(OUT_OF_SCOPE - names) == [], "listed as out of scope, but not in the proto"
    assert sorted(OUT_OF_SCOPE & CORE) == []
    assert names >= CORE


def test_out_of_scope_rpcs_are_not_routed() -> None:
    """Once one is served, it leaves the list (and the test above then holds it to the proto)."""
    routed = traza_endpoints()
    served = [rpc for rpc in sorted(OUT_OF_SCOPE) if set(proto_endpoints(TRACKING, rpc)) & routed]
    assert served == []


def test_routes_are_unique() -> None:
    """One handler per method and path: a second entry would silently replace the first."""
    seen: dict[Endpoint, str] = {}
    duplicates = []
    for route in all_routes():
        for prefix in route.prefixes:
            key = (route.method, f"{prefix}{canonical(route.path)}")
            if key in seen:
                duplicates.append((*key, seen[key], route.handler.__name__))
            seen[key] = route.handler.__name__
    assert duplicates == []


@pytest.mark.parametrize(
    ("service", "rpc"), IN_SCOPE, ids=[f"{s.name}.{rpc}" for s, rpc in IN_SCOPE]
)
def test_rpc_is_routed(service: ServiceDescriptor, rpc: str) -> None:
    missing = sorted(set(proto_endpoints(service, rpc)) - traza_endpoints())
    assert missing == [], f"{service.name}.{rpc} is not routed by traza.server.routes"


def test_every_route_is_an_mlflow_endpoint() -> None:
    """The reverse: the table holds no path MLflow does not serve (a typo would hide there)."""
    declared = {
        endpoint
        for service in (TRACKING, REGISTRY, ARTIFACTS)
        for method in service.methods
        for endpoint in proto_endpoints(service, method.name)
    }
    # MLflow's server adds server-info beside its protos, under the 3.0 API only.
    declared |= {("GET", f"/{api}/3.0/mlflow/server-info") for api in ("api", "ajax-api")}
    # MLflow's UI reads files from /get-artifact (a Flask route beside its protos); the web UI's
    # own endpoints live under Traza's namespace, where MLflow has nothing.
    declared.add(("GET", "/get-artifact"))
    # and a logged model's files from this one (a Flask route too, under the UI's prefix only).
    declared.add(("GET", "/ajax-api/2.0/mlflow/logged-models/{}/artifacts/files"))
    declared |= auth_endpoints()
    own = {e for e in traza_endpoints() if e[1].startswith(tuple(f"{p}/" for p in UI))}
    assert sorted(traza_endpoints() - declared - own) == []


# -- the same, over a live server ------------------------------------------------------------
@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("routes")
    with live_server(f"sqlite:///{root / 'tracking.db'}", root) as served:
        yield served


def request(live: Live, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(urllib.parse.urlparse(live.url).netloc, timeout=20)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_live_server_answers_every_endpoint(live: Live) -> None:
    """Each endpoint reaches a handler: whatever it answers, it is not 'no such endpoint'."""
    unrouted = []
    for service, rpc in IN_SCOPE:
        for method, template in proto_endpoints(service, rpc):
            path = template.replace("<rest>", "probe/file.txt").replace("{}", "probe")
            body = None if method == "GET" else b"{}"
            status, reply = request(live, method, path, body)
            error: dict[str, Any] = json.loads(reply) if status >= 400 else {}
            if status == 405 or error.get("error_code") == "ENDPOINT_NOT_FOUND":
                unrouted.append((method, path, status, reply[:120]))
    assert unrouted == []


def test_live_registry_is_served(live: Live) -> None:
    """Every registry endpoint answers from the store: a reply or a client error, never 501."""
    endpoints = sorted({e for m in REGISTRY.methods for e in proto_endpoints(REGISTRY, m.name)})
    for i, (method, template) in enumerate(endpoints):
        # A model name no other request uses: only create can succeed.
        fields = {"name": f"probe-{i}", "version": "1", "alias": "a", "key": "k"}
        if method == "GET":
            status, reply = request(live, method, f"{template}?{urllib.parse.urlencode(fields)}")
        else:
            status, reply = request(live, method, template, json.dumps(fields).encode())
        code = json.loads(reply).get("error_code")
        if template.endswith(("/registered-models/search", "/model-versions/search")):
            assert (status, code) == (200, None), template
        elif template.endswith("/registered-models/create"):
            assert json.loads(reply)["registered_model"]["name"] == f"probe-{i}"
        else:
            # No such model: RESOURCE_DOES_NOT_EXIST, or a missing field (source, value, ...).
            assert status in (400, 404), (method, template, status, code)
            assert code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"), template


@pytest.mark.parametrize("api", ["/api/2.0", "/ajax-api/2.0"])
def test_registry_round_trip(live: Live, api: str) -> None:
    name = f"routes-{api.strip('/').replace('/', '-')}"
    body = json.dumps({"name": name, "tags": [{"key": "k", "value": "v"}]}).encode()
    status, reply = request(live, "POST", f"{api}/mlflow/registered-models/create", body)
    assert status == 200, reply
    assert json.loads(reply)["registered_model"]["tags"] == [{"key": "k", "value": "v"}]
    version = json.dumps({"name": name, "source": "s3://bucket/model"}).encode()
    status, reply = request(live, "POST", f"{api}/mlflow/model-versions/create", version)
    created = json.loads(reply)["model_version"]
    assert (status, created["version"], created["current_stage"]) == (200, "1", "None")
    query = urllib.parse.urlencode({"name": name, "version": "1"})
    status, reply = request(live, "GET", f"{api}/mlflow/model-versions/get-download-uri?{query}")
    assert (status, json.loads(reply)) == (200, {"artifact_uri": "s3://bucket/model"})


def test_health(live: Live) -> None:
    assert request(live, "GET", "/health") == (200, b"OK")


def test_version(live: Live) -> None:
    assert request(live, "GET", "/version") == (200, __version__.encode())


@pytest.mark.parametrize("api", ["/api/3.0", "/ajax-api/3.0"])
def test_server_info(live: Live, api: str) -> None:
    status, body = request(live, "GET", f"{api}/mlflow/server-info")
    assert status == 200
    info = json.loads(body)
    assert info["store_type"] == "SqlStore"
    # The fields MLflow 3.17's server sends (and its client reads), with their types.
    assert {k: type(v) for k, v in info.items()} == {
        "store_type": str,
        "workspaces_enabled": bool,
        "trace_archival_enabled": bool,
        "multipart_uploads_enabled": bool,
        "multipart_downloads_enabled": bool,
        "presigned_upload_run_id_supported": bool,
        "presigned_upload_model_id_supported": bool,
        "features_enabled": dict,
    }
    # A local destination: no multipart uploads, and no presigned URLs.
    assert info["multipart_uploads_enabled"] is False
    assert info["multipart_downloads_enabled"] is False
