"""What the service app tells the apps above it (the survey sender listens), sent inside the
writing transaction once the change is saved.

* ``case_closed(case, actor)`` — a case reached *closed*.
* ``visit_done(visit, actor)`` — a field visit's report is in (state *done*).
"""

from django.dispatch import Signal

case_closed = Signal()
visit_done = Signal()
