"""Placement of anti-affinity groups: one VM per host, decided before apply."""

from __future__ import annotations

import pytest

from attonix.deploy.vsphere.placement import (
    PlacementImpossible,
    assign,
    describe_shared,
    shared_hosts,
)

HOSTS = ["h0", "h1", "h2"]


def test_new_vms_spread_over_hosts_in_order() -> None:
    got = assign(["vm-1", "vm-2", "vm-3"], observed={}, hosts=HOSTS, group="g", cluster="c")
    assert got == {"vm-1": "h0", "vm-2": "h1", "vm-3": "h2"}


def test_vms_keep_their_host_and_only_the_second_on_a_shared_host_moves() -> None:
    observed = {"vm-1": "h2", "vm-2": "h2", "vm-3": "h0"}
    got = assign(["vm-1", "vm-2", "vm-3"], observed=observed, hosts=HOSTS, group="g", cluster="c")
    assert got == {"vm-1": "h2", "vm-2": "h1", "vm-3": "h0"}


def test_a_vm_on_an_unusable_host_moves_and_new_vms_avoid_used_hosts() -> None:
    observed = {"vm-1": "h-maintenance", "vm-2": "h0"}
    got = assign(["vm-1", "vm-2", "vm-3"], observed=observed, hosts=HOSTS, group="g", cluster="c")
    assert got == {"vm-1": "h1", "vm-2": "h0", "vm-3": "h2"}
    assert not shared_hosts(got)


def test_more_vms_than_hosts_is_refused_naming_group_and_cluster() -> None:
    with pytest.raises(PlacementImpossible) as err:
        assign(["a", "b", "c", "d"], observed={}, hosts=HOSTS, group="erp", cluster="C0")
    assert err.value.message == (
        "VM group 'erp' has 4 VMs and a mandatory anti-affinity rule, but cluster 'C0' has 3 "
        "usable host(s) (h0, h1, h2)"
    )
    assert "maintenance" in err.value.hint


def test_shared_hosts_are_named() -> None:
    shared = shared_hosts({"a": "h0", "b": "h0", "c": "h1", "d": None})
    assert shared == {"h0": ["a", "b"]}
    assert describe_shared("rule-x", shared) == (
        "mandatory anti-affinity rule rule-x is broken: a and b run on h0"
    )
