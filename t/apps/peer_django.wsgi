# t/web-peers.t: a small Django project (Debian's python3-django, in
# peer_django/), driven over real HTTP through nginx.
import os
import sys

sys.dont_write_bytecode = True  # nothing written into the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), 'peer_django'))
os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'peersite.settings')

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
