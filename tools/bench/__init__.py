"""The aihubd benchmark harness (``make bench`` → ``python -m tools.bench``).

It measures the daemon as a black box — its CLI flags, its gRPC API and the Hub emulator's
request counters — so it keeps working while the daemon's internals change. Layout:

* ``__main__``: arguments (``--quick``, ``--only NAME``, ``--json``), runs the scenarios, prints
  the table and writes the JSON.
* ``scenario_requests`` (1), ``scenario_notify`` (2), ``scenario_reads`` (3),
  ``scenario_delivery`` (4), ``scenario_scale`` (5): one measurement each, ``run(ctx)``.
* ``procs``: the emulator, daemon and helper subprocesses (die with the bench), /proc readers.
* ``fleet``: client processes that wait through the daemon or with the official qai-hub client.
* ``loadgen``: the gRPC client process (unary load, streams, waiters), same code for every server.
* ``echo``: the trivial grpc.aio baselines (GetJob echo, 1 MiB-chunk byte stream, fan-out).
* ``hubrest``: set-up traffic to the emulator (REST + the official protobuf messages, admin API).
* ``common``: sizes per profile, the run context, statistics. ``report``: the table and JSON.
"""
