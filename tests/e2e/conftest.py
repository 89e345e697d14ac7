"""Shared pytest fixtures for the end-to-end tests (see roost.py)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import roost  # noqa: E402


@pytest.fixture
def make_instance(tmp_path):
    """Factory: make_instance(extra_config="...", start=True) -> roost.Instance.
    Every instance made is stopped and checked for sanitizer reports."""
    made = []

    def factory(extra_config="", start=True, **kw):
        sub = tmp_path / f"inst{len(made)}"
        inst = roost.Instance(sub, extra_config=extra_config, **kw)
        made.append(inst)
        if start:
            inst.start()
        return inst

    yield factory
    errors = []
    for inst in made:
        try:
            inst.stop()
        except Exception as e:  # keep stopping the others
            errors.append(str(e))
        try:
            inst.check_sanitizers()
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n".join(errors))


@pytest.fixture
def instance(make_instance):
    """A started instance with default config."""
    return make_instance()
