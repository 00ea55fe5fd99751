from django.shortcuts import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from courses.models import Lab
from courses.selectors import edition_current

from .selectors import access_leaderboard, leaderboard_data, leaderboard_for


class LeaderboardApi(APIView):
    def get(self, request, spec_id: str):
        labs = Lab.objects.select_related("edition")
        slug = request.query_params.get("edition")
        if slug:
            lab = get_object_or_404(labs, edition__slug=slug, spec_id=spec_id)
        else:
            lab = get_object_or_404(labs, edition=edition_current(), spec_id=spec_id)
        split = access_leaderboard(request.user, lab, request.query_params.get("split"))
        return Response(leaderboard_data(leaderboard_for(lab, split)))
