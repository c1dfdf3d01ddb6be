"""``python -m carbon_inclusion``: the ``carbon-inclusion`` command."""

import sys

from carbon_inclusion.cli import main

sys.exit(main())
