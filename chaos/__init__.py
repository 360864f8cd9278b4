"""``make chaos``: fault injection against the ticketing service run as in production.

The harness starts its own PostgreSQL and Valkey, puts a TCP proxy of its own between the
service and each of them, drives a flash sale of real-behaving fans, injects one fault per
scenario (killed processes, lost Redis, crashed PostgreSQL, a frozen worker, latency, dropped
connections, a same-key payment storm) and reports, per scenario, the database invariants, the
5xx answers, hung requests, the time to recover and the processes left behind.
"""
