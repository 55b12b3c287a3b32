"""The model scoring server behind ``traza models serve`` (MLflow's ``/invocations`` protocol).

``inputs`` parses request bodies, ``outputs`` encodes predictions, ``app`` is the ASGI app,
``metrics`` the Prometheus exposition, ``fastpath`` an identical faster forest ``predict``,
``environment`` builds a model's own environment with uv, ``server`` runs it all.
"""
