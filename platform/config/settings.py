"""The one settings module. Everything that differs between machines comes from the environment.

Defaults run on a bare machine: SQLite, a filesystem Celery broker, the process sandbox.
`DATABASE_URL` and `CELERY_BROKER_URL` switch to PostgreSQL and Redis. With
`DJANGO_ENV=production` the site refuses to start on an unsafe configuration.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from .env import (
    DEFAULT_SECRET_KEY,
    ProductionCheck,
    env_bool,
    env_int,
    env_list,
    env_str,
    production_problems,
)

REPO_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = Path(env_str("PLATFORM_VAR_DIR", str(REPO_DIR / "var")))

PRODUCTION = env_str("DJANGO_ENV", "development") == "production"
DEBUG = env_bool("DJANGO_DEBUG", default=not PRODUCTION)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", DEFAULT_SECRET_KEY)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "" if PRODUCTION else "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

GRADER_BACKEND = env_str("GRADER_BACKEND", "process")
GRADER_ALLOW_PROCESS_BACKEND = env_bool("GRADER_ALLOW_PROCESS_BACKEND", default=False)
# Model-file uploads are loaded once in a sandbox before they are queued; one that does
# not load is refused at no quota cost (submissions.services.intake.entry_check_loads).
UPLOAD_LOAD_CHECK = env_bool("UPLOAD_LOAD_CHECK", default=True)
UPLOAD_LOAD_CHECK_S = float(env_int("UPLOAD_LOAD_CHECK_S", 20))
# The grader's wheel the lab pages offer for checking an entry in a notebook
# (`python scripts/build_grader_wheel.py` writes it there; `make demo` does).
GRADER_WHEEL_DIR = Path(env_str("GRADER_WHEEL_DIR", str(VAR_DIR / "dist")))
GRADER_HIDDEN_DIR = Path(env_str("GRADER_HIDDEN_DIR", str(VAR_DIR / "hidden")))
# Comma-separated GPU UUIDs this worker may hand out, one per job; empty means CPU only.
GRADER_GPUS = env_list("GRADER_GPUS")
# Workers on other machines share only the database and the broker with the site: they fetch
# uploads and hidden-set bundles from PLATFORM_SITE_URL (the site's internal address) with
# the deployment's PLATFORM_WORKER_TOKEN, and keep them in GRADER_CACHE_DIR by SHA-256.
# Without PLATFORM_SITE_URL a worker reads the site's storage directly (one machine).
PLATFORM_SITE_URL = env_str("PLATFORM_SITE_URL").rstrip("/")
PLATFORM_WORKER_TOKEN = env_str("PLATFORM_WORKER_TOKEN")
GRADER_CACHE_DIR = Path(env_str("GRADER_CACHE_DIR", str(VAR_DIR / "worker-cache")))
HIDDEN_SET_MAX_MB = env_int("HIDDEN_SET_MAX_MB", 2048)

# Mail: printed to the console in the demo; SMTP from the environment in production.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=True)

_problems = production_problems(
    ProductionCheck(
        production=PRODUCTION,
        debug=DEBUG,
        secret_key=SECRET_KEY,
        allowed_hosts=ALLOWED_HOSTS,
        grader_backend=GRADER_BACKEND,
        allow_process_backend=GRADER_ALLOW_PROCESS_BACKEND,
        email_backend=EMAIL_BACKEND,
        email_host=EMAIL_HOST,
    )
)
if _problems:
    raise ImproperlyConfigured("Refusing to start in production: " + "; ".join(_problems))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "axes",
    "accounts",
    "courses",
    "health",
    "submissions",
    "awards",
    "projects",
    "leaderboards",
    "judging",
    "notifications",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "submissions.middleware.UploadSizeLimitMiddleware",
    # After the size ceiling (it parses form bodies), before anything reads a cookie or field.
    "core.errors.NulRefusalMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "core.errors.RefusalMiddleware",
    "courses.admin_zone.AdminEditionZoneMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [REPO_DIR / "platform" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "courses.context_processors.current_edition",
                "accounts.context_processors.sso",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        # A kept connection that a database restart closed is replaced at the next request,
        # not found broken by it.
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The site and the worker share the file; wait for a lock rather than fail.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A file, not memory, so test threads and a test's worker process share the database;
    # one per test process, so parallel test runs in one checkout do not collide.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "account_login"
SITE_ID = 1
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"  # storage and logs; pages show each course edition's own zone
USE_I18N = False
USE_TZ = True
CSRF_FAILURE_VIEW = "core.errors.csrf_failure"  # the site's error page, with the reason

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "media/"  # never served directly: entries are downloaded through access checks
MAX_REQUEST_MB = env_int("MAX_REQUEST_MB", 600)  # site-wide ceiling; labs set their own

SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")  # links in emails
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "6s191-grader@localhost")

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "SAMEORIGIN"  # entry pages show PDFs inline from this site only
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 3600)

# --- People: django-allauth (sign-up, email verification, password reset, OpenID Connect) ---
AUTHENTICATION_BACKENDS = [
    # First, so a locked-out account or address is refused before its password is checked.
    "axes.backends.AxesStandaloneBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_SIGNUP_OPEN = env_bool("ACCOUNT_SIGNUP_OPEN", default=True)  # off: roster/SSO only
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False  # a link scanner must not verify on the person's behalf
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_SIGNUP_FORM_CLASS = "accounts.forms.SignupExtraForm"
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[6.S191] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if PRODUCTION else "http"
# Failed logins are counted by django-axes (one home for lockouts), not by allauth as well.
# allauth's limits per address (sign-ups, logins, passwords set from an emailed link) are
# shared by everyone behind one address, a lecture hall behind the campus NAT included:
# allauth's own 20 to 30 a minute refused most of a class signing up or claiming their
# invitations at once (429). Its limits per account and per link stay as they are.
ACCOUNT_RATE_ADDRESS = env_str("ACCOUNT_RATE_ADDRESS", "300/m") + "/ip"
ACCOUNT_RATE_LIMITS = {
    "login_failed": None,
    "login": ACCOUNT_RATE_ADDRESS,
    "signup": ACCOUNT_RATE_ADDRESS,
    "reset_password_from_key": ACCOUNT_RATE_ADDRESS,
}
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True  # an IdP-verified email links to its account
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_STORE_TOKENS = False
# Single sign-on with a university's OpenID Connect provider, only when configured.
OIDC_SERVER_URL = env_str("OIDC_SERVER_URL")  # the issuer, e.g. https://oidc.mit.edu/
OIDC_CLIENT_ID = env_str("OIDC_CLIENT_ID")
OIDC_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET")
OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME", "MIT Touchstone")
OIDC_SCOPES = env_list("OIDC_SCOPES", "openid,email,profile")
# Which verified claim says what someone is: CLAIM holds one value or a list of values;
# a value in STUDENT_VALUES verifies a registered student, AFFILIATE_VALUES an affiliate.
OIDC_AFFILIATION_CLAIM = env_str("OIDC_AFFILIATION_CLAIM", "affiliation")
OIDC_STUDENT_VALUES = env_list("OIDC_STUDENT_VALUES", "student")
OIDC_AFFILIATE_VALUES = env_list("OIDC_AFFILIATE_VALUES", "affiliate,staff,faculty,employee")
SOCIALACCOUNT_PROVIDERS = {}
if OIDC_SERVER_URL and OIDC_CLIENT_ID:
    SOCIALACCOUNT_PROVIDERS["openid_connect"] = {
        "OAUTH_PKCE_ENABLED": True,
        "APPS": [
            {
                "provider_id": "sso",
                "name": OIDC_PROVIDER_NAME,
                "client_id": OIDC_CLIENT_ID,
                "secret": OIDC_CLIENT_SECRET,
                "settings": {
                    "server_url": OIDC_SERVER_URL,
                    "scope": OIDC_SCOPES,
                    "token_auth_method": env_str("OIDC_TOKEN_AUTH_METHOD", "client_secret_basic"),
                },
            }
        ],
    }

# Login lockout (django-axes): after AXES_FAILURE_LIMIT failures for one account, or from one
# address, that account or address is refused until the cool-off ends or staff unlock it.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_MINUTES", 15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_USERNAME_CALLABLE = "accounts.lockout.username_of"
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_RESET_ON_SUCCESS = True
# Reverse proxies in front of the site: only then is X-Forwarded-For read, and only the
# entries those proxies added (a client can write anything in the header itself).
PROXY_COUNT = env_int("AXES_PROXY_COUNT", 1 if PRODUCTION else 0)
AXES_IPWARE_PROXY_COUNT = PROXY_COUNT
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if PROXY_COUNT else ["REMOTE_ADDR"]
)
# allauth's limits per address read the client's address the same way (without this, behind
# the proxy every person was the proxy: one bucket of sign-ups and logins for the whole site).
ALLAUTH_TRUSTED_PROXY_COUNT = PROXY_COUNT

# One cache shared by every site process in production (API throttles, allauth's limits).
CACHE_URL = env_str("CACHE_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
        if CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
        "accounts.throttles.UploadRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": env_str("API_RATE_USER", "600/min"),
        "anon": env_str("API_RATE_ANON", "60/min"),
        "uploads": env_str("UPLOAD_RATE", "30/hour"),
    },
    "EXCEPTION_HANDLER": "core.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "NUM_PROXIES": PROXY_COUNT,  # the anonymous throttle's address, as for the lockout
}
SPECTACULAR_SETTINGS = {
    "TITLE": "6.S191 lab competitions API",
    "DESCRIPTION": (
        "Upload lab entries from a notebook, follow their grading, read leaderboards. "
        "Authenticate with a personal API token (`Authorization: Token <key>`, from "
        "*API tokens*) or the site's session cookie. Every error answers "
        '`{"detail": "..."}`; 429 answers carry `Retry-After` (seconds).'
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",  # served from this site: no CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# Celery: a filesystem broker needs no server; Redis in production.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
_BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for _sub in ("queue", "processed", "control"):
        (_BROKER_DIR / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR / "queue"),
        "data_folder_out": str(_BROKER_DIR / "queue"),
        "processed_folder": str(_BROKER_DIR / "processed"),
        "control_folder": str(_BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # Longer than the longest grading job, so Redis never re-delivers a task still running.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 2 * 3600)
    }
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Grading runs go to the cpu and gpu queues by name; everything else (leaderboard refreshes,
# the reaper, reminders) to the site queue, so it never waits behind a grading run.
CELERY_TASK_DEFAULT_QUEUE = "site"
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = {
    "reap-grading-runs": {"task": "submissions.reap_runs", "schedule": 30.0},
    # Each counted entry meets the private split within a minute of its author's deadline.
    "queue-private-runs": {"task": "submissions.queue_private_runs", "schedule": 60.0},
    # Boards whose refresh was lost (a broker refusal, a failed task) catch up within a minute.
    "refresh-stale-boards": {"task": "leaderboards.refresh_stale_boards", "schedule": 60.0},
    # Idempotent (one per person per deadline), so any interval under a day works.
    "deadline-reminders": {"task": "notifications.send_reminders", "schedule": 15 * 60.0},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

VAR_DIR.mkdir(parents=True, exist_ok=True)
