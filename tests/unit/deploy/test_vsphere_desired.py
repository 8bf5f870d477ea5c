"""The vSphere driver's typed desired state: guest data from the cloud-init target."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from attonix.blueprint.loader import load_file
from attonix.deploy.vsphere.desired import digest, with_guest_data
from attonix.render.registry import render
from attonix.render.vsphere import state


def test_a_vm_named_like_a_host_carries_its_cloud_init_and_the_others_only_a_name(
    example_path: Path,
) -> None:
    bp = load_file(example_path).blueprint
    host = bp.hosts[0].model_copy(update={"name": "legacy-erp-01"})
    bp = bp.model_copy(update={"hosts": [*bp.hosts, host]})
    want = with_guest_data(bp, state(bp, bp.storage.vsphere[0]))
    first, second = want.vms
    rendered = {a.path: a.text() for a in render(bp, "cloud-init")}
    info = first.guestinfo()
    assert (
        base64.b64decode(info["guestinfo.userdata"]).decode()
        == rendered["cloud-init/legacy-erp-01/user-data"]
    )
    assert info["guestinfo.userdata.encoding"] == info["guestinfo.metadata.encoding"] == "base64"
    assert json.loads(base64.b64decode(info["guestinfo.metadata"])) == {
        "instance-id": "attonixcorp-legacy-erp-01",
        "local-hostname": "legacy-erp-01",
    }
    # No host of that name: meta-data naming the VM, and user data cleared (an empty value
    # removes a key vSphere holds from earlier).
    other = second.guestinfo()
    assert other["guestinfo.userdata"] == "" and other["guestinfo.userdata.encoding"] == ""
    assert json.loads(base64.b64decode(other["guestinfo.metadata"]))["local-hostname"] == (
        "legacy-erp-02"
    )
    # Plans compare digests, never the text.
    view = first.view()["guestinfo"]
    assert view == {
        "userdata": digest(info["guestinfo.userdata"]),
        "metadata": digest(info["guestinfo.metadata"]),
    }
    assert second.view()["guestinfo"]["userdata"] is None
    assert want.group("legacy-erp").spread
