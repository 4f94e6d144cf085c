"""Template tags of member messages: the unread count shown in the portal navigation."""

from django import template

from campaigns.messaging import inbox_unread_count

register = template.Library()


@register.simple_tag
def inbox_unread(member) -> int:
    """Return how many of ``member``'s inbox messages are unread (one query)."""
    if member is None or not getattr(member, "pk", None):
        return 0
    return inbox_unread_count(member=member)
