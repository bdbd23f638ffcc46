from implicit3d.cli import main

raise SystemExit(main())
