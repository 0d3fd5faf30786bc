"""States of a GPU instance in the pool, in one place.

``launching`` (a launch slot or a new instance not yet healthy), ``idle``,
``busy`` (leased), ``draining`` (being stopped).
"""

LAUNCHING = "launching"
IDLE = "idle"
BUSY = "busy"
DRAINING = "draining"

STATES = (LAUNCHING, IDLE, BUSY, DRAINING)
