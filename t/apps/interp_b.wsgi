# t/interpreters.t: the same routes in two scripts (see interp_mods/);
# --python-path must name t/apps/interp_mods.
from interp_appcore import make_app

application = make_app(__file__)
