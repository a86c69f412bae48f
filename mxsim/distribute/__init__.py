"""Many domains, or many replay runs, on a Dask cluster: a local one of N processes
(`--workers N`) or an existing `dask.distributed` scheduler (`--dask ADDRESS`).

Dask is optional (`pip install 'mxsim[dask]'`): nothing here is imported unless one of
those options is given. The work itself is the commands' (`check_group`, `run_replay`);
this package only places it on workers and brings the results back as they complete.
"""
