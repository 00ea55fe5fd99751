from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_schema import answers, path_parameter

from . import services
from .authentication import SessionLoginOnly
from .models import Affiliation, ApiToken, Role


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    name = serializers.CharField(source="get_full_name")
    role = serializers.ChoiceField(Role.choices)
    affiliation = serializers.ChoiceField(Affiliation.choices)
    affiliation_verified = serializers.BooleanField(
        help_text="Roster, single sign-on or staff; not self."
    )
    lab_prize_eligible = serializers.BooleanField()


class TokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = fields


class NewTokenSerializer(TokenSerializer):
    """A token just made, with its key (in the context: only its hash is stored)."""

    key = serializers.SerializerMethodField(help_text="Shown once; only its hash is stored.")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "key"]

    def get_key(self, token: ApiToken) -> str:
        return self.context["key"]


class TokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)


class MeApi(APIView):
    @extend_schema(summary="Who am I", tags=["account"], responses=answers({200: MeSerializer}))
    def get(self, request):
        return Response(MeSerializer(request.user).data)


class TokenListApi(APIView):
    permission_classes = [SessionLoginOnly]

    @extend_schema(
        summary="My API tokens",
        tags=["account"],
        responses=answers({200: TokenSerializer(many=True)}),
    )
    def get(self, request):
        return Response(TokenSerializer(request.user.api_tokens.all(), many=True).data)

    @extend_schema(
        summary="Create an API token (the key is shown once)",
        tags=["account"],
        request=TokenCreateSerializer,
        responses=answers(
            {201: NewTokenSerializer}, bad="No name, too long, or 10 already active."
        ),
    )
    def post(self, request):
        if not isinstance(request.data, dict):
            return Response({"detail": 'Send a JSON object: {"name": "colab"}.'}, status=400)
        name = request.data.get("name", "")
        if not isinstance(name, str):
            return Response({"detail": "name must be a string."}, status=400)
        token, key = services.token_create(user=request.user, name=name)
        data = NewTokenSerializer(token, context={"key": key}).data
        return Response(data, status=status.HTTP_201_CREATED)


class TokenDetailApi(APIView):
    permission_classes = [SessionLoginOnly]

    @extend_schema(
        parameters=[path_parameter("token_id", int, 1, "One of your tokens' id.")],
        summary="Revoke one of my API tokens",
        tags=["account"],
        responses=answers({204: None}, missing="No such token of yours."),
    )
    def delete(self, request, token_id: int):
        services.token_revoke(user=request.user, token_id=token_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
