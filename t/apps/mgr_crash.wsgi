# Dies at import, before the worker can say it is ready: a crash loop.
import os

os._exit(7)
