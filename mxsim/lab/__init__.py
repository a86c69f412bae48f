"""The lab: a scenario's world served on real sockets on 127.0.0.0/8 (DESIGN.md, issue 3)."""
