# t/web-peers.t: a small Django project (Debian's python3-django, in
# peer_django/), driven over real HTTP through nginx. The test mounts it
# twice; each mount serves the admin's static files under its own
# MOUNT/static/ (the shipped nginx snippet has no location for them), as
# WhiteNoise would.
import mimetypes
import os
import sys

sys.dont_write_bytecode = True  # nothing written into the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), 'peer_django'))
os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'peersite.settings')

import django.contrib.admin  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

# Not settings.STATIC_URL: reading it here, outside a request, would fix
# it at '/static/' for good (Django caches it on first read).
STATIC_ROOT = os.path.join(os.path.dirname(django.contrib.admin.__file__), 'static')
django_app = get_wsgi_application()


def application(environ, start_response):
    path = environ.get('PATH_INFO', '')
    if not path.startswith('/static/'):
        return django_app(environ, start_response)
    full = os.path.realpath(os.path.join(STATIC_ROOT, path[len('/static/'):]))
    if not full.startswith(STATIC_ROOT + os.sep) or not os.path.isfile(full):
        start_response('404 Not Found', [('Content-Type', 'text/plain')])
        return [b'no such static file\n']
    start_response('200 OK', [('Content-Type', mimetypes.guess_type(full)[0] or
                               'application/octet-stream'),
                              ('Content-Length', str(os.path.getsize(full)))])
    return environ['wsgi.file_wrapper'](open(full, 'rb'), 65536)
