# t/web-peers.t: Debian's python3-httpbin (a Flask app), as it is: HEAD on
# its streamed responses, and the request headers it echoes.
from httpbin import app as application  # noqa: F401
