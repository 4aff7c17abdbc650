# Settings of the t/web-peers.t Django project: no database (sessions in
# signed cookies), CSRF on, DEBUG off so that 404 and 500 are the real pages.
import os

BASE_DIR = os.path.dirname(os.path.abspath(__file__))
SECRET_KEY = 'fwtest-not-secret-' + 'x' * 40
DEBUG = False
ALLOWED_HOSTS = ['127.0.0.1', 'localhost']
INSTALLED_APPS = ['django.contrib.sessions', 'django.contrib.messages']
MIDDLEWARE = [
    'django.contrib.sessions.middleware.SessionMiddleware',
    'django.middleware.common.CommonMiddleware',
    'django.middleware.csrf.CsrfViewMiddleware',
    'django.contrib.messages.middleware.MessageMiddleware',
]
ROOT_URLCONF = 'peersite.urls'
TEMPLATES = [{
    'BACKEND': 'django.template.backends.django.DjangoTemplates',
    'DIRS': [os.path.join(BASE_DIR, 'templates')],
    'OPTIONS': {'context_processors': ['django.template.context_processors.request',
                                       'django.contrib.messages.context_processors.messages']},
}]
DATABASES = {}
SESSION_ENGINE = 'django.contrib.sessions.backends.signed_cookies'
MESSAGE_STORAGE = 'django.contrib.messages.storage.cookie.CookieStorage'
USE_TZ = True
# Django sets the process's TZ to this (os.environ['TZ'], time.tzset()); one far
# from any test machine's makes that visible (t/web-peers.t checks the log).
TIME_ZONE = 'Pacific/Kiritimati'
DEFAULT_AUTO_FIELD = 'django.db.models.AutoField'
# Uploads over 1 MB go to a temporary file, smaller ones stay in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 1 << 20
DATA_UPLOAD_MAX_MEMORY_SIZE = 1 << 20
LOGGING = {
    'version': 1,
    'disable_existing_loggers': False,
    'handlers': {'stderr': {'class': 'logging.StreamHandler'}},
    'loggers': {'django.request': {'handlers': ['stderr'], 'level': 'ERROR'}},
}
