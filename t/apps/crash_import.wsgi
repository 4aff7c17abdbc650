# Dies at import after saying why on stderr, as an app does that exits when a
# dependency is missing: a crash loop whose reason status must show.
import os
import sys
import traceback

try:
    raise ImportError('no module named nosuch')
except ImportError:
    traceback.print_exc()
    sys.stderr.flush()
    os._exit(1)
