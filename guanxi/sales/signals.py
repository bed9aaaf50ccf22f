"""What the sales app tells the apps above it (the survey sender listens), sent inside the
writing transaction once the change is saved.

* ``order_delivered(order, actor)`` — an order reached *delivered*.
"""

from django.dispatch import Signal

order_delivered = Signal()
