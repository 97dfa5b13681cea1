"""`dnsd host-dns`: make the host's own resolver send names under the zone to dnsd.

`host` reads the host's resolver files under a root directory, `resolved` applies
per-link settings with resolvectl through an injected runner, `advice` words the
explanations, `command` is the CLI. See README "Resolving container names on the host".
"""

from dnsd.hostdns.command import add_host_dns_command, host_dns

__all__ = ["add_host_dns_command", "host_dns"]
