"""The live vSphere driver: converges one ``storage.vsphere`` entry through the vCenter API."""

from __future__ import annotations

from attonix.deploy.vsphere.driver import VSphereDriver

__all__ = ["VSphereDriver"]
