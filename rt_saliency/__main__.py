"""``python -m rt_saliency`` runs the command-line interface."""

import sys

try:
    from rt_saliency.cli import main
except KeyboardInterrupt:  # Ctrl-C while the interpreter is still loading the package
    print("rt-saliency: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
