# A package over a native part that refuses sub-interpreters, re-raising
# its ImportError as another error the way frameworks do (the refusal is
# then only in __cause__).
try:
    from fw_pyo3like import where
except ImportError as e:
    raise RuntimeError('fwjwt cannot load its native part') from e
