"""``make cluster``: a local production topology on one machine (see ``__main__``)."""
