"""`python -m mxsim`: the same as the `mxsim` command."""

from mxsim.cli import main

main()
