from xdiag.cli.main import main

main()
