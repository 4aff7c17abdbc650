"""A module both interp_a.wsgi and interp_b.wsgi import (t/interpreters.t):
one copy per interpreter, so VALUE is per application group."""
VALUE = None
