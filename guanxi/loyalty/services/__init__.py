"""Survey writes, one module per area. Every write: rights first, one transaction, audited.

Importing them registers the touchpoint listeners, the rating rule, the merge relations and the
survey's registry entry; ``selectors.account`` adds the account's timeline source.
"""

from guanxi.loyalty.selectors import account  # noqa: F401  (the timeline source)
from guanxi.loyalty.services import invitations, responses, surveys  # noqa: F401
