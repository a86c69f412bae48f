"""A recursive resolver as unbound runs it, and the stub libraries MTAs read it through."""
