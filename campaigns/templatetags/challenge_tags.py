"""Template tags of challenges: the compact "Challenges" panel of the portal dashboard."""

from django import template

from campaigns.challenges import member_challenges

register = template.Library()
SHOWN = 3


@register.inclusion_tag("campaigns/_challenges_panel.html")
def challenges_panel(member) -> dict:
    """Render the member's running challenges (up to three progress bars) and badge count."""
    if member is None or not getattr(member, "pk", None):
        return {}
    overview = member_challenges(member=member)
    taking_part = [item for item in overview.running if item.joined]
    return {
        "running": taking_part[:SHOWN],
        "joinable": sum(1 for item in overview.running if item.can_join),
        "badges": len(overview.badges),
    }
