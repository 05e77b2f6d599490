"""GET /api/v1/scorers: the scorer catalogue, from the scorer registry."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from evaluation.scorer_serializers import ScorerCatalogueSerializer
from evaluation.scorers import catalogue


class ScorerCatalogueView(APIView):
    """Every scorer an experiment may use, with its parameters, range and default threshold."""

    required_scope = "read"

    @extend_schema(
        summary="List the scorers: what each measures, its range, parameters and default threshold",
        description=(
            "Every registered scorer, by name (not paginated: the list is short and the same for every "
            'project). An experiment\'s `scorers` entry is a name or `{"name", "threshold", "params"}`; '
            "`example` is one that validates. Scores lie in `range` (always within [0, 1]) and pass at or "
            "above the threshold. `slow` scorers call a model: `needs_judge` ones a judge endpoint of the "
            "project (`params.judge_endpoint`), those with a `local_model` a model the server runs (it needs "
            "the `requires_extra` dependencies)."
        ),
        responses={200: ScorerCatalogueSerializer},
    )
    def get(self, request: Request) -> Response:
        scorers = catalogue()
        return Response(ScorerCatalogueSerializer({"count": len(scorers), "results": scorers}).data)
