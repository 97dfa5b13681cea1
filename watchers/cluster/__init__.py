"""Multi-host mode: every dnsd publishes its endpoints to etcd v3 and follows the others'.

Needs the optional extra `dnsd[cluster]` (the aetcd client); nothing else imports it.
"""

from watchers.cluster.member import ClusterMember, ClusterSettings

__all__ = ["ClusterMember", "ClusterSettings"]
