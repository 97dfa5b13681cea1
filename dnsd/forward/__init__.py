"""Forwarding: answers for names dnsd is not authoritative for, from upstream resolvers.

`Forwarder` implements the pipeline's ForwardHandler seam (`dnsd.serve.pipeline`);
`default_upstreams` and `default_allow` give the defaults the composition root needs.
"""

from dnsd.forward.acl import default_allow
from dnsd.forward.forwarder import Forwarder
from dnsd.forward.resolvconf import default_upstreams, read_resolv_conf

__all__ = ["Forwarder", "default_allow", "default_upstreams", "read_resolv_conf"]
