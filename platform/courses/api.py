from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from .selectors import edition_current, lab_list


class LabListApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        edition = edition_current()
        if edition is None:
            return Response({"edition": None, "labs": []})
        return Response(
            {
                "edition": {
                    "name": edition.name,
                    "slug": edition.slug,
                    "time_zone": edition.time_zone,
                },
                "labs": [
                    {
                        "id": lab.spec_id,
                        "title": lab.title,
                        "opens_at": lab.opens_at.isoformat(),
                        "closes_at": lab.closes_at.isoformat(),
                        "closes_at_display": lab.closes_at_display,
                        "is_open": lab.is_open(),
                    }
                    for lab in lab_list(edition)
                ],
            }
        )
