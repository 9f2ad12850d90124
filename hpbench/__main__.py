"""``python -m hpbench`` is the ``hpbench`` command."""

from hpbench.cli import main

raise SystemExit(main())
