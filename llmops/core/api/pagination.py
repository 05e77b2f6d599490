from __future__ import annotations

from django.conf import settings
from rest_framework import pagination
from rest_framework.exceptions import ValidationError


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """`?limit=&offset=`; a limit over the cap is a 400 naming the cap, not a silent truncation."""

    default_limit = settings.API_PAGE_SIZE
    max_limit = settings.API_MAX_PAGE_SIZE

    def get_limit(self, request) -> int:
        raw = request.query_params.get(self.limit_query_param)
        if raw is None:
            return self.default_limit
        try:
            limit = int(raw)
        except ValueError:
            raise ValidationError({"limit": [f"limit must be an integer between 1 and {self.max_limit}"]}) from None
        if not 1 <= limit <= self.max_limit:
            raise ValidationError({"limit": [f"limit must be between 1 and {self.max_limit}"]})
        return limit

    def get_offset(self, request) -> int:
        raw = request.query_params.get(self.offset_query_param)
        if raw is None:
            return 0
        try:
            offset = int(raw)
        except ValueError:
            raise ValidationError({"offset": ["offset must be a non-negative integer"]}) from None
        if offset < 0:
            raise ValidationError({"offset": ["offset must be a non-negative integer"]})
        return offset
