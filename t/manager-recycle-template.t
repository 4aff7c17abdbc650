#!/usr/bin/env python3
# t/manager-recycle.t again with every pool spawn: template (issue 18): a recycle
# starts the new generation's template, whose forks replace the old
# workers; the same checks (0 failed) must hold.
import os
import sys

os.environ['FW_TEST_SPAWN'] = 'template'
here = os.path.dirname(os.path.abspath(__file__))
os.execv(sys.executable, [sys.executable, os.path.join(here, 'manager-recycle.t')])
