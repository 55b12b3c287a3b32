"""Users, tokens and per-experiment/per-model permissions (``traza server --app-name basic-auth``).

Nothing here is imported unless auth is turned on: a laptop's ``traza ui`` never pays for it.
The tables are listed in :mod:`traza.auth.store`; the request's caller is a
:class:`traza.auth.principal.Principal` in the ASGI scope.
"""
