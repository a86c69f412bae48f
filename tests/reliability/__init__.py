"""Hostile inputs, kept: the property tests and the generators `tools/campaign.py` runs at length.

- `choice`: the one interface the generators draw from (hypothesis or a seeded Random);
- `values`, `mutations`, `garbage`: odd values and names, mutated scenarios, garbage traffic;
- `jobs`, `known`: inputs as jobs for the worker, and the named inputs every run tries first;
- `worker` (the child) and `harness` (the parent): each input in a process bounded in time
  and memory; `verdict`: what passes;
- `flood`: a lab started with `mxsim lab up`, and the floods sent at it.
"""
