"""Admin for segments and RFM scores."""

from django.contrib import admin

from campaigns.models import Segment


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    list_display = ["name", "updated_at"]
    search_fields = ["name"]
    filter_horizontal = ["tiers", "locations"]
