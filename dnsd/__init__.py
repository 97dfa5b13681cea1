"""dnsd: a service-discovery DNS server for Docker containers."""

__version__ = "0.1.0"
