"""Admin of the campaigns app, one module per area."""

from campaigns.admin import (
    actions,  # noqa: F401
    bonus,  # noqa: F401
    challenges,  # noqa: F401
    games,  # noqa: F401
    messaging,  # noqa: F401
    nudges,  # noqa: F401
    referrals,  # noqa: F401
    segments,  # noqa: F401
    surprise,  # noqa: F401
)
