from actionlens.cli import main

raise SystemExit(main())
