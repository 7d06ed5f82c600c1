from xdiag.cli import main

main()
