# Fails to import while the marker file named by $FW_ERR_MARKER is absent,
# like an app whose database is down at boot (t/errors.t).
import os

MARKER = os.environ['FW_ERR_MARKER']
if not os.path.exists(MARKER):
    raise RuntimeError('database down')


def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'up']
