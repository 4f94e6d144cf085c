"""Template tags of referrals: the "Refer a friend" panel of the portal dashboard."""

from django import template

from campaigns.referrals import referral_settings, referral_summary

register = template.Library()


@register.inclusion_tag("campaigns/_referral_panel.html")
def referral_panel(member) -> dict:
    """Render the dashboard's referral summary and link (nothing while referrals are off)."""
    if member is None or not getattr(member, "pk", None) or not referral_settings().is_active:
        return {"show": False}
    return {"show": True, "summary": referral_summary(member=member)}
