"""mxsim: where would mail to a domain go, under each real MTA's rules."""

__version__ = "0.1.0"
