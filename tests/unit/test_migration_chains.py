"""Each service's migrations form one chain: parallel branches that each add a revision after the
same parent must be re-chained when they meet, or every start fails with 'multiple heads'."""

from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

ROOT = Path(__file__).resolve().parents[2]
CHAINS = sorted(ROOT.glob("*/src/simpul/*/migrations"))


def test_every_service_has_migrations():
    assert len(CHAINS) == 5, CHAINS


@pytest.mark.parametrize("migrations", CHAINS, ids=lambda path: path.parent.name)
def test_one_head_and_one_base(migrations):
    config = Config()
    config.set_main_option("script_location", str(migrations))
    script = ScriptDirectory.from_config(config)
    assert len(script.get_heads()) == 1, f"{migrations}: several heads {script.get_heads()} — re-chain one after the other"
    assert len(script.get_bases()) == 1, f"{migrations}: several bases {script.get_bases()}"
