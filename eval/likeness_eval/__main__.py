from likeness_eval.cli import main

raise SystemExit(main())
