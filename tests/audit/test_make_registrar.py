"""scenarios/make_registrar.py writes a farm the loader accepts at 1,000 zones (within its
record and size limits), with a few percent of apexes answered by the bad backend."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mxsim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]


def test_a_thousand_zone_farm_loads_and_lists_its_broken_zones(tmp_path: Path) -> None:
    scenario, domains, broken = tmp_path / "farm.yaml", tmp_path / "domains.txt", tmp_path / "broken.txt"
    with scenario.open("w", encoding="utf-8") as file:
        subprocess.run([sys.executable, str(ROOT / "scenarios" / "make_registrar.py"), "1000",
                        "--domains", str(domains), "--broken", str(broken)], stdout=file, check=True, timeout=60)
    spec = load_scenario(str(scenario))
    names = domains.read_text(encoding="utf-8").split()
    bad = broken.read_text(encoding="utf-8").split()
    assert len(names) == 1000 and len(bad) == 30 and set(bad) <= set(names)
    assert {f"{name}." for name in names} <= {str(zone.origin) for zone in spec.zones}
