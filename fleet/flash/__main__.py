"""``python -m fleet.flash flash|discover ...``."""

import sys

from fleet.flash.cli import main

sys.exit(main())
