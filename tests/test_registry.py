"""Every registry entry resolves, and unknown names get did-you-mean errors."""

import pytest

from unified_bench.errors import SpecError
from unified_bench.registry import Registry, import_attr


def test_unknown_name_suggests_close_match():
    reg = Registry("widget")
    reg.register("dinov2", "os:path")
    reg.register("dinov3", "os:path")
    with pytest.raises(SpecError) as info:
        reg.get("dinvo2")
    assert "Did you mean 'dinov2'" in str(info.value) and "Available: dinov2, dinov3" in str(info.value)


def test_import_attr_errors():
    with pytest.raises(SpecError):
        import_attr("no_colon_here")
    with pytest.raises(SpecError):
        import_attr("definitely_not_a_module_xyz:thing")
    with pytest.raises(SpecError):
        import_attr("os:not_an_attribute_xyz")


def _all_registries():
    from unified_bench.metrics.encoders.loader import ENCODERS
    from unified_bench.models.loader import ARCHITECTURES
    from unified_bench.tasks import TASKS

    return [TASKS, ENCODERS, ARCHITECTURES]


def test_every_registry_entry_resolves():
    for reg in _all_registries():
        assert reg.names(), reg.kind
        for name in reg:
            assert reg.get(name) is not None, (reg.kind, name)
