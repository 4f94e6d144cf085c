"""Template context shared by the staff counter page and (later) the member portal."""

from django.utils.functional import SimpleLazyObject

from loyalty.selectors import program_get


def program(request):
    """Add the programme lazily, so pages that never use it do not query it."""
    return {"program": SimpleLazyObject(program_get)}
