"""The controller's own refusal of CRs it can never serve (first observation), rule by rule."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from continuum.errors import InvalidSpec
from continuum.messages.crd import Continuum, decode_continuum
from continuum.supervisor.serving import ServingFacts, check_serving
from continuum.wiring.witness import WitnessOptions
from tests.kube.conftest import FIXTURES, REGION_A, REGION_B


def _cr(**spec: Any) -> Continuum:
    obj = yaml.safe_load((FIXTURES / "continuum-cnpg-pair.yaml").read_text())
    obj["spec"].update(spec)
    return decode_continuum(obj)


def _facts(**overrides: Any) -> ServingFacts:
    values: dict[str, Any] = {
        "witness": WitnessOptions(kubeconfig="/etc/kubeconfig"),
        "context_regions": (REGION_A, REGION_B),
    }
    values.update(overrides)
    return ServingFacts(**values)


def _field(cr: Continuum, facts: ServingFacts) -> str:
    with pytest.raises(InvalidSpec) as caught:
        check_serving(cr, facts)
    return caught.value.field


def test_a_servable_cr_passes() -> None:
    check_serving(_cr(), _facts())


def test_a_region_without_a_kubeconfig_context_is_named() -> None:
    assert _field(_cr(), _facts(context_regions=(REGION_A,))) == "spec.hotStandbyRegions[0]"
    assert _field(_cr(), _facts(context_regions=(REGION_B,))) == "spec.primaryRegion"


def test_on_the_in_cluster_config_the_contexts_are_not_judged() -> None:
    check_serving(_cr(), _facts(context_regions=None))


def test_witness_kinds_the_process_cannot_open_are_named() -> None:
    assert _field(_cr(leaseClient={"kind": "in-memory"}), _facts()) == "spec.leaseClient.kind"
    nats = _cr(leaseClient={"kind": "nats-kv"})
    assert _field(nats, _facts()) == "spec.leaseClient.config.url"
    with_url = WitnessOptions(nats_url="nats://127.0.0.1:4222")
    check_serving(nats, _facts(witness=with_url))
    no_kubeconfig = WitnessOptions()
    assert _field(_cr(), _facts(witness=no_kubeconfig)) == "spec.leaseClient.config.context"


def test_lua_records_without_a_dns_writer_are_named() -> None:
    assert _field(_cr(), _facts(dns_writer=False)) == "spec.luaRecord"
