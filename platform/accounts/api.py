from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from . import services
from .authentication import SessionLoginOnly
from .models import ApiToken


class TokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "revoked_at"]


class MeApi(APIView):
    def get(self, request):
        user = request.user
        return Response(
            {
                "username": user.username,
                "name": user.get_full_name(),
                "role": user.role,
                "affiliation": user.affiliation,
                "affiliation_verified": user.affiliation_verified,
                "lab_prize_eligible": user.lab_prize_eligible,
            }
        )


class TokenListApi(APIView):
    permission_classes = [SessionLoginOnly]

    def get(self, request):
        return Response(TokenSerializer(request.user.api_tokens.all(), many=True).data)

    def post(self, request):
        if not isinstance(request.data, dict):
            return Response({"detail": 'Send a JSON object: {"name": "colab"}.'}, status=400)
        name = request.data.get("name", "")
        if not isinstance(name, str):
            return Response({"detail": "name must be a string."}, status=400)
        token, key = services.token_create(user=request.user, name=name)
        return Response({**TokenSerializer(token).data, "key": key}, status=status.HTTP_201_CREATED)


class TokenDetailApi(APIView):
    permission_classes = [SessionLoginOnly]

    def delete(self, request, token_id: int):
        services.token_revoke(user=request.user, token_id=token_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
