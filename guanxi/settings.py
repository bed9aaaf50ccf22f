"""Django settings for guanxi.

Everything that differs between a laptop and a company's servers comes from environment
variables (see docs/deploy.md). With none set, guanxi runs embedded: SQLite in WAL mode
and an embedded task queue, all files under ``GUANXI_DATA_DIR``.
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
from pathlib import Path

import dj_database_url
from csp.constants import NONCE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def default_data_dir() -> Path:
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "guanxi"


PRODUCTION = env_bool("GUANXI_PRODUCTION")
DEBUG = env_bool("GUANXI_DEBUG")
TESTING = "pytest" in sys.modules or env_bool("GUANXI_TESTING")

if os.environ.get("GUANXI_DATA_DIR"):
    DATA_DIR = Path(os.environ["GUANXI_DATA_DIR"]).resolve()
elif TESTING:
    # Tests never touch the user's own data directory.
    DATA_DIR = Path(tempfile.mkdtemp(prefix="guanxi-test-"))
else:
    DATA_DIR = default_data_dir().resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def load_secret_key() -> str:
    """Return the secret key: from the environment, else generated once into DATA_DIR.

    The key never lives in the repository; in embedded mode it is made on first start
    and kept beside the database, readable by its owner only.
    """
    key = os.environ.get("GUANXI_SECRET_KEY")
    if key:
        return key
    if PRODUCTION:
        raise RuntimeError("GUANXI_SECRET_KEY must be set when GUANXI_PRODUCTION=1")
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = load_secret_key()
ALLOWED_HOSTS = [h for h in os.environ.get("GUANXI_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("GUANXI_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "bootstrap",
    "ninja",
    "axes",
    "huey.contrib.djhuey",
    "guanxi.core",
    "guanxi.customers",
    "guanxi.activities",
    "guanxi.sales",
    "guanxi.service",
    "guanxi.loyalty",
]

MIDDLEWARE = [
    "guanxi.core.logs.RequestIdMiddleware",  # first: every answer carries X-Request-ID and is logged
    "guanxi.core.health.HealthCheckMiddleware",  # /health/ before redirects, host check, sessions
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "guanxi.core.middleware.UserLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "guanxi.core.middleware.ActiveUserMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "guanxi.core.middleware.RequestContextMiddleware",
    "guanxi.core.middleware.ServiceErrorMiddleware",
    "guanxi.core.idempotency.IdempotencyMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "guanxi.urls"
WSGI_APPLICATION = "guanxi.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "guanxi.core.context_processors.shell",
            ],
        },
    }
]

# --- Database -------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'guanxi.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0 if TESTING else 60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run while one writer writes; IMMEDIATE takes the write lock at
    # the start of a transaction so two writers queue instead of failing on upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
            "PRAGMA foreign_keys=ON; PRAGMA busy_timeout=10000;"
        ),
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
else:
    DATABASES["default"].setdefault("TEST", {})
    if TESTING:
        # Test data need not survive a crash: commits (flushes after transactional tests,
        # browser tests' writes) return without waiting for the WAL to reach the disk.
        # A connection a test leaves idle inside a transaction (a thread that never
        # finished) is ended by the server after two minutes, and no statement waits more
        # than a minute for a lock: otherwise the next flush (TRUNCATE) would wait for it
        # forever and hold up the whole run.
        DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
            "-c synchronous_commit=off -c lock_timeout=60s -c idle_in_transaction_session_timeout=120s")
# A streaming read replica (docs/deploy.md): reports, exports and analytics marked with
# guanxi.core.dbrouter.replica_reads read from it; every write and every other read goes to
# "default". Same engine and options as default; tests use default's database for it.
DATABASE_REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL", "")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = dj_database_url.parse(DATABASE_REPLICA_URL,
                                                 conn_max_age=DATABASES["default"]["CONN_MAX_AGE"])
    DATABASES["replica"]["OPTIONS"] = dict(DATABASES["default"].get("OPTIONS", {}))
    if DATABASES["replica"]["ENGINE"] != "django.db.backends.sqlite3":
        # A replica that does not answer is given up quickly (the router then reads from default).
        DATABASES["replica"]["OPTIONS"].setdefault("connect_timeout", 3)
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS = ["guanxi.core.dbrouter.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, sessions, task queue --------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    # GUANXI_CACHE_PREFIX keeps two installations sharing one Redis database apart (their
    # queues are kept apart by GUANXI_QUEUE_NAME).
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "KEY_PREFIX": os.environ.get("GUANXI_CACHE_PREFIX", "")}}
    SESSION_ENGINE = "django.contrib.sessions.backends.cache"
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "guanxi",
        }
    }
    SESSION_ENGINE = "django.contrib.sessions.backends.db"

HUEY_IMMEDIATE = False
if REDIS_URL:
    HUEY = {
        "huey_class": "huey.RedisHuey",
        "name": os.environ.get("GUANXI_QUEUE_NAME", "guanxi"),
        "url": REDIS_URL,
        "immediate": False,
        "consumer": {"workers": int(os.environ.get("GUANXI_WORKER_THREADS", "4")), "worker_type": "thread"},
    }
else:
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "guanxi",
        "filename": os.environ.get("GUANXI_QUEUE_FILE") or str(DATA_DIR / "queue.sqlite3"),
        "immediate": False,
        "consumer": {"workers": 2, "worker_type": "thread"},
    }

# --- Auth -----------------------------------------------------------------------------
AUTH_USER_MODEL = "core.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "core:login"
LOGIN_REDIRECT_URL = "core:home"
LOGOUT_REDIRECT_URL = "core:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login throttling (S13): five failures for one username from one address lock it for
# fifteen minutes; a success resets the count.
AXES_FAILURE_LIMIT = int(os.environ.get("GUANXI_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = 0.25
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "guanxi.core.views.lockout"
AXES_VERBOSE = False
AXES_ENABLE_ADMIN = False

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False
SESSION_COOKIE_AGE = 60 * 60 * 12
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("GUANXI_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("GUANXI_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # A local probe (load balancer, systemd) asks over plain HTTP; HealthCheckMiddleware
    # answers before SecurityMiddleware anyway, this keeps it so if the order ever changes.
    SECURE_REDIRECT_EXEMPT = [r"^health/$"]
    SILENCED_SYSTEM_CHECKS: list[str] = []

# Content-Security-Policy (django-csp 4): only our own origin; inline scripts need the
# per-request nonce, so a stored payload cannot run.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", NONCE],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# --- I18n -----------------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_NAME = "guanxi_language"
TIME_ZONE = os.environ.get("GUANXI_TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True
GUANXI_CURRENCY = os.environ.get("GUANXI_CURRENCY", "CNY")
# Our name on documents for customers (confirmations, reports); empty: the top department's name.
GUANXI_COMPANY_NAME = os.environ.get("GUANXI_COMPANY_NAME", "")
# The rest of our company data printed on quotes (R4.2): the logo is an image file (PNG or
# JPEG; a relative path is read from GUANXI_DATA_DIR), the others free text; empty: left out.
GUANXI_COMPANY_LOGO = os.environ.get("GUANXI_COMPANY_LOGO", "")
GUANXI_COMPANY_ADDRESS = os.environ.get("GUANXI_COMPANY_ADDRESS", "")
GUANXI_COMPANY_PHONE = os.environ.get("GUANXI_COMPANY_PHONE", "")
GUANXI_COMPANY_EMAIL = os.environ.get("GUANXI_COMPANY_EMAIL", "")
GUANXI_COMPANY_BANK = os.environ.get("GUANXI_COMPANY_BANK", "")  # bank and account number
# A quote with a line discount above this percentage needs a manager's approval before it is sent.
GUANXI_QUOTE_DISCOUNT_LIMIT = float(os.environ.get("GUANXI_QUOTE_DISCOUNT_LIMIT", "10"))
# How long a customer's link to approve a project cost change stays valid (R3.7).
GUANXI_COST_LINK_DAYS = int(os.environ.get("GUANXI_COST_LINK_DAYS", "7"))

# --- Static and uploaded files ------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("GUANXI_STATIC_ROOT") or DATA_DIR / "static")
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "guanxi.core.staticfinders.VendorFinder",
]
MEDIA_ROOT = Path(os.environ.get("GUANXI_MEDIA_ROOT") or DATA_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = TESTING
if TESTING:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing root
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# --- API ------------------------------------------------------------------------------
NINJA_PAGINATION_PER_PAGE = 50
NINJA_PAGINATION_MAX_PER_PAGE_SIZE = 200

# --- Mail -----------------------------------------------------------------------------
EMAIL_HOST = os.environ.get("GUANXI_SMTP_HOST", "127.0.0.1")
EMAIL_PORT = int(os.environ.get("GUANXI_SMTP_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("GUANXI_SMTP_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("GUANXI_SMTP_PASSWORD", "")
EMAIL_USE_TLS = env_bool("GUANXI_SMTP_STARTTLS", False)  # STARTTLS, usually port 587
EMAIL_USE_SSL = env_bool("GUANXI_SMTP_SSL", False)  # TLS from the start, usually port 465
EMAIL_TIMEOUT = int(os.environ.get("GUANXI_SMTP_TIMEOUT", "30"))
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("Set GUANXI_SMTP_STARTTLS or GUANXI_SMTP_SSL, not both.")
DEFAULT_FROM_EMAIL = os.environ.get("GUANXI_FROM_EMAIL", "guanxi@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Where links in mails point: the address users open guanxi at.
GUANXI_BASE_URL = os.environ.get("GUANXI_BASE_URL") or (CSRF_TRUSTED_ORIGINS[0] if CSRF_TRUSTED_ORIGINS
                                                       else "http://127.0.0.1:8000")
# Jobs and mail: a running job silent this long has lost its worker and is taken over;
# outgoing mail is retried with backoff from GUANXI_MAIL_RETRY_SECONDS, given up after
# GUANXI_MAIL_MAX_ATTEMPTS, and kept GUANXI_OUTBOX_KEEP_DAYS days in the outbox.
GUANXI_JOB_STALE_SECONDS = float(os.environ.get("GUANXI_JOB_STALE_SECONDS", "120"))
GUANXI_MAIL_RETRY_SECONDS = float(os.environ.get("GUANXI_MAIL_RETRY_SECONDS", "60"))
GUANXI_MAIL_MAX_ATTEMPTS = int(os.environ.get("GUANXI_MAIL_MAX_ATTEMPTS", "8"))
GUANXI_OUTBOX_KEEP_DAYS = int(os.environ.get("GUANXI_OUTBOX_KEEP_DAYS", "30"))

# The morning digest (R13.10) goes out at this local time (HH:MM, GUANXI_TIME_ZONE).
GUANXI_DIGEST_TIME = os.environ.get("GUANXI_DIGEST_TIME", "07:30")
# When the nightly sales job rebuilds the monthly sales and recounts every customer's figures.
GUANXI_SALES_NIGHTLY_TIME = os.environ.get("GUANXI_SALES_NIGHTLY_TIME", "02:20")

# Behind the documented reverse proxy: take the client's address from the X-Forwarded-For
# entry the proxy wrote (audit origin, the public pages' rate limits).
GUANXI_BEHIND_PROXY = env_bool("GUANXI_BEHIND_PROXY", False)

# --- Service desk and surveys (docs/deploy.md) ----------------------------------------------
# Public form: submissions per client address and form ("<count>/<n><s|m|h|d>"), the shortest
# time a person takes to fill it in, how long a form page stays valid.
GUANXI_FEEDBACK_RATE = os.environ.get("GUANXI_FEEDBACK_RATE", "10/10m")
GUANXI_FEEDBACK_MIN_SECONDS = int(os.environ.get("GUANXI_FEEDBACK_MIN_SECONDS", "3"))
GUANXI_FEEDBACK_MAX_AGE = int(os.environ.get("GUANXI_FEEDBACK_MAX_AGE", "7200"))
GUANXI_CASE_ATTACHMENT_MAX_BYTES = int(os.environ.get("GUANXI_CASE_ATTACHMENT_MAX_BYTES", str(10 * 1024 * 1024)))
# Days a resolved case waits for the customer's confirmation before its owner may close it.
GUANXI_CASE_CONFIRM_DAYS = int(os.environ.get("GUANXI_CASE_CONFIRM_DAYS", "7"))
GUANXI_SLA_SWEEP_BATCH = int(os.environ.get("GUANXI_SLA_SWEEP_BATCH", "200"))
# Requests per client address to the public survey page.
GUANXI_SURVEY_RATE = os.environ.get("GUANXI_SURVEY_RATE", "30/10m")

# --- Logging --------------------------------------------------------------------------
# Plain text by default; GUANXI_LOG_FORMAT=json writes one JSON object per line (time,
# level, logger, message, request id, user id, path, status, duration), for the app's own
# records and the access log alike (guanxi.core.logs). GUANXI_ACCESS_LOG=0 drops the access
# log (one line per request); tests keep it off unless they ask for it.
from guanxi.core.logs import logging_config  # noqa: E402

# /health/?workers=1 fails when no queue worker has beaten for this many seconds.
GUANXI_WORKER_STALE_SECONDS = int(os.environ.get("GUANXI_WORKER_STALE_SECONDS", "60"))
GUANXI_LOG_FORMAT = os.environ.get("GUANXI_LOG_FORMAT", "plain")
LOGGING = logging_config(fmt=GUANXI_LOG_FORMAT, level=os.environ.get("GUANXI_LOG_LEVEL", "WARNING"),
                         access=env_bool("GUANXI_ACCESS_LOG", not TESTING))
