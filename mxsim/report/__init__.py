"""Renderers: frozen results in, text or JSON out. Pure and seed-stable."""
