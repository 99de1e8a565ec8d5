"""``python -m autolabel.cli``: the ``autolabel`` command."""

import sys

from . import main

sys.exit(main())
