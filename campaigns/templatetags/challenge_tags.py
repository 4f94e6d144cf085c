"""Template tags of challenges: the compact "Challenges" panel of the portal dashboard."""

from django import template

from campaigns.challenges import member_challenges_summary

register = template.Library()


@register.inclusion_tag("campaigns/_challenges_panel.html")
def challenges_panel(member) -> dict:
    """Render the member's running challenges (up to three progress bars) and badge count."""
    if member is None or not getattr(member, "pk", None):
        return {}
    summary = member_challenges_summary(member=member)
    return {"running": summary.running, "joinable": summary.joinable, "badges": summary.badges}
