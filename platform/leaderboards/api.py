from django.shortcuts import get_object_or_404
from rest_framework.exceptions import ParseError
from rest_framework.response import Response
from rest_framework.views import APIView

from courses.models import Lab
from courses.selectors import edition_current

from .selectors import PAGE_SIZE, access_leaderboard, leaderboard_page


class LeaderboardApi(APIView):
    def get(self, request, spec_id: str):
        labs = Lab.objects.select_related("edition", "board_state")
        slug = request.query_params.get("edition")
        if slug:
            lab = get_object_or_404(labs, edition__slug=slug, spec_id=spec_id)
        else:
            lab = get_object_or_404(labs, edition=edition_current(), spec_id=spec_id)
        split = access_leaderboard(request.user, lab, request.query_params.get("split"))
        params = request.query_params
        try:
            page = int(params.get("page", 1))
            page_size = int(params.get("page_size", PAGE_SIZE))
        except ValueError:
            raise ParseError("page and page_size are whole numbers.") from None
        return Response(leaderboard_page(lab, split, request.user, page, page_size))
