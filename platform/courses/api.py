from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_schema import ErrorSerializer, answers

from .selectors import edition_current, lab_list


class EditionSerializer(serializers.Serializer):
    name = serializers.CharField()
    slug = serializers.CharField()
    time_zone = serializers.CharField()


class LabSerializer(serializers.Serializer):
    id = serializers.CharField(source="spec_id", help_text="The lab spec id, e.g. lab2-debias.")
    title = serializers.CharField()
    opens_at = serializers.DateTimeField()
    closes_at = serializers.DateTimeField()
    closes_at_display = serializers.CharField(
        help_text="The deadline in the edition's zone, named."
    )
    is_open = serializers.BooleanField()


class LabListSerializer(serializers.Serializer):
    edition = EditionSerializer(allow_null=True)
    labs = LabSerializer(many=True)


class LabListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        summary="The current edition's labs",
        tags=["labs"],
        auth=[],
        responses={
            **answers({200: LabListSerializer}, auth=False),
            401: OpenApiResponse(ErrorSerializer, description="A token was sent and is not valid."),
        },
    )
    def get(self, request):
        edition = edition_current()
        labs = lab_list(edition) if edition is not None else []
        return Response(LabListSerializer({"edition": edition, "labs": labs}).data)
