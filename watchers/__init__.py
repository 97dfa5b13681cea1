"""Watchers: async producers of registry events (Docker engine, records files).

A watcher yields `registry` events; a `Supervisor` runs it, applies its events
to the store, and restarts it with capped backoff when it fails. Imports only
`registry`.
"""
