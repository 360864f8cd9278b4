"""``python -m bench.capacity`` (``make capacity``): what a sale of 10^5 to 10^7 fans needs — API
nodes, Redis and PostgreSQL load, time to sell out, fans' wait — from this machine's measured
per-request costs (``measure``), a SimPy model of the sale (``model``), checked against a measured
300-fan sale; report and plot in ``bench/results/``."""
