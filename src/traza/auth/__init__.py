"""Users, tokens and per-experiment/per-model permissions for ``traza server --app-name basic-auth``.

Nothing here is imported unless auth is turned on: a laptop's ``traza ui`` never pays for it.
"""
