"""Models of the campaigns app, one module per area (each area's services live beside them).

Areas: segments, bonus campaigns, action bonuses and birthdays, referrals, challenges and
badges, leaderboard, sweepstakes and instant wins, messages. Import every module here so
Django sees the models.
"""

from campaigns.models.actions import (  # noqa: F401
    ActionRecord,
    ActionType,
    BirthdayGift,
    BirthdayReward,
)
from campaigns.models.bonus import BonusCampaign, CampaignAward
from campaigns.models.challenges import (  # noqa: F401
    Badge,
    Challenge,
    ChallengeProgress,
    MemberBadge,
)
from campaigns.models.games import (  # noqa: F401
    InstantWin,
    InstantWinHit,
    LeaderboardProfile,
    LeaderboardScore,
    Sweepstake,
    SweepstakeEntry,
    SweepstakeEntryPurchase,
    SweepstakeWinner,
)
from campaigns.models.messaging import (  # noqa: F401
    Broadcast,
    MessageLog,
    MessageTemplate,
    MessageType,
    MessagingSettings,
)
from campaigns.models.nudges import (  # noqa: F401
    CampaignAnnouncement,
    NudgeSettings,
    WinBackOffer,
)
from campaigns.models.referrals import (  # noqa: F401
    Referral,
    ReferralCode,
    ReferralMilestone,
    ReferralMilestoneAward,
    ReferralSettings,
)
from campaigns.models.segments import MemberScore, Segment
from campaigns.models.surprise import SurpriseDraw, SurpriseWinner  # noqa: F401

__all__ = ["BonusCampaign", "CampaignAward", "MemberScore", "Segment"]
