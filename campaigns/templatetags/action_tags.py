"""Template tags of action bonuses: the counter page's "Record an action" panel."""

from django import template

from campaigns.models import ActionType

register = template.Library()


@register.inclusion_tag("campaigns/_counter_actions.html", takes_context=True)
def counter_actions_panel(context, member) -> dict:
    """Render a form to record an action for ``member`` (nothing when no action is offered)."""
    actions = list(ActionType.objects.filter(is_active=True, recordable_by_staff=True))
    return {
        "member": member,
        "actions": actions,
        "csrf_token": context.get("csrf_token"),
    }
