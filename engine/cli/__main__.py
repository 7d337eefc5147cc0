"""`python -m engine.cli`: the stackbuild command."""

import sys

from engine.cli.launch import main

sys.exit(main())
