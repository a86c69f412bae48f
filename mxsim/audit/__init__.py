"""`mxsim check`'s audit: what to ask the servers (`probes`), how replies group into
behaviours (`behaviour`), the finding catalogue (`catalog`, `finding`) and the checks
that turn measurements into findings (`checks`). No I/O: the commands drive the probes
over the wire transport."""
