"""Ceph on hosts (the alternative to Rook): the ``ceph`` target.

``attonix plan | apply | status | destroy -t ceph`` converges a ``storage.ceph`` cluster in
mode ``hosts`` — which already runs — towards the blueprint: CRUSH rules per failure domain,
pools (size, min_size, rule, application, quota), RBD images for service volumes on block
pools, a CephFS per filesystem pool with a subvolume group per service and a subvolume per
volume, per service a cephx key limited to its pools, paths and namespaces, gateway users and
buckets with quotas. The cluster is
reached through the ``ceph:`` section of the connections file. See :mod:`.driver`.
"""

from __future__ import annotations

from attonix.deploy.ceph.driver import CephDriver

__all__ = ["CephDriver"]
