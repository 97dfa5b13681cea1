"""One Swarm service as dnsd sees it: its name forms, modes and ports.

Pure: a service from the manager's `/services` listing in, a frozen
`ServiceView` out, shared by every endpoint the service yields (VIP, tasks,
published ports). No I/O, no logging.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from registry import NameClaim, Origin, Port
from watchers.docker_translate import LABEL_NAME, _label_key, _label_port, _relative_key

Json = Mapping[str, Any]

STACK_LABEL = "com.docker.stack.namespace"


@dataclass(frozen=True, slots=True)
class ServiceView:
    """What every endpoint of one service shares: names, mode, ports."""

    id: str
    full: str
    short: str
    stack: str
    mode: str
    endpoint_mode: str
    labels: Mapping[str, str]
    ports: tuple[Port, ...]
    healthcheck: bool

    @classmethod
    def of(cls, service: Json) -> ServiceView:
        spec = service.get("Spec") or {}
        labels = {str(k): str(v) for k, v in (spec.get("Labels") or {}).items()}
        full = _relative_key(str(spec.get("Name", ""))) or str(service.get("ID", ""))[:12]
        stack = _relative_key(labels.get(STACK_LABEL, ""))
        short = full.removeprefix(f"{stack}_") if stack else full
        endpoint = (spec.get("EndpointSpec") or {}).get("Mode") or "vip"
        mode = "global" if "Global" in (spec.get("Mode") or {}) else "replicated"
        return cls(
            str(service.get("ID", "")),
            full,
            short or full,
            stack,
            mode,
            str(endpoint),
            labels,
            service_ports(service, labels),
            _has_healthcheck(spec),
        )

    @property
    def forms(self) -> tuple[str, ...]:
        """The service's own name, and its name within the stack."""
        return tuple(dict.fromkeys((self.full, self.short)))

    def service_claims(self) -> list[NameClaim]:
        claims = [NameClaim(f, Origin.SWARM_SERVICE) for f in self.forms]
        if self.stack:
            claims.append(NameClaim(f"{self.short}.{self.stack}", Origin.SWARM_STACK_SERVICE))
        for text in self.labels.get(LABEL_NAME, "").split(","):
            key = _label_key(text)
            if key:
                claims.append(NameClaim(key, Origin.LABEL))
        return claims

    def describe(self) -> str:
        return f"{self.mode}, endpoint mode {self.endpoint_mode}"


def service_ports(service: Json, labels: Mapping[str, str]) -> tuple[Port, ...]:
    """`dnsd.port.<name>` labels, then every published port's target port no label names."""
    named = [p for p in (_label_port(k, v) for k, v in labels.items()) if p]
    taken = {(p.port, p.proto) for p in named}
    targets = [p for p in (_port(e, "TargetPort") for e in _endpoint_ports(service)) if p]
    unnamed = {(p.port, p.proto): p for p in targets if (p.port, p.proto) not in taken}
    return tuple(named + sorted(unnamed.values(), key=lambda p: (p.port, p.proto)))


def _endpoint_ports(service: Json) -> list[Json]:
    endpoint = service.get("Endpoint") or {}
    return list(endpoint.get("Ports") or (endpoint.get("Spec") or {}).get("Ports") or ())


def _port(entry: Json, key: str) -> Port | None:
    number = entry.get(key)
    proto = str(entry.get("Protocol") or "tcp").lower()
    if not isinstance(number, int) or not 0 < number < 65536 or proto not in ("tcp", "udp", "sctp"):
        return None
    return Port(number, proto)


def _has_healthcheck(spec: Json) -> bool:
    container = (spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}
    test = (container.get("Healthcheck") or {}).get("Test") or []
    return bool(test) and test[0] != "NONE"
