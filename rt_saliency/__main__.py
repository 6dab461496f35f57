"""``python -m rt_saliency`` runs the command-line interface."""

import sys

from rt_saliency.cli import main

sys.exit(main())
