from django.conf import settings


def sso(request) -> dict:
    return {"sso_enabled": bool(settings.SOCIALACCOUNT_PROVIDERS)}
