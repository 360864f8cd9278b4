"""``make chaos``: fault injection against the ticketing service run as in production.

The harness starts its own PostgreSQL and Valkey, puts a TCP proxy of its own between the
service and each of them, runs two service nodes behind HAProxy (a process of its own) with
production's limits, drives a flash sale of real-behaving fans (who also refund, and run out of seats),
injects one fault per scenario (killed processes or a whole node, lost Redis, crashed
PostgreSQL, a frozen worker, latency, dropped connections, a same-key payment storm) and
reports, per scenario, the database invariants, refunds and seats, how every fan's sale ended,
the 5xx answers, hung requests, the time to recover and the processes left behind
(docs/chaos.md).
"""
