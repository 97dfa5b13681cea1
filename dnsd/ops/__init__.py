"""Operations: the HTTP API, Prometheus rendering, metrics, server state and logging.

Reads what the server does; never answers DNS.
"""
