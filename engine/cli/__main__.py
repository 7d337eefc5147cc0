"""`python -m engine.cli`: the stackbuild command."""

import sys

from engine.cli.main import main

sys.exit(main())
