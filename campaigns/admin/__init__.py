"""Admin of the campaigns app, one module per area."""

from campaigns.admin import actions  # noqa: F401
from campaigns.admin import bonus  # noqa: F401
from campaigns.admin import games  # noqa: F401
from campaigns.admin import challenges  # noqa: F401
from campaigns.admin import messaging  # noqa: F401
from campaigns.admin import nudges  # noqa: F401
from campaigns.admin import segments  # noqa: F401
from campaigns.admin import surprise  # noqa: F401
from campaigns.admin import referrals  # noqa: F401
