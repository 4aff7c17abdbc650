# Settings of the t/web-peers.t Django project: no database (sessions in
# signed cookies), CSRF on, DEBUG off so that 404 and 500 are the real pages,
# and the admin (its login page needs no database) with a relative
# STATIC_URL, which Django prefixes with SCRIPT_NAME: the project is mounted
# twice and each mount must link its own static files.
import os

BASE_DIR = os.path.dirname(os.path.abspath(__file__))
SECRET_KEY = 'fwtest-not-secret-' + 'x' * 40
DEBUG = False
ALLOWED_HOSTS = ['127.0.0.1', 'localhost']
INSTALLED_APPS = ['django.contrib.admin', 'django.contrib.auth', 'django.contrib.contenttypes',
                  'django.contrib.sessions', 'django.contrib.messages']
MIDDLEWARE = [
    'django.contrib.sessions.middleware.SessionMiddleware',
    'django.middleware.common.CommonMiddleware',
    'django.middleware.csrf.CsrfViewMiddleware',
    'django.contrib.auth.middleware.AuthenticationMiddleware',
    'django.contrib.messages.middleware.MessageMiddleware',
]
ROOT_URLCONF = 'peersite.urls'
# Served by peer_django.wsgi itself (the shipped nginx snippet has no
# location for it): MOUNT/static/ is the admin's static folder.
STATIC_URL = 'static/'
TEMPLATES = [{
    'BACKEND': 'django.template.backends.django.DjangoTemplates',
    'DIRS': [os.path.join(BASE_DIR, 'templates')],
    'APP_DIRS': True,
    'OPTIONS': {'context_processors': ['django.template.context_processors.request',
                                       'django.contrib.auth.context_processors.auth',
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
